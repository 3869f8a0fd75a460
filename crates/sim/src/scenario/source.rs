//! Positions in the scenario text: every error a scenario can produce names
//! the file, line and column of the value that caused it.

use super::*;

/// A scenario error: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub origin: String,
    pub line: usize,
    pub col: usize,
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.origin, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(src.len());
    while off > 0 && !src.is_char_boundary(off) {
        off -= 1;
    }
    let before = &src[..off];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// The first control character TOML forbids anywhere in a document (in
/// comments and strings alike): everything below U+0020 but tab and
/// newline, and DEL. A carriage return is allowed only as the first half
/// of a CRLF newline; a bare one would reach the toml parser, whose error
/// for it has an empty message.
pub(super) fn control_char(src: &str) -> Option<(usize, char)> {
    let bytes = src.as_bytes();
    src.char_indices().find(|&(i, c)| match c {
        '\r' => bytes.get(i + 1) != Some(&b'\n'),
        '\t' | '\n' => false,
        c => c < ' ' || c == '\u{7f}',
    })
}

/// Builds errors pointing into one source text.
pub(crate) struct Errs<'a> {
    pub origin: &'a str,
    pub src: &'a str,
}

impl Errs<'_> {
    pub fn at(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let (line, col) = line_col(self.src, span.start);
        ScenarioError {
            origin: self.origin.to_string(),
            line,
            col,
            span: Some(span),
            message: message.into(),
        }
    }
}

pub(super) fn check_span<T>(s: &Spanned<T>) -> Range<usize> {
    s.span()
}

pub fn parse_gfp(text: &str) -> Result<Gfp, (Range<usize>, String)> {
    let expr = reclaimscope_model::gfp::parse_expr(text).map_err(|e| (e.span, e.message))?;
    if let Some((name, span)) = expr.unknown_idents().into_iter().next() {
        let hint = reclaimscope_model::gfp::suggest(&name)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err((span, format!("unknown gfp flag `{name}`{hint}")));
    }
    expr.value()
        .is_exact()
        .ok_or_else(|| (0..text.len(), "gfp expression has no exact value".into()))
}

/// Byte offset of a TOML string value's first character, when the value
/// appears verbatim between the quotes (no escapes): lets program errors
/// point at the exact column.
pub(crate) fn string_body_offset(src: &str, span: &Range<usize>, value: &str) -> Option<usize> {
    let raw = src.get(span.clone())?;
    let q = raw.chars().next()?;
    if q != '"' && q != '\'' {
        return None;
    }
    (raw.get(1..raw.len().saturating_sub(1)) == Some(value)).then_some(span.start + 1)
}

/// A keyword value (`gate = "fs"`): `parse` it, or an error at the value
/// listing the `known` ones.
pub(super) fn keyword<T>(
    e: &Errs,
    v: &Spanned<String>,
    what: &str,
    known: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, ScenarioError> {
    parse(v.get_ref()).ok_or_else(|| {
        e.at(
            v.span(),
            format!("unknown {what} `{}`; known: {known}", v.get_ref()),
        )
    })
}

/// A gfp expression in a TOML string, its errors pointing inside the string.
pub(super) fn gfp_at(e: &Errs, g: &Spanned<String>) -> Result<Gfp, ScenarioError> {
    parse_gfp(g.get_ref()).map_err(|(span, msg)| {
        let base = string_body_offset(e.src, &g.span(), g.get_ref());
        match base {
            Some(b) => e.at(b + span.start..b + span.end, msg),
            None => e.at(g.span(), msg),
        }
    })
}
