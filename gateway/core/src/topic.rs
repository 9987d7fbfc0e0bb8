//! Topic names and topic filters: slash-separated levels, with MQTT's `+` (one level) and `#`
//! (this level and all below, last only) wildcards in filters.

use std::fmt;

/// Longest topic name or filter accepted, in bytes (MQTT allows 65 535; HTTP paths and routing
/// keys want less, and nothing useful needs more).
pub const MAX_TOPIC_LEN: usize = 1024;

/// Why a topic name or filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid topic `{topic}`: {reason}")]
pub struct TopicError {
    pub topic: String,
    pub reason: &'static str,
}

/// Checks a topic name that something is published to: no wildcards, no empty level, no `$`
/// prefix (reserved for system topics), no control characters.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    check_common(topic)?;
    if topic.starts_with('$') {
        return Err(err(topic, "topics starting with `$` are reserved"));
    }
    for level in topic.split('/') {
        if level.is_empty() {
            return Err(err(topic, "empty level"));
        }
        if level.contains(['+', '#']) {
            return Err(err(
                topic,
                "wildcards `+` and `#` are not allowed in a topic name",
            ));
        }
    }
    Ok(())
}

fn check_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(err(topic, "empty"));
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(err(topic, "longer than 1024 bytes"));
    }
    if topic.chars().any(char::is_control) {
        return Err(err(topic, "control characters are not allowed"));
    }
    Ok(())
}

fn err(topic: &str, reason: &'static str) -> TopicError {
    let mut shown = topic.to_owned();
    if shown.len() > 80 {
        let mut cut = 80;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push('…');
    }
    TopicError {
        topic: shown,
        reason,
    }
}

/// A parsed topic filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicFilter {
    text: String,
    levels: Vec<Level>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Level {
    Exact(String),
    /// `+`
    One,
    /// `#`
    Rest,
}

impl TopicFilter {
    /// Parses a filter; `+` and `#` must fill a whole level and `#` must be last.
    pub fn parse(text: &str) -> Result<Self, TopicError> {
        check_common(text)?;
        let parts: Vec<&str> = text.split('/').collect();
        let mut levels = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let level = match *part {
                "+" => Level::One,
                "#" if i + 1 == parts.len() => Level::Rest,
                "#" => return Err(err(text, "`#` must be the last level")),
                "" => return Err(err(text, "empty level")),
                p if p.contains(['+', '#']) => {
                    return Err(err(text, "`+` and `#` must fill a whole level"));
                }
                p => Level::Exact(p.to_owned()),
            };
            levels.push(level);
        }
        Ok(Self {
            text: text.to_owned(),
            levels,
        })
    }

    /// The filter as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the filter has no wildcard, i.e. names exactly one topic.
    pub fn is_exact(&self) -> bool {
        self.levels.iter().all(|l| matches!(l, Level::Exact(_)))
    }

    /// Whether every topic `other` matches, this filter matches too: `sensors/#` contains
    /// `sensors/dev-1/+`, but `sensors/+` does not contain `sensors/#`, and nothing but `#`
    /// contains `#`. What a subscription is checked against.
    pub fn contains(&self, other: &TopicFilter) -> bool {
        let mut theirs = other.levels.iter();
        for mine in &self.levels {
            match (mine, theirs.next()) {
                (Level::Rest, _) => return true,
                // `other` ended (or ends in `#`, which also reaches deeper): only `#` covers it.
                (_, None | Some(Level::Rest)) => return false,
                (Level::One, Some(_)) => {}
                (Level::Exact(want), Some(Level::Exact(got))) if want == got => {}
                (Level::Exact(_), Some(_)) => return false,
            }
        }
        theirs.next().is_none()
    }

    /// Whether `topic` (a valid topic name) matches this filter.
    pub fn matches(&self, topic: &str) -> bool {
        let mut parts = topic.split('/');
        for level in &self.levels {
            match level {
                Level::Rest => return true,
                Level::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Level::Exact(want) => match parts.next() {
                    Some(got) if got == want => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(filter: &str, topic: &str) -> bool {
        TopicFilter::parse(filter)
            .expect("valid filter")
            .matches(topic)
    }

    #[test]
    fn wildcards_match_like_mqtt() {
        assert!(m("a/b", "a/b"));
        assert!(!m("a/b", "a/b/c"));
        assert!(m("a/+", "a/b"));
        assert!(!m("a/+", "a"));
        assert!(!m("a/+", "a/b/c"));
        assert!(m("a/#", "a"));
        assert!(m("a/#", "a/b/c"));
        assert!(m("#", "x/y"));
        assert!(m("+/+/t", "s/d/t"));
        assert!(!m("+/+/t", "s/d/u"));
    }

    fn contains(outer: &str, inner: &str) -> bool {
        let parse = |f: &str| TopicFilter::parse(f).expect("valid filter");
        parse(outer).contains(&parse(inner))
    }

    #[test]
    fn containment_is_of_every_topic_a_filter_reaches() {
        for inner in [
            "sensors/dev-1/#",
            "sensors/dev-1",
            "sensors/dev-1/t",
            "sensors/dev-1/+/x",
        ] {
            assert!(contains("sensors/dev-1/#", inner), "{inner}");
        }
        for inner in [
            "#",
            "+/#",
            "sensors/+",
            "sensors/#",
            "sensors/+/t",
            "+/dev-1/t",
        ] {
            assert!(!contains("sensors/dev-1/#", inner), "{inner}");
        }
        assert!(contains("#", "#"));
        assert!(contains("a/+", "a/b"));
        assert!(contains("a/+", "a/+"));
        assert!(!contains("a/+", "a/b/c"));
        assert!(!contains("a/+", "a/#"));
        assert!(!contains("a/b", "a/b/c"));
        assert!(!contains("a/b/c", "a/b"));
        assert!(contains("a/b", "a/b"));
    }

    #[test]
    fn bad_filters_are_refused() {
        for bad in ["", "a//b", "a/#/b", "a/b#", "a+/b", "/"] {
            assert!(
                TopicFilter::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn topic_names_refuse_wildcards_empty_levels_and_dollar() {
        for bad in ["", "a/+", "a/#", "a//b", "/a", "a/", "$SYS/x", "a\nb"] {
            assert!(
                validate_topic_name(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        validate_topic_name("sensors/dev-1/temperature").expect("valid");
    }
}
