fn main() -> std::process::ExitCode {
    onit::cli::main()
}
