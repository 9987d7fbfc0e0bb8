//! "Did you mean": the known name closest to a mistyped one, for unknown sections and keys.
//! serde names the unknown field and lists the expected ones; this picks the likely one.

/// Appends ` (did you mean `x`?)` to a serde "unknown field" or "unknown variant" message
/// when one of the names it lists is close to the one it refused.
pub(super) fn with_suggestion(message: String) -> String {
    let Some(rest) = message
        .split_once("unknown field `")
        .or_else(|| message.split_once("unknown variant `"))
        .map(|(_, rest)| rest)
    else {
        return message;
    };
    let Some((wrong, expected)) = rest.split_once('`') else {
        return message;
    };
    let known = expected.split('`').skip(1).step_by(2);
    match closest(wrong, known) {
        Some(name) => format!("{message} (did you mean `{name}`?)"),
        None => message,
    }
}

/// The candidate within a small edit distance of `wrong` (a third of its length, at least
/// 1), nearest first.
pub(super) fn closest<'a>(wrong: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (wrong.chars().count() / 3).max(1);
    known
        .map(|name| (distance(wrong, name), name))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_known_name_only_when_it_is_near() {
        let serde = "unknown field `body_limt`, expected one of `body_limit`, `max_connections`";
        assert!(with_suggestion(serde.into()).ends_with("(did you mean `body_limit`?)"));
        let far = "unknown field `colour`, expected one of `body_limit`, `max_connections`";
        assert_eq!(with_suggestion(far.into()), far);
        assert_eq!(
            closest("limts", ["listen", "limits"].into_iter()),
            Some("limits")
        );
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
