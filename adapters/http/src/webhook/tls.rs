//! The webhook's HTTP and HTTPS client: rustls over hyper, trusting what core's
//! [`ClientTls`] says (the system's CA bundle, or only `tls_ca_file`).

use std::path::Path;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

use switchyard_core::tls::ClientTls;

/// An HTTP and HTTPS connector; the error names what could not be loaded.
pub(super) fn connector(ca_file: Option<&Path>) -> Result<HttpsConnector<HttpConnector>, String> {
    let tls = ClientTls {
        ca_file,
        ..ClientTls::default()
    };
    let config = tls.config()?;
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*config).clone())
        .https_or_http()
        .enable_http1()
        .build())
}
