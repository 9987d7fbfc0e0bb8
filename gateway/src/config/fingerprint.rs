//! What each part of a config file said, kept as a hash of its YAML after `${VAR}`
//! substitution, so that a reload can tell which sections, inbounds and outbounds changed
//! (a changed secret in the environment counts as a change). Hashes, not the values: the
//! secrets in them never reach `Debug` output.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};

use serde_yaml_ng::Value;

/// Part (`http`, `outbounds.hook`, `inbounds.devices`) → hash of its value. A part the file
/// leaves out has none, so two files that both omit it agree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprints(BTreeMap<String, u64>);

impl Fingerprints {
    pub(super) fn record(&mut self, part: String, value: &Value) {
        // DefaultHasher::new() has fixed keys: equal values hash equally within the process,
        // which is all a reload compares.
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        self.0.insert(part, hasher.finish());
    }

    /// Takes `other`'s print of `part` (for a part whose old value is kept).
    pub fn keep(&mut self, other: &Self, part: &str) {
        match other.0.get(part) {
            Some(print) => self.0.insert(part.to_owned(), *print),
            None => self.0.remove(part),
        };
    }

    /// Whether `part` is the same in both.
    pub fn same(&self, other: &Self, part: &str) -> bool {
        self.0.get(part) == other.0.get(part)
    }
}

#[cfg(test)]
mod tests {
    use super::super::load;

    #[test]
    fn a_change_shows_in_its_own_part_only() {
        let before = "outbounds:\n  a: { type: webhook, url: 'http://127.0.0.1:9/a' }\n  b: { type: webhook, url: 'http://127.0.0.1:9/b' }\nhttp: { body_limit: 1000 }\n";
        let after = "outbounds:\n  a: { type: webhook, url: 'http://127.0.0.1:9/a' }\n  b: { type: webhook, url: 'http://127.0.0.1:9/c' }\nhttp: { body_limit: 1000 }\n";
        let (old, errors) = load(before);
        assert!(errors.is_empty(), "{errors:?}");
        let (new, _) = load(after);
        let (old, new) = (&old.fingerprints, &new.fingerprints);
        assert!(old.same(new, "outbounds.a"));
        assert!(!old.same(new, "outbounds.b"));
        assert!(old.same(new, "http"));
        assert!(old.same(new, "grpc"), "omitted in both");
        assert!(!old.same(&Default::default(), "http"), "omitted in one");
    }
}
