//! Client certificates as principals (`auth.mtls`): the TLS handshake verified the chain
//! against the listener's `tls.client_ca_file`; here the certificate names its principal, by
//! its subject's common name or its first subject alternative name, and `auth.principals`
//! gives it its permissions.

use schemars::JsonSchema;
use serde::Deserialize;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use switchyard_core::auth::Denial;

/// `auth.mtls:` how a client certificate names its principal.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MtlsConfig {
    /// `common_name` (default): the subject's CN; `san`: the first DNS name, URI or e-mail
    /// address of the subject alternative names.
    pub identity: Identity,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    #[default]
    CommonName,
    San,
}

/// The principal id the certificate `der` names.
pub(crate) fn identity(der: &[u8], from: Identity) -> Result<String, Denial> {
    let unreadable = || {
        Denial::new(
            "invalid_certificate",
            "the client certificate does not parse",
        )
    };
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| unreadable())?;
    let found = match from {
        Identity::CommonName => cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned),
        Identity::San => cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .and_then(|san| {
                san.value.general_names.iter().find_map(|name| match name {
                    GeneralName::DNSName(s) | GeneralName::URI(s) | GeneralName::RFC822Name(s) => {
                        Some((*s).to_owned())
                    }
                    _ => None,
                })
            }),
    };
    found
        .filter(|id| !id.is_empty() && !id.chars().any(char::is_control))
        .ok_or_else(|| {
            Denial::new(
                "invalid_certificate",
                "the client certificate names no principal",
            )
        })
}
