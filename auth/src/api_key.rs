//! API keys, kept as SHA-256 hashes and compared in constant time. SHA-256 rather than a
//! slow password hash: the keys are high-entropy random strings, not passwords a dictionary
//! could find, and every request pays for the hash.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use switchyard_core::auth::Denial;

use crate::config::ApiKeyConfig;

/// One configured key.
#[derive(Debug)]
pub struct ApiKey {
    pub name: String,
    hash: [u8; 32],
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

/// Every configured key.
#[derive(Debug, Default)]
pub struct ApiKeys(Vec<ApiKey>);

impl ApiKeys {
    /// Errors name the key under `path` (`auth.api_keys[0].sha256: ...`).
    pub fn load(configs: &[ApiKeyConfig], path: &str) -> Result<Self, Vec<String>> {
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        for (i, cfg) in configs.iter().enumerate() {
            let mut hash = [0u8; 32];
            match hex::decode_to_slice(&cfg.sha256, &mut hash) {
                Ok(()) => keys.push(ApiKey {
                    name: cfg.name.clone(),
                    hash,
                    publish: cfg.publish.clone(),
                    subscribe: cfg.subscribe.clone(),
                }),
                Err(_) => errors.push(format!(
                    "{path}[{i}].sha256: must be 64 hex digits (the SHA-256 of the key)"
                )),
            }
            if cfg.name.is_empty() {
                errors.push(format!("{path}[{i}].name: must not be empty"));
            }
        }
        if errors.is_empty() {
            Ok(Self(keys))
        } else {
            Err(errors)
        }
    }

    /// The key `presented` is, looked at against every key (no early exit on a match, so the
    /// time taken says nothing about which one).
    pub fn find(&self, presented: &str) -> Result<&ApiKey, Denial> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for key in &self.0 {
            if bool::from(key.hash.ct_eq(&hash)) {
                found = Some(key);
            }
        }
        found.ok_or_else(|| Denial::new("invalid_api_key", "the API key is not known"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_by_its_hash_and_one_byte_off_is_not() {
        let key = "k3y-0123456789abcdef0123456789abcdef";
        let config = ApiKeyConfig {
            name: "ingest".into(),
            sha256: hex::encode(Sha256::digest(key.as_bytes())),
            publish: vec![],
            subscribe: vec![],
        };
        let keys = ApiKeys::load(&[config], "auth.api_keys").expect("loads");
        assert_eq!(keys.find(key).expect("found").name, "ingest");
        let off = format!("{}g", &key[..key.len() - 1]);
        assert_eq!(
            keys.find(&off).expect_err("refused").reason,
            "invalid_api_key"
        );
    }
}
