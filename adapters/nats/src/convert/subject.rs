//! Topics and subjects: topic `a/b/c` is subject `a.b.c`, with the wildcards `+` ⇄ `*` and
//! `#` ⇄ `>`. A topic level that a subject cannot hold (`.`, whitespace, `*`, `>`) is refused,
//! naming the level, rather than silently changing which messages match.

/// Why a topic cannot be a subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("topic level `{level}` cannot be a NATS subject token: {reason}")]
pub struct SubjectError {
    pub level: String,
    pub reason: &'static str,
}

/// The subject for a topic name (no wildcards) or a topic filter (`wildcards`).
pub fn subject_of(topic: &str, wildcards: bool) -> Result<String, SubjectError> {
    let mut tokens = Vec::new();
    for level in topic.split('/') {
        let token = match level {
            "+" if wildcards => "*",
            "#" if wildcards => ">",
            "+" | "#" => {
                return Err(SubjectError {
                    level: level.to_owned(),
                    reason: "wildcards cannot be published to",
                });
            }
            _ => {
                check_level(level)?;
                level
            }
        };
        tokens.push(token);
    }
    Ok(tokens.join("."))
}

fn check_level(level: &str) -> Result<(), SubjectError> {
    let refuse = |reason| {
        Err(SubjectError {
            level: level.to_owned(),
            reason,
        })
    };
    if level.is_empty() {
        return refuse("empty levels are not allowed");
    }
    if level.contains('.') {
        return refuse("`.` separates subject tokens");
    }
    if level.chars().any(char::is_whitespace) {
        return refuse("subjects cannot hold whitespace");
    }
    if level.contains(['*', '>']) {
        return refuse("`*` and `>` are subject wildcards");
    }
    Ok(())
}

/// The topic of a received subject (`a.b.c` → `a/b/c`).
pub fn topic_of(subject: &str) -> String {
    subject.replace('.', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_become_tokens_and_wildcards_translate() {
        assert_eq!(subject_of("a/b/c", false).as_deref(), Ok("a.b.c"));
        assert_eq!(subject_of("a/+/#", true).as_deref(), Ok("a.*.>"));
        assert_eq!(topic_of("orders.eu.created"), "orders/eu/created");
    }

    #[test]
    fn levels_a_subject_cannot_hold_are_refused_by_name() {
        for (topic, level) in [
            ("a/b.c", "b.c"),
            ("a/b c", "b c"),
            ("x/*", "*"),
            ("x/a>", "a>"),
        ] {
            let error = subject_of(topic, false).expect_err(topic);
            assert_eq!(error.level, level, "{topic}");
        }
        assert!(
            subject_of("a/+", false).is_err(),
            "no wildcards in a topic name"
        );
    }
}
