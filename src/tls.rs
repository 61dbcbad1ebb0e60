//! One TLS stack: rustls with the ring provider, set explicitly on every
//! client config (two installed providers make rustls panic at run time, and a
//! process-wide default would depend on which crate initialised first).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// A client configuration trusting `ca_file` (PEM, one or more certificates)
/// or, without one, the system's roots.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("reading CA file {}", path.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("parsing CA file {}", path.display()))?;
            anyhow::ensure!(
                !certs.is_empty(),
                "CA file {} holds no certificate",
                path.display()
            );
            for c in certs {
                roots
                    .add(c)
                    .with_context(|| format!("adding a certificate from {}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                // A broken system certificate must not stop the others from being trusted.
                let _ = roots.add(c);
            }
            anyhow::ensure!(
                !roots.is_empty(),
                "no system CA certificates found; set a ca_file"
            );
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
