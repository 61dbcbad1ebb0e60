//! Prints how onit classifies each message file given (a debugging aid for operators).
fn main() {
    let rt = onit::config::Runtime::load(None).expect("default config");
    for p in std::env::args().skip(1) {
        for m in onit::mailstore::read_import_path(std::path::Path::new(&p)).expect("read") {
            match onit::message::MailView::parse(&m.bytes) {
                Ok(v) => {
                    let (c, sig) = onit::classify::classify(
                        &v,
                        &rt.team,
                        &rt.automated,
                        &rt.monitoring,
                        false,
                        true,
                    );
                    println!(
                        "{}: {:?} {:?} (from {:?}, subject {:?})",
                        m.origin,
                        c,
                        sig,
                        v.from.map(|a| a.to_string()),
                        v.subject
                    );
                }
                Err(e) => println!("{}: {e}", m.origin),
            }
        }
    }
}
