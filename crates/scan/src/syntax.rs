//! Small helpers over tree-sitter-c nodes. Kernel macros make tree-sitter
//! produce ERROR nodes in half the files, so everything here works on the
//! local node and never assumes a clean ancestor chain.

use tree_sitter::Node;

pub fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    src.get(node.byte_range()).unwrap_or("")
}

/// Collapse runs of whitespace (and line continuations) to one space.
pub fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c == '\\' {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

/// Whitespace-free form, for comparing conditions and lvalues.
pub fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Pre-order list of all descendants of `root` (including it) for which
/// `keep` holds. Iterative: kernel initialisers nest deeper than a stack.
pub fn collect<'t>(root: Node<'t>, mut keep: impl FnMut(Node<'t>) -> bool) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if keep(node) {
            out.push(node);
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.node().id() == root.id() {
                return out;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return out;
            }
        }
    }
}

/// The name a call calls: `f(...)` → `f`, `ops->alloc(...)` → `alloc`.
pub fn call_name<'s>(call: Node<'_>, src: &'s str) -> Option<&'s str> {
    let mut f = call.child_by_field_name("function")?;
    while f.kind() == "parenthesized_expression" {
        f = f.named_child(0)?;
    }
    match f.kind() {
        "identifier" => Some(text(f, src)),
        "field_expression" => f.child_by_field_name("field").map(|n| text(n, src)),
        _ => None,
    }
}

pub fn call_args(call: Node<'_>) -> Vec<Node<'_>> {
    let Some(args) = call.child_by_field_name("arguments") else {
        return Vec::new();
    };
    let mut cursor = args.walk();
    args.named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
        .collect()
}

/// Identifier a declarator declares (`*p`, `p[4]`, `p = x` → `p`).
pub fn declarator_name<'s>(mut d: Node<'_>, src: &'s str) -> Option<&'s str> {
    loop {
        match d.kind() {
            "identifier" | "field_identifier" => return Some(text(d, src)),
            _ => d = d.child_by_field_name("declarator")?,
        }
    }
}

/// The name of a function definition (tolerating macro-laden prototypes).
pub fn function_name(def: Node<'_>, src: &str) -> String {
    let mut d = def.child_by_field_name("declarator");
    while let Some(n) = d {
        if n.kind() == "function_declarator"
            && let Some(id) = n.child_by_field_name("declarator")
        {
            if let Some(name) = declarator_name(id, src) {
                return name.to_string();
            }
            return collapse_ws(text(id, src));
        }
        d = n.child_by_field_name("declarator");
    }
    "<unknown>".to_string()
}

pub fn contains(outer: Node<'_>, pos: usize) -> bool {
    outer.start_byte() <= pos && pos < outer.end_byte()
}

/// Strip parentheses and casts around an expression, upwards: the node the
/// value of `n` flows into.
pub fn value_parent(n: Node<'_>) -> Option<Node<'_>> {
    let mut p = n.parent()?;
    while matches!(p.kind(), "parenthesized_expression" | "cast_expression") {
        p = p.parent()?;
    }
    Some(p)
}

pub fn is_loop(kind: &str) -> bool {
    matches!(kind, "for_statement" | "while_statement" | "do_statement")
}

/// True when `name` occurs in `s` as a whole C identifier.
pub fn has_word(s: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let b = s.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut from = 0;
    while let Some(i) = s[from..].find(name) {
        let start = from + i;
        let end = start + name.len();
        let before_ok = start == 0 || !ident(b[start - 1]);
        let after_ok = end >= b.len() || !ident(b[end]);
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
    }
    false
}

/// 1-based line and character column of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(src.len());
    while off > 0 && !src.is_char_boundary(off) {
        off -= 1;
    }
    let before = &src[..off];
    let line = memchr::memchr_iter(b'\n', before.as_bytes()).count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Newline offsets of a text, to turn byte offsets into lines in
/// `O(log n)`: counting from the start for every finding made a dense
/// file quadratic.
#[derive(Clone, Debug, Default)]
pub struct LineIndex {
    newlines: Vec<usize>,
    ascii: bool,
    built: bool,
}

impl LineIndex {
    /// An index of nothing: [`LineIndex::newlines_known`] is false.
    pub const EMPTY: LineIndex = LineIndex {
        newlines: Vec::new(),
        ascii: false,
        built: false,
    };

    pub fn new(src: &str) -> LineIndex {
        LineIndex {
            newlines: memchr::memchr_iter(b'\n', src.as_bytes()).collect(),
            ascii: src.is_ascii(),
            built: true,
        }
    }

    /// Built from a text (not [`LineIndex::EMPTY`]).
    pub fn newlines_known(&self) -> bool {
        self.built
    }

    /// Newlines before byte `offset`.
    pub fn lines_before(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&n| n < offset)
    }

    /// 1-based line and character column of a byte offset into `src`, the
    /// text this index was built from; same answer as [`line_col`].
    pub fn line_col(&self, src: &str, offset: usize) -> (usize, usize) {
        let mut off = offset.min(src.len());
        while off > 0 && !src.is_char_boundary(off) {
            off -= 1;
        }
        let before = self.lines_before(off);
        let line_start = if before == 0 {
            0
        } else {
            self.newlines[before - 1] + 1
        };
        let col = if self.ascii {
            off - line_start
        } else {
            src[line_start..off].chars().count()
        };
        (before + 1, col + 1)
    }
}

/// A set of node kinds tested by id: `Node::kind()` looks the name up and
/// measures and validates it as a C string on every call, which summed to
/// several percent of a whole-tree scan in the walks over every node of a
/// function. Every symbol id of the C grammar whose name and namedness
/// match is in the set, so `contains(n)` is exactly `n.kind()` being one
/// of the names (for named nodes).
pub struct KindSet(Vec<bool>);

impl KindSet {
    pub fn named(names: &[&str]) -> KindSet {
        let lang: tree_sitter::Language = tree_sitter_c::LANGUAGE.into();
        let n = lang.node_kind_count();
        KindSet(
            (0..n)
                .map(|id| {
                    let id = id as u16;
                    lang.node_kind_is_named(id)
                        && lang
                            .node_kind_for_id(id)
                            .is_some_and(|k| names.contains(&k))
                })
                .collect(),
        )
    }

    pub fn contains(&self, n: Node<'_>) -> bool {
        n.is_named() && self.0.get(n.kind_id() as usize).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert!(has_word("!page && order", "page"));
        assert!(!has_word("pages", "page"));
        assert!(!has_word("", "page"));
    }

    #[test]
    fn ws() {
        assert_eq!(
            collapse_ws("GFP_KERNEL |\n\t\t__GFP_NORETRY"),
            "GFP_KERNEL | __GFP_NORETRY"
        );
        assert_eq!(line_col("a\nbc", 3), (2, 2));
        for src in ["a\nbc\n\ndé\nf", "x", "", "\n\n"] {
            let idx = LineIndex::new(src);
            for off in 0..=src.len() + 1 {
                assert_eq!(idx.line_col(src, off), line_col(src, off), "{src:?} {off}");
            }
        }
    }
}
