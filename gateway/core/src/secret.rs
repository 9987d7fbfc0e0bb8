//! A configuration value that must never reach logs, metrics or `Debug` output: passwords,
//! broker URLs with credentials, webhook header values such as `Authorization`.

use schemars::JsonSchema;
use serde::Deserialize;

/// A string read from configuration whose `Debug` is redacted; [`Secret::expose`] is the one
/// way to read it, at the place that hands it to a protocol. Deliberately not `Serialize`:
/// nothing can write its value out, and so the configuration's JSON Schema carries no
/// default for it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(
    description = "A secret (password, token, URL with credentials): never logged. Write `${NAME}` to take it from the environment instead of keeping it in the file.",
    extend("writeOnly" = true)
)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"«redacted»\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret: Secret = serde_json::from_str("\"amqp://guest:hunter2@host\"").expect("string");
        assert_eq!(secret.expose(), "amqp://guest:hunter2@host");
        let shown = format!("{secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
