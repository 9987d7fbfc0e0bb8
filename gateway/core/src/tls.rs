//! The TLS client side every adapter shares (webhooks, MQTT, and the brokers to come): which
//! servers to trust (the system's CA bundle, or one CA file) and, for mutual TLS, the client
//! certificate. rustls with the aws-lc-rs provider, named here rather than taken from the
//! process default, so that a client built outside the binary needs no global set-up.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig, crypto::aws_lc_rs};

mod reloading;
pub use reloading::ReloadingCert;

/// `tls:` of a listener (`http.tls`, `grpc.tls`): its certificate and key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// The certificate chain (PEM), leaf first.
    pub cert_file: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Time a client has to complete the handshake, in ms. Default 10 000.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_ms: u64,
    /// Ask clients for a certificate signed by a CA in this file (PEM): one that presents
    /// it is identified by it (`auth.mtls`); one that presents none may still connect, and
    /// authenticates otherwise; one with a certificate from another CA fails the handshake.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

fn default_handshake_timeout() -> u64 {
    10_000
}

impl ServerTlsConfig {
    /// The rustls server config, its files read; errors start with the key at fault. The
    /// certificate follows its files ([`ReloadingCert`]).
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let cert = ReloadingCert::load(&self.cert_file, &self.key_file, provider.clone())?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(file) => {
                let roots = ClientTls {
                    ca_file: Some(file),
                    ..ClientTls::default()
                }
                .roots()
                .map_err(|e| e.replace("tls_ca_file", "client_ca_file"))?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .map_err(|e| format!("client_ca_file: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        Ok(builder.with_cert_resolver(Arc::new(cert)))
    }
}

/// Where a client's trust and identity come from (the config's `tls_*_file` keys).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientTls<'a> {
    /// Trust only these CAs (PEM); `None`: the system's CA bundle.
    pub ca_file: Option<&'a Path>,
    /// A client certificate chain (PEM) for mutual TLS, with `key_file`.
    pub cert_file: Option<&'a Path>,
    pub key_file: Option<&'a Path>,
}

impl<'a> ClientTls<'a> {
    pub fn new(
        ca_file: &'a Option<PathBuf>,
        cert_file: &'a Option<PathBuf>,
        key_file: &'a Option<PathBuf>,
    ) -> Self {
        Self {
            ca_file: ca_file.as_deref(),
            cert_file: cert_file.as_deref(),
            key_file: key_file.as_deref(),
        }
    }

    /// Whether any key is set.
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// The rustls client config; errors start with the key at fault (`tls_ca_file: ...`).
    pub fn config(&self) -> Result<Arc<ClientConfig>, String> {
        let builder = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?
            .with_root_certificates(self.roots()?);
        let config = match (self.cert_file, self.key_file) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = certificates(cert).map_err(|e| format!("tls_cert_file: {e}"))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("tls_key_file: {}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("tls_key_file: does not fit tls_cert_file: {e}"))?
            }
            _ => {
                return Err(
                    "tls_cert_file: needs tls_key_file too (and the other way round)".into(),
                );
            }
        };
        Ok(Arc::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        let certs = match self.ca_file {
            Some(file) => certificates(file).map_err(|e| format!("tls_ca_file: {e}"))?,
            None => rustls_native_certs::load_native_certs().certs,
        };
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(match self.ca_file {
                Some(file) => format!("tls_ca_file: {}: no CA certificate in it", file.display()),
                None => "tls: the system has no CA bundle; set tls_ca_file".into(),
            });
        }
        Ok(roots)
    }
}

fn certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", file.display()));
    }
    Ok(certs)
}
