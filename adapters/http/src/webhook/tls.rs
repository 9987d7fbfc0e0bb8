//! The webhook's HTTPS client: rustls over hyper, trusting the system's CA bundle or only the
//! configured `tls_ca_file` (a private CA). Plain `http://` URLs use the same client.

use std::path::Path;
use std::sync::Arc;

use hyper_rustls::{ConfigBuilderExt as _, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::aws_lc_rs};

/// An HTTP and HTTPS connector; the error names what could not be loaded.
pub(super) fn connector(ca_file: Option<&Path>) -> Result<HttpsConnector<HttpConnector>, String> {
    // The provider named here rather than taken from the process default, so a webhook
    // built outside the binary (tests, the bench) needs no global set-up.
    let builder = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let config = match ca_file {
        None => builder
            .with_native_roots()
            .map_err(|e| format!("tls: the system CA bundle: {e}"))?
            .with_no_client_auth(),
        Some(file) => {
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("tls_ca_file: {}: {e}", file.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "tls_ca_file: {}: no CA certificate in it",
                    file.display()
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build())
}
