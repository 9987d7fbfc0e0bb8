//! HTTPS and WSS on the HTTP family's listener (rustls, with the aws-lc-rs provider the
//! binary installs at start). The handshake runs in the connection's own task, bounded by a
//! timeout, so a client that opens TLS and sends nothing holds only its own slot, and only
//! for that long; a plaintext request to the TLS port fails its handshake and is closed.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// `http.tls:` (the same keys as every listener's).
pub use switchyard_core::tls::ServerTlsConfig as TlsConfig;

/// A listener's TLS: the acceptor and its handshake bound.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    pub handshake_timeout: Duration,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the certificate and key; the error names the file and what is wrong with it.
    pub fn load(config: &TlsConfig) -> Result<Self, String> {
        let certs = CertificateDer::pem_file_iter(&config.cert_file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("http.tls.cert_file: {}: {e}", config.cert_file.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "http.tls.cert_file: {}: no certificate in it",
                config.cert_file.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&config.key_file)
            .map_err(|e| format!("http.tls.key_file: {}: {e}", config.key_file.display()))?;
        let mut server = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("http.tls: the key does not fit the certificate: {e}"))?;
        // HTTP/1.1 only, as on the plain listener.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            handshake_timeout: Duration::from_millis(config.handshake_timeout_ms.max(1)),
        })
    }
}
