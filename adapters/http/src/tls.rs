//! HTTPS and WSS on the HTTP family's listener (rustls, with the aws-lc-rs provider the
//! binary installs at start). The handshake runs in the connection's own task, bounded by a
//! timeout, so a client that opens TLS and sends nothing holds only its own slot, and only
//! for that long; a plaintext request to the TLS port fails its handshake and is closed.

use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsAcceptor;

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
    /// Loads the certificate and key; the error names the key and what is wrong.
    pub fn load(config: &TlsConfig) -> Result<Self, String> {
        let mut server = config
            .server_config()
            .map_err(|e| format!("http.tls.{e}"))?;
        // HTTP/1.1 only, as on the plain listener.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            handshake_timeout: Duration::from_millis(config.handshake_timeout_ms.max(1)),
        })
    }
}
