//! A listener certificate that follows its files: on a handshake, at most once a second, the
//! files' modification times are compared with the loaded pair's; a changed pair that loads
//! (and whose key fits) serves from that handshake on, one that does not is logged and the
//! pair in use kept. Connections already open keep the certificate they shook hands with. Two
//! `stat`s a second at most, and no watcher: a mounted Kubernetes Secret, swapped by symlink,
//! is seen like an edited file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// How often a handshake looks at the files.
const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    key: Arc<CertifiedKey>,
    stamps: Stamps,
    checked: Instant,
}

type Stamps = (Option<SystemTime>, Option<SystemTime>);

impl ReloadingCert {
    /// Loads the pair; errors start with the key at fault (`cert_file: ...`).
    pub fn load(
        cert_file: &Path,
        key_file: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, String> {
        let stamps = stamps(cert_file, key_file);
        let key = certified(cert_file, key_file, &provider)?;
        Ok(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            state: Mutex::new(State {
                key: Arc::new(key),
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= CHECK_EVERY {
            state.checked = Instant::now();
            let now = stamps(&self.cert_file, &self.key_file);
            if now != state.stamps {
                state.stamps = now;
                match certified(&self.cert_file, &self.key_file, &self.provider) {
                    Ok(key) => {
                        tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate reloaded");
                        metrics::counter!("switchyard_tls_cert_reloads_total", "result" => "applied").increment(1);
                        state.key = Arc::new(key);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "TLS certificate files changed but do not load; keeping the current pair");
                        metrics::counter!("switchyard_tls_cert_reloads_total", "result" => "refused").increment(1);
                    }
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn stamps(cert_file: &Path, key_file: &Path) -> Stamps {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(cert_file), modified(key_file))
}

fn certified(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain = super::certificates(cert_file).map_err(|e| format!("cert_file: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("key_file: {}: {e}", key_file.display()))?;
    CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("key_file: does not fit cert_file: {e}"))
}
