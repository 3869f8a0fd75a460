//! Odd C the parser needs help with: code compiled out by `#if 0`, and
//! K&R-style definitions (`int f(a) int a; { ... }`), whose bodies
//! tree-sitter-c leaves as top-level blocks outside any
//! `function_definition`.

use std::borrow::Cow;
use tree_sitter::Node;

/// `src` with the lines of every `#if 0` group blanked (each byte but
/// newlines becomes a space, so offsets, lines and columns stay put). An
/// `#else` or `#elif` of the group is live again; nested conditionals
/// inside the dead part are skipped whole.
pub fn blank_if0(src: &str) -> Cow<'_, str> {
    if !src.contains("#if") {
        return Cow::Borrowed(src);
    }
    let mut out: Option<Vec<u8>> = None;
    // Nesting depth inside a dead group; 0 = live.
    let mut dead = 0usize;
    let mut pos = 0;
    for line in src.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let d = directive(line);
        if dead == 0 {
            if d.is_some_and(is_if0) {
                dead = 1;
            } else {
                continue;
            }
        } else {
            match d.map(|d| d.split_whitespace().next().unwrap_or("")) {
                Some("if" | "ifdef" | "ifndef") => dead += 1,
                Some("endif") => dead -= 1,
                Some("else" | "elif") if dead == 1 => {
                    dead = 0;
                    continue; // the alternative is compiled
                }
                _ => {}
            }
        }
        let buf = out.get_or_insert_with(|| src.as_bytes().to_vec());
        for b in &mut buf[start..pos] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    match out {
        // Whole lines became spaces: still UTF-8.
        Some(b) => Cow::Owned(String::from_utf8(b).unwrap_or_else(|_| src.to_string())),
        None => Cow::Borrowed(src),
    }
}

/// The directive of a preprocessor line, without `#` (`if 0`, `endif`).
fn directive(line: &str) -> Option<&str> {
    line.trim_start()
        .strip_prefix('#')
        .map(|d| d.trim_start().trim_end())
}

fn is_if0(d: &str) -> bool {
    let Some(rest) = d.strip_prefix("if") else {
        return false;
    };
    if !rest.starts_with(|c: char| c.is_whitespace() || c == '(') {
        return false; // `ifdef`, `ifndef`
    }
    let rest = rest.trim_start().trim_start_matches('(').trim_start();
    rest.strip_prefix('0').is_some_and(|r| {
        r.chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_')
    })
}

/// A function body tree-sitter did not attach to a definition: a
/// top-level `{ ... }` after a K&R head. Returns the node to read the
/// name and parameters from (the declaration holding the
/// `function_declarator`) and, when the head parsed as a macro call
/// (`f(a) int a;` with no return type), the name to use instead.
pub fn kr_head<'t>(block: Node<'t>, src: &str) -> Option<(Node<'t>, Option<String>)> {
    let parent = block.parent()?;
    if !matches!(parent.kind(), "translation_unit" | "ERROR") {
        return None;
    }
    let mut prev = block.prev_named_sibling();
    // K&R parameter declarations sit between the head and the body.
    for _ in 0..16 {
        let n = prev?;
        if n.kind() == "comment" {
            prev = n.prev_named_sibling();
            continue;
        }
        if let Some(fd) = crate::syntax::collect(n, |c| c.kind() == "function_declarator")
            .into_iter()
            .next()
            && fd.start_byte() >= n.start_byte()
        {
            return Some((n, None));
        }
        if let Some(m) = crate::syntax::collect(n, |c| c.kind() == "macro_type_specifier")
            .into_iter()
            .next()
            && let Some(name) = m.child_by_field_name("name")
        {
            return Some((n, Some(crate::syntax::text(name, src).to_string())));
        }
        if !matches!(n.kind(), "declaration" | "ERROR") {
            return None;
        }
        prev = n.prev_named_sibling();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if0_groups_are_blanked_and_else_stays() {
        let src = "a\n#if 0\nb\n#ifdef X\nc\n#endif\nd\n#else\ne\n#endif\nf\n#if 0 /* x */\ng\n#endif\n#if 01\nh\n#endif\n";
        let out = blank_if0(src);
        assert_eq!(out.len(), src.len());
        let kept: Vec<&str> = out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            kept,
            ["a", "#else", "e", "#endif", "f", "#if 01", "h", "#endif"]
        );
        assert!(matches!(
            blank_if0("int x;\n#if 1\ny\n#endif\n"),
            Cow::Borrowed(_)
        ));
        assert!(is_if0("if 0") && is_if0("if (0)") && !is_if0("if 0x1") && !is_if0("ifdef 0"));
    }
}
