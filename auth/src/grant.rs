//! A principal's permissions: its token's claims or its key's lists, plus what
//! `auth.principals` gives its id, with `{sub}` replaced by that id.

use serde_json::Value;

use switchyard_core::topic::TopicFilter;

/// Parses `patterns` for the principal `id`. A pattern naming `{sub}` is dropped when the id
/// could change the pattern's shape (a `/`, `+`, `#` or nothing), so an id cannot widen its
/// own permissions; patterns that do not parse are dropped too (and logged).
pub fn patterns<'a>(id: &str, patterns: impl IntoIterator<Item = &'a str>) -> Vec<TopicFilter> {
    let safe_id = !id.is_empty() && !id.contains(['/', '+', '#']);
    patterns
        .into_iter()
        .filter(|p| safe_id || !p.contains("{sub}"))
        .filter_map(|p| {
            let text = p.replace("{sub}", id);
            TopicFilter::parse(&text)
                .inspect_err(
                    |e| tracing::debug!(principal = id, pattern = p, error = %e, "pattern dropped"),
                )
                .ok()
        })
        .collect()
}

/// A claim's patterns: a list of strings, or one string of space-separated patterns.
pub fn claim(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => s.split_whitespace().collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_is_substituted_only_when_it_cannot_widen_the_pattern() {
        let texts =
            |fs: Vec<TopicFilter>| fs.iter().map(|f| f.as_str().to_owned()).collect::<Vec<_>>();
        assert_eq!(
            texts(patterns("alice", ["chat/{sub}/#", "public/#"])),
            ["chat/alice/#", "public/#"]
        );
        assert_eq!(
            texts(patterns("#", ["chat/{sub}/#", "public/#"])),
            ["public/#"]
        );
        assert_eq!(texts(patterns("a/b", ["chat/{sub}"])), Vec::<String>::new());
        assert_eq!(texts(patterns("x", ["bad/#/x"])), Vec::<String>::new());
    }
}
