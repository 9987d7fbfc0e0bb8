//! `${NAME}` and `${NAME:-default}` in the config's string values, replaced by the
//! environment before anything reads them, so secrets come from the environment (a
//! Kubernetes Secret, a compose `environment:`) and never sit in the file. Only values are
//! substituted, never keys, and the result stays one string: a variable cannot add YAML
//! structure. `$$` is a literal `$`. An unset variable without a default is an error naming
//! it and the key; a set but empty one is used as it is.
//!
//! Written by hand: the crates for this (`shellexpand`, `envsubst`) work on text, before the
//! YAML is parsed, where a value with a newline or a `:` would change the document.

use serde_yaml_ng::Value;

/// Substitutes every string value under `value`, `path` naming where it is; `lookup` reads a
/// variable. Errors name the key and the variable.
pub(super) fn substitute(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) {
    match value {
        Value::String(text) if text.contains('$') => match expand(text, lookup) {
            Ok(expanded) => *text = expanded,
            Err(e) => errors.push(format!("{path}: {e}")),
        },
        Value::Mapping(map) => {
            for (key, child) in map.iter_mut() {
                let key = key.as_str().unwrap_or("?");
                let child_path = if path.is_empty() {
                    key.to_owned()
                } else {
                    format!("{path}.{key}")
                };
                substitute(child, &child_path, lookup, errors);
            }
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                substitute(child, &format!("{path}[{i}]"), lookup, errors);
            }
        }
        Value::Tagged(tagged) => substitute(&mut tagged.value, path, lookup, errors),
        _ => {}
    }
}

/// One string with its references replaced.
fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some(body) = rest.strip_prefix('{') else {
            out.push('$');
            continue;
        };
        let end = body
            .find('}')
            .ok_or_else(|| "`${` without a closing `}`".to_owned())?;
        let (name, default) = match body[..end].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&body[..end], None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{}}}` is not a variable name", &body[..end]));
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER_PW" => Some("s3cret: #x".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(yaml: &str) -> (Value, Vec<String>) {
        let mut value: Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        let mut errors = Vec::new();
        substitute(&mut value, "", &env, &mut errors);
        (value, errors)
    }

    #[test]
    fn replaces_values_with_defaults_and_escapes() {
        let (value, errors) = run(
            "a: { url: \"amqp://u:${USER_PW}@h\", list: [\"${MISSING:-d}\", \"$$5\", \"${EMPTY:-x}\"] }",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(value["a"]["url"].as_str(), Some("amqp://u:s3cret: #x@h"));
        assert_eq!(value["a"]["list"][0].as_str(), Some("d"));
        assert_eq!(value["a"]["list"][1].as_str(), Some("$5"));
        assert_eq!(
            value["a"]["list"][2].as_str(),
            Some(""),
            "set but empty is used"
        );
    }

    #[test]
    fn an_unset_variable_without_default_names_the_key_and_variable() {
        let (_, errors) =
            run("outbounds: { hook: { url: \"${HOOK_URL}\" } }\nx: [\"${bad name}\", \"${OPEN\"]");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("outbounds.hook.url") && errors[0].contains("HOOK_URL"));
        assert!(errors[1].starts_with("x[0]"));
        assert!(errors[2].contains("closing"));
    }
}
