//! One TLS stack: rustls with the ring provider, set explicitly on every
//! client config (two installed providers make rustls panic at run time, and a
//! process-wide default would depend on which crate initialised first).
//!
//! Mail servers are trusted three ways:
//! * the system's roots, or the CA certificates of a `ca_file` (a private CA);
//! * a certificate in `ca_file` that *is* the server's own certificate (a
//!   self-signed server; `openssl req -x509` makes it a CA as well, which the
//!   path check refuses as an end-entity certificate): accepted when the server
//!   presents exactly it;
//! * `tls_fingerprint`, the SHA-256 of the server's certificate: then that
//!   certificate and no other is accepted, whoever signed it, whatever names it
//!   holds (pinning one certificate is stricter than any CA).
//!
//! In every case the handshake's signatures are verified with the
//! certificate's key, so a pinned certificate still proves the server holds
//! its private key. The verifier records the fingerprint it saw
//! ([`SeenCertificate`]), so `onit doctor` can print it even when it refuses it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// The SHA-256 of a certificate (DER), as `openssl x509 -fingerprint -sha256` prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// `AB:CD:…` (any case), or 64 hex digits without colons, optionally after
    /// `sha256:` or `SHA256 Fingerprint=` (openssl's own output line).
    pub fn parse(text: &str) -> Result<Fingerprint, String> {
        let t = text.trim();
        let t = t
            .rsplit_once('=')
            .map(|(_, v)| v)
            .or_else(|| t.strip_prefix("sha256:"))
            .unwrap_or(t);
        let hex: String = t.chars().filter(|c| *c != ':' && *c != ' ').collect();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "`{}` is not a SHA-256 fingerprint (64 hex digits, colons allowed)",
                text.trim()
            ));
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| format!("`{}` is not hexadecimal", text.trim()))?;
        }
        Ok(Fingerprint(out))
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The fingerprint of the certificate a server presented, once it has.
#[derive(Debug, Clone, Default)]
pub struct SeenCertificate(Arc<Mutex<Option<Fingerprint>>>);

impl SeenCertificate {
    /// The last certificate seen, if a handshake got that far.
    pub fn get(&self) -> Option<Fingerprint> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, f: Fingerprint) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }
}

/// How a server's certificate is trusted (see the module's doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct Trust<'a> {
    pub ca_file: Option<&'a Path>,
    pub pin: Option<Fingerprint>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading CA file {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing CA file {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "CA file {} holds no certificate",
        path.display()
    );
    Ok(certs)
}

fn roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for c in read_pem(path)? {
                // A server's own (end-entity) certificate may not make an anchor;
                // it is still accepted as itself (`Verifier::exact`).
                let _ = roots.add(c);
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
    Ok(roots)
}

/// A client configuration trusting `ca_file` (PEM, one or more certificates)
/// or, without one, the system's roots.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots(ca_file)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client configuration for a mail server: `trust` (CA file, the server's
/// own certificate, or a pinned fingerprint), recording what it saw in `seen`.
pub fn server_config(
    trust: Trust<'_>,
    seen: &SeenCertificate,
) -> Result<Arc<rustls::ClientConfig>> {
    let provider = provider();
    let (webpki, exact) = match trust.pin {
        Some(_) => (None, Vec::new()),
        None => {
            let exact = match trust.ca_file {
                Some(p) => read_pem(p)?.iter().map(|c| Fingerprint::of(c)).collect(),
                None => Vec::new(),
            };
            let roots = roots(trust.ca_file)?;
            let webpki = if roots.is_empty() {
                None
            } else {
                Some(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .context("TLS certificate verifier")?,
                )
            };
            (webpki, exact)
        }
    };
    let verifier = Verifier {
        webpki,
        pin: trust.pin,
        exact,
        seen: seen.clone(),
        provider: provider.clone(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    pin: Option<Fingerprint>,
    exact: Vec<Fingerprint>,
    seen: SeenCertificate,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = Fingerprint::of(end_entity);
        self.seen.set(fp);
        if let Some(pin) = self.pin {
            return if fp == pin {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::General(format!(
                    "the server's certificate (SHA-256 {fp}) is not the pinned tls_fingerprint {pin}"
                )))
            };
        }
        if self.exact.contains(&fp) {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(w) => {
                w.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_every_usual_spelling() {
        let colons = "AB:".repeat(31) + "CD";
        let f = Fingerprint::parse(&colons).unwrap();
        assert_eq!(f.to_string(), colons);
        assert_eq!(Fingerprint::parse(&colons.to_lowercase()).unwrap(), f);
        assert_eq!(Fingerprint::parse(&colons.replace(':', "")).unwrap(), f);
        assert_eq!(
            Fingerprint::parse(&format!("sha256 Fingerprint={colons}")).unwrap(),
            f
        );
        assert_eq!(Fingerprint::parse(&format!("sha256:{colons}")).unwrap(), f);
        assert!(Fingerprint::parse("AB:CD").is_err());
        assert!(Fingerprint::parse(&"ZZ".repeat(32)).is_err());
    }

    #[test]
    fn a_fingerprint_is_the_sha256_of_the_der() {
        assert_eq!(
            Fingerprint::of(b"").to_string(),
            "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
        );
    }
}
