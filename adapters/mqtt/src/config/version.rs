//! The MQTT protocol version setting. Written by hand rather than derived because YAML reads
//! `version: 5` as a number and `version: 3.1.1` as a string, and both must work.

use std::fmt;

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

impl MqttVersion {
    fn from_text(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "5" | "5.0" | "v5" | "v5.0" | "mqtt5" => Some(Self::V5),
            "3.1.1" | "v3.1.1" | "v311" | "311" | "mqtt311" => Some(Self::V311),
            _ => None,
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
}
