//! The one placeholder language of every template in the config: literal text with `{name}`
//! placeholders (topic templates of routes and MQTT outbounds, AMQP routing keys, the wrap
//! templates of MQTT and AMQP inbounds). Parsing and the brace rules live here once; each use
//! says which names it knows (resolving each to its own placeholder type at parse time, so a
//! render never looks names up) and how a placeholder's value is written.

mod topic;

pub use topic::TopicTemplate;

/// A parsed template whose placeholders are `P`s.
#[derive(Debug, Clone)]
pub struct Template<P> {
    pieces: Vec<Piece<P>>,
}

/// Literal text, or a placeholder as its use resolved it.
#[derive(Debug, Clone)]
pub enum Piece<P> {
    Literal(String),
    Placeholder(P),
}

impl<P> Template<P> {
    /// Parses `text`, resolving each placeholder's name with `resolve` (whose error names
    /// what is allowed). An unclosed `{` or a stray `}` is an error.
    pub fn parse(
        text: &str,
        mut resolve: impl FnMut(&str) -> Result<P, String>,
    ) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if rest[..open].contains('}') {
                return Err(format!("unmatched `}}` in `{text}`"));
            }
            if open > 0 {
                pieces.push(Piece::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in `{text}`"))?;
            let name = &rest[open + 1..open + close];
            pieces.push(Piece::Placeholder(resolve(name)?));
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("unmatched `}}` in `{text}`"));
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_owned()));
        }
        Ok(Self { pieces })
    }

    pub fn pieces(&self) -> &[Piece<P>] {
        &self.pieces
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Renders: literals as they are, each placeholder by `write` (which appends its value
    /// to the output). `None` when `write` has no value for one.
    pub fn render(&self, mut write: impl FnMut(&P, &mut String) -> Option<()>) -> Option<String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Placeholder(placeholder) => write(placeholder, &mut out)?,
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Template<String>, String> {
        Template::parse(text, |name| match name {
            "a" | "b" => Ok(name.to_owned()),
            _ => Err(format!("unknown `{{{name}}}`")),
        })
    }

    #[test]
    fn literals_and_placeholders_render_in_order() {
        let template = parse("x/{a}-{b}/y").expect("valid");
        let rendered = template.render(|name, out| {
            out.push_str(&name.to_uppercase());
            Some(())
        });
        assert_eq!(rendered.as_deref(), Some("x/A-B/y"));
        assert_eq!(
            template.render(|_, _| None),
            None,
            "a missing value fails the render"
        );
    }

    #[test]
    fn brace_errors_and_unknown_names_are_refused() {
        assert!(
            parse("{a")
                .expect_err("unclosed")
                .starts_with("unclosed `{`")
        );
        assert!(parse("a}").expect_err("stray").starts_with("unmatched `}`"));
        assert!(
            parse("}{a}")
                .expect_err("stray first")
                .starts_with("unmatched `}`")
        );
        assert_eq!(parse("{c}").expect_err("unknown"), "unknown `{c}`");
        assert!(parse("").expect("empty is a use's call").is_empty());
    }
}
