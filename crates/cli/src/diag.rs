//! Input errors rendered the way compilers do: `file:line:col: error: msg`,
//! then the offending source line with a caret under the bad span. Every
//! front-end (gfp expressions, scenario files, C files) reports through here
//! so bad input always names file, line and column and exits 2.

use std::fmt;

/// A user-facing error; the binary prints it and exits 2.
#[derive(Debug)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

impl From<String> for InputError {
    fn from(s: String) -> Self {
        InputError(s)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..floor_char_boundary(src, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Render `origin:line:col: error: message` plus the source line and a caret
/// run under `span` (byte offsets into `src`).
pub fn render(origin: &str, src: &str, span: std::ops::Range<usize>, message: &str) -> String {
    let (line, col) = line_col(src, span.start);
    // Never echo raw control bytes (an ESC would drive the terminal): show
    // each as its one-column Unicode control picture, so the caret still lines up.
    let line_text: String = src
        .lines()
        .nth(line - 1)
        .unwrap_or("")
        .chars()
        .map(control_picture)
        .collect();
    let width = src
        .get(span.clone())
        .map_or(1, |s| s.lines().next().unwrap_or("").chars().count().max(1));
    let gutter = line.to_string().len();
    format!(
        "{origin}:{line}:{col}: error: {message}\n{pad} |\n{line} | {line_text}\n{pad} | {spaces}{carets}",
        pad = " ".repeat(gutter),
        spaces = " ".repeat(col - 1),
        carets = "^".repeat(width),
    )
}

/// U+2400.. "SYMBOL FOR NUL".. for C0 controls and U+2421 for DEL; other
/// characters unchanged (tab stays a tab).
fn control_picture(c: char) -> char {
    match c {
        '\t' => c,
        '\0'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('?'),
        '\u{7f}' => '\u{2421}',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn caret_sits_under_span() {
        let out = render("<expr>", "GFP_KERNAL | x", 0..10, "unknown");
        assert!(out.ends_with("  | ^^^^^^^^^^"), "{out}");
        assert!(out.starts_with("<expr>:1:1: error: unknown"));
    }

    #[test]
    fn control_bytes_are_not_echoed() {
        let out = render("t.toml", "a # \u{1b}[31m x\n", 4..5, "control character");
        assert!(!out.contains('\u{1b}'), "{out:?}");
        assert!(out.contains("a # \u{241b}[31m x"), "{out}");
        assert!(out.ends_with("  |     ^"), "{out}");
    }
}
