//! CloudEvents JSON codec cost: `switchyard_core`'s `decode_event` + `encode_event` (into a
//! reused buffer) against plain serde_json doing the same round trip on the same bytes: parsed
//! to a `serde_json::Value`, or borrowed (`BTreeMap<&str, &RawValue>`), then written with
//! `to_writer`. Variants run interleaved in several rounds; each figure is the median round.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use switchyard_core::cloudevent::json::{decode_event, encode_event, to_vec};
use switchyard_core::cloudevent::{CloudEvent, Data, ExtensionValue};

/// Rounds each variant's iterations are split into.
const ROUNDS: usize = 5;

/// One measured variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// decode_event + encode_event: the gateway's per-event work.
    CeRoundTrip,
    CeDecode,
    CeEncode,
    /// `serde_json::Value` parse + `to_writer`.
    ValueRoundTrip,
    /// `BTreeMap<&str, &RawValue>` parse + `to_writer`.
    BorrowedRoundTrip,
    /// `IgnoredAny` parse: validation only.
    IgnoredParse,
}

impl Variant {
    pub const ALL: [Self; 6] = [
        Self::CeRoundTrip,
        Self::CeDecode,
        Self::CeEncode,
        Self::ValueRoundTrip,
        Self::BorrowedRoundTrip,
        Self::IgnoredParse,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::CeRoundTrip => "switchyard decode+encode",
            Self::CeDecode => "  of which decode_event",
            Self::CeEncode => "  of which encode_event",
            Self::ValueRoundTrip => "serde_json Value parse+write",
            Self::BorrowedRoundTrip => "serde_json borrowed parse+write",
            Self::IgnoredParse => "serde_json IgnoredAny parse",
        }
    }
}

/// The figures for one event.
#[derive(Debug, Clone)]
pub struct CodecResult {
    pub name: &'static str,
    pub bytes: usize,
    pub iterations: usize,
    /// Median ns per event, in [`Variant::ALL`] order.
    pub ns: Vec<f64>,
}

impl CodecResult {
    pub fn ns_of(&self, variant: Variant) -> f64 {
        Variant::ALL
            .iter()
            .position(|&v| v == variant)
            .and_then(|i| self.ns.get(i).copied())
            .unwrap_or(f64::NAN)
    }

    /// Gateway round trip over the `Value` round trip.
    pub fn ratio_value(&self) -> f64 {
        self.ns_of(Variant::CeRoundTrip) / self.ns_of(Variant::ValueRoundTrip)
    }

    /// Gateway round trip over the borrowed round trip (the floor in the plan's G7).
    pub fn ratio_borrowed(&self) -> f64 {
        self.ns_of(Variant::CeRoundTrip) / self.ns_of(Variant::BorrowedRoundTrip)
    }
}

/// Measures every sample event with `iterations` per variant.
pub fn run(iterations: usize) -> Result<Vec<CodecResult>> {
    samples()
        .into_iter()
        .map(|(name, bytes)| measure(name, &bytes, iterations))
        .collect()
}

fn measure(name: &'static str, input: &Bytes, iterations: usize) -> Result<CodecResult> {
    let event = decode_event(input).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    // Every variant must work on this input before it is timed.
    serde_json::from_slice::<BTreeMap<&str, &RawValue>>(input)
        .with_context(|| format!("{name}: borrowed parse"))?;
    let per_round = iterations.div_ceil(ROUNDS).max(1);
    let mut rounds: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); Variant::ALL.len()];
    let mut out = Vec::with_capacity(input.len() * 2);
    for _ in 0..ROUNDS {
        for (i, &variant) in Variant::ALL.iter().enumerate() {
            let started = Instant::now();
            for _ in 0..per_round {
                once(variant, black_box(input), &event, &mut out);
                black_box(&out);
            }
            rounds[i].push(started.elapsed().as_nanos() as f64 / per_round as f64);
        }
    }
    let ns = rounds.into_iter().map(median).collect();
    Ok(CodecResult {
        name,
        bytes: input.len(),
        iterations: per_round * ROUNDS,
        ns,
    })
}

/// One operation of `variant`. Inputs were checked beforehand, so errors cannot happen; they
/// are ignored rather than unwrapped to keep the timed loop free of panics paths.
fn once(variant: Variant, input: &Bytes, event: &CloudEvent, out: &mut Vec<u8>) {
    out.clear();
    match variant {
        Variant::CeRoundTrip => {
            if let Ok(ev) = decode_event(input) {
                encode_event(&ev, out);
            }
        }
        Variant::CeDecode => {
            let _ = black_box(decode_event(input));
        }
        Variant::CeEncode => encode_event(event, out),
        Variant::ValueRoundTrip => {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(input) {
                let _ = serde_json::to_writer(&mut *out, &v);
            }
        }
        Variant::BorrowedRoundTrip => {
            if let Ok(v) = serde_json::from_slice::<BTreeMap<&str, &RawValue>>(input) {
                let _ = serde_json::to_writer(&mut *out, &v);
            }
        }
        Variant::IgnoredParse => {
            let _ = black_box(serde_json::from_slice::<IgnoredAny>(input));
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The three sample events, in the JSON format as the gateway itself writes them.
fn samples() -> Vec<(&'static str, Bytes)> {
    let mut small = base_event("evt-000042");
    small.time = Some("2026-06-01T12:34:56.789Z".into());
    small.datacontenttype = Some("application/json".into());
    small.extensions.insert(
        "traceparent".into(),
        ExtensionValue::String("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    );
    small
        .extensions
        .insert("tenant".into(), ExtensionValue::String("acme".into()));
    small
        .extensions
        .insert("priority".into(), ExtensionValue::Integer(3));
    small.data = Some(Data::Json(Bytes::from_static(
        br#"{"celsius":21.5,"ok":true,"tags":["hvac"]}"#,
    )));

    let mut large = base_event("0b6f1c52-93d4-4c4e-8f0e-6f0a9d2c7e11");
    large.datacontenttype = Some("application/json".into());
    let mut readings = String::from(r#"{"readings":["#);
    let mut i = 0;
    while readings.len() < 4000 {
        if i > 0 {
            readings.push(',');
        }
        readings.push_str(&format!(
            r#"{{"i":{i},"v":{}.{:02},"unit":"C","ok":true}}"#,
            20 + i % 7,
            i % 100
        ));
        i += 1;
    }
    readings.push_str("]}");
    large.data = Some(Data::Json(Bytes::from(readings)));

    let mut binary = base_event("5d2c8a40-7e3b-4f1a-b6c9-0e8d7f6a5b4c");
    binary.datacontenttype = Some("application/octet-stream".into());
    let payload: Vec<u8> = (0..3072u32).map(|i| (i * 31 % 251) as u8).collect();
    binary.data = Some(Data::Binary(Bytes::from(payload)));

    vec![
        ("small JSON", Bytes::from(to_vec(&small))),
        ("4 KiB JSON data", Bytes::from(to_vec(&large))),
        ("3 KiB data_base64", Bytes::from(to_vec(&binary))),
    ]
}

fn base_event(id: &str) -> CloudEvent {
    CloudEvent::new(
        id,
        "/sensors/building-7/floor-3",
        "com.example.sensor.reading",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_have_the_intended_sizes_and_decode() {
        let samples = samples();
        let sizes: Vec<usize> = samples.iter().map(|(_, b)| b.len()).collect();
        assert!((250..400).contains(&sizes[0]), "small is {} B", sizes[0]);
        assert!(sizes[1] > 4000, "large is {} B", sizes[1]);
        assert!(sizes[2] > 4000, "base64 is {} B", sizes[2]);
        for (name, bytes) in &samples {
            assert!(decode_event(bytes).is_ok(), "{name} decodes");
        }
    }

    #[test]
    fn a_short_run_produces_finite_ratios() {
        let results = run(50).expect("codec run");
        assert_eq!(results.len(), 3);
        assert!(results.iter().all(|r| r.ratio_value().is_finite()));
    }
}
