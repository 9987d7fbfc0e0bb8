//! Collecting what is wrong with one section of the config: every problem at once, each
//! naming its key (`inbounds.devices.qos: must be 0 or 1`), so a bad config is fixed in one
//! pass. Every adapter's `validate` reports through this.

use std::fmt;

/// The problems found in the section at `path` (`""`: keys relative to the section).
#[derive(Debug)]
pub struct Errors<'a> {
    path: &'a str,
    list: Vec<String>,
}

impl<'a> Errors<'a> {
    pub fn new(path: &'a str) -> Self {
        Self {
            path,
            list: Vec::new(),
        }
    }

    /// The full name of `key`: `path.key`, or `key` at the top.
    pub fn key(&self, key: &str) -> String {
        match self.path {
            "" => key.to_owned(),
            path => format!("{path}.{key}"),
        }
    }

    /// Records that `key` is wrong, and why.
    pub fn push(&mut self, key: &str, reason: impl fmt::Display) {
        let key = self.key(key);
        self.list.push(format!("{key}: {reason}"));
    }

    /// Records `result`'s error, if any, against `key`.
    pub fn check<E: fmt::Display>(&mut self, key: &str, result: Result<(), E>) {
        if let Err(reason) = result {
            self.push(key, reason);
        }
    }

    /// Adds errors that already name their keys.
    pub fn extend(&mut self, errors: impl IntoIterator<Item = String>) {
        self.list.extend(errors);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn into_vec(self) -> Vec<String> {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::Errors;

    #[test]
    fn every_error_names_its_key() {
        let mut errors = Errors::new("inbounds.devices");
        errors.push("qos", "must be 0 or 1");
        errors.check("url", Err::<(), _>("not a URL"));
        errors.check("inflight", Ok::<(), String>(()));
        errors.extend([format!(
            "{}: must be at least 1",
            errors.key("retry.attempts")
        )]);
        assert_eq!(
            errors.into_vec(),
            [
                "inbounds.devices.qos: must be 0 or 1",
                "inbounds.devices.url: not a URL",
                "inbounds.devices.retry.attempts: must be at least 1"
            ]
        );
        let mut relative = Errors::new("");
        relative.push("queue", "must not be empty");
        assert_eq!(relative.into_vec(), ["queue: must not be empty"]);
    }
}
