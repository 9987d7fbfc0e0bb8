//! The MQTT protocol version setting. Written by hand rather than derived because YAML reads
//! `version: 5` as a number and `version: 3.1.1` as a string, and both must work; so is its
//! JSON Schema, which says the same from the same lists of names.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The MQTT protocol version spoken to the broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MqttVersion {
    /// MQTT 5.0: message properties, so CloudEvents binary mode, Receive Maximum, session
    /// expiry and reason codes.
    #[default]
    V5,
    /// MQTT 3.1.1: structured mode only.
    V311,
}

/// The names accepted for each version, in lower case; any case is taken, surrounding
/// whitespace trimmed.
const V5_NAMES: [&str; 5] = ["5", "5.0", "v5", "v5.0", "mqtt5"];
const V311_NAMES: [&str; 5] = ["3.1.1", "v3.1.1", "v311", "311", "mqtt311"];
/// The numbers `visit_u64` takes (YAML `version: 5`, `version: 311`); `5.0`, a float, is
/// equal to 5 in JSON Schema too.
const NUMBERS: [u64; 2] = [5, 311];

impl MqttVersion {
    fn from_text(text: &str) -> Option<Self> {
        let name = text.trim().to_ascii_lowercase();
        if V5_NAMES.contains(&name.as_str()) {
            Some(Self::V5)
        } else if V311_NAMES.contains(&name.as_str()) {
            Some(Self::V311)
        } else {
            None
        }
    }
}

impl fmt::Display for MqttVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V5 => "5",
            Self::V311 => "3.1.1",
        })
    }
}

const EXPECTED: &str = "an MQTT version: `5` or `3.1.1` (also `v5`, `v311`)";

impl<'de> Deserialize<'de> for MqttVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(VersionVisitor)
    }
}

struct VersionVisitor;

impl Visitor<'_> for VersionVisitor {
    type Value = MqttVersion;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<MqttVersion, E> {
        MqttVersion::from_text(text)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<MqttVersion, E> {
        match number {
            5 => Ok(MqttVersion::V5),
            311 => Ok(MqttVersion::V311),
            _ => Err(E::invalid_value(de::Unexpected::Unsigned(number), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<MqttVersion, E> {
        match u64::try_from(number) {
            Ok(number) => self.visit_u64(number),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(number), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<MqttVersion, E> {
        // `version: 5.0` in YAML.
        if number == 5.0 {
            Ok(MqttVersion::V5)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(number), &self))
        }
    }
}

/// What the visitor above takes: one of [`NUMBERS`], or a string naming a version in any case,
/// with whitespace around it. (JSON Schema cannot tell `311.0` from `311`; serde refuses the
/// former, the schema lets it through.)
impl JsonSchema for MqttVersion {
    fn schema_name() -> Cow<'static, str> {
        "MqttVersion".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": EXPECTED,
            "anyOf": [
                { "enum": NUMBERS },
                { "type": "string", "pattern": names_pattern() },
            ],
            "examples": ["5", "3.1.1"],
        })
    }
}

/// A pattern matching the names of both versions, case-insensitively (with character
/// classes: JSON Schema's regular expressions have no flags), trimmed.
fn names_pattern() -> String {
    let alternatives: Vec<String> = V5_NAMES
        .iter()
        .chain(&V311_NAMES)
        .map(|name| {
            name.chars()
                .map(|c| match c {
                    '.' => r"\.".to_owned(),
                    c if c.is_ascii_alphabetic() => {
                        format!("[{c}{}]", c.to_ascii_uppercase())
                    }
                    c => c.to_string(),
                })
                .collect()
        })
        .collect();
    format!(r"^\s*({})\s*$", alternatives.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<MqttVersion, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn accepts_numbers_and_names() {
        for five in ["5", "5.0", "\"5\"", "\"v5\"", "\"V5\""] {
            assert_eq!(parse(five).expect(five), MqttVersion::V5);
        }
        for three in ["\"3.1.1\"", "\"v311\"", "311"] {
            assert_eq!(parse(three).expect(three), MqttVersion::V311);
        }
        for bad in ["4", "\"3.1\"", "true", "-5"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_schema_pattern_spells_every_name_in_any_case() {
        let pattern = names_pattern();
        assert!(pattern.starts_with(r"^\s*(5|5\.0|[vV]5|"), "{pattern}");
        assert!(pattern.contains(r"|[mM][qQ][tT][tT]311)"), "{pattern}");
        for name in V5_NAMES.iter().chain(&V311_NAMES) {
            assert!(
                parse(&format!("\" {} \"", name.to_uppercase())).is_ok(),
                "{name}"
            );
        }
        for number in NUMBERS {
            assert!(parse(&number.to_string()).is_ok(), "{number}");
        }
    }
}
