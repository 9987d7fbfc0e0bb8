//! Attribute filters, compiled from [`FilterConfig`] and evaluated per event.

use switchyard_core::cloudevent::{CloudEvent, validate_attribute_name};

use crate::config::FilterConfig;

/// A compiled attribute filter. A missing attribute never matches `exact`/`prefix`/`suffix`.
#[derive(Debug, Clone)]
pub enum Filter {
    Exact(Vec<(String, String)>),
    Prefix(Vec<(String, String)>),
    Suffix(Vec<(String, String)>),
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    /// Compiles `config`, appending a message to `errors` for each problem (under `path`).
    pub fn compile(config: &FilterConfig, path: &str, errors: &mut Vec<String>) -> Filter {
        let pairs = |map: &std::collections::BTreeMap<String, String>,
                     dialect: &str,
                     errors: &mut Vec<String>| {
            if map.is_empty() {
                errors.push(format!(
                    "{path}.{dialect}: must name at least one attribute"
                ));
            }
            for (name, value) in map {
                if let Err(e) = validate_attribute_name(name) {
                    errors.push(format!("{path}.{dialect}.{name}: {e}"));
                }
                if value.is_empty() {
                    errors.push(format!("{path}.{dialect}.{name}: value must not be empty"));
                }
            }
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let nested = |list: &[FilterConfig], dialect: &str, errors: &mut Vec<String>| {
            if list.is_empty() {
                errors.push(format!("{path}.{dialect}: must hold at least one filter"));
            }
            list.iter()
                .enumerate()
                .map(|(i, f)| Filter::compile(f, &format!("{path}.{dialect}[{i}]"), errors))
                .collect()
        };
        match config {
            FilterConfig::Exact(m) => Filter::Exact(pairs(m, "exact", errors)),
            FilterConfig::Prefix(m) => Filter::Prefix(pairs(m, "prefix", errors)),
            FilterConfig::Suffix(m) => Filter::Suffix(pairs(m, "suffix", errors)),
            FilterConfig::All(l) => Filter::All(nested(l, "all", errors)),
            FilterConfig::Any(l) => Filter::Any(nested(l, "any", errors)),
            FilterConfig::Not(f) => {
                Filter::Not(Box::new(Filter::compile(f, &format!("{path}.not"), errors)))
            }
        }
    }

    pub fn matches(&self, event: &CloudEvent) -> bool {
        let each = |pairs: &[(String, String)], test: fn(&str, &str) -> bool| {
            pairs
                .iter()
                .all(|(name, want)| event.attribute(name).is_some_and(|got| test(&got, want)))
        };
        match self {
            Filter::Exact(p) => each(p, |got, want| got == want),
            Filter::Prefix(p) => each(p, |got, want| got.starts_with(want)),
            Filter::Suffix(p) => each(p, |got, want| got.ends_with(want)),
            Filter::All(list) => list.iter().all(|f| f.matches(event)),
            Filter::Any(list) => list.iter().any(|f| f.matches(event)),
            Filter::Not(f) => !f.matches(event),
        }
    }
}
