//! `--diff`: keep only findings on lines a unified diff adds, which is what
//! a reviewer of a patch wants to see.

use crate::finding::Finding;
use std::collections::{HashMap, HashSet};

/// Added lines (new-file numbering) per file path, from a unified diff.
#[derive(Debug, Default)]
pub struct AddedLines {
    files: HashMap<String, HashSet<usize>>,
}

/// A malformed hunk header, with its 1-based line in the patch.
#[derive(Debug, PartialEq, Eq)]
pub struct DiffError {
    pub line: usize,
    pub message: String,
}

impl AddedLines {
    pub fn parse(patch: &str) -> Result<AddedLines, DiffError> {
        let mut files: HashMap<String, HashSet<usize>> = HashMap::new();
        let mut current: Option<String> = None;
        let mut next_line = 0usize;
        let mut in_hunk = false;
        for (i, l) in patch.lines().enumerate() {
            if let Some(rest) = l.strip_prefix("+++ ") {
                let path = rest.split('\t').next().unwrap_or("").trim();
                current = (path != "/dev/null").then(|| strip_prefix(path).to_string());
                in_hunk = false;
            } else if l.starts_with("--- ") && !in_hunk {
                continue;
            } else if let Some(rest) = l.strip_prefix("@@ ") {
                next_line = parse_hunk_start(rest).ok_or_else(|| DiffError {
                    line: i + 1,
                    message: format!("malformed hunk header `{l}`"),
                })?;
                in_hunk = true;
            } else if in_hunk {
                if l.starts_with('+') {
                    if let Some(f) = &current {
                        files.entry(f.clone()).or_default().insert(next_line);
                    }
                    next_line += 1;
                } else if l.starts_with(' ') || l.is_empty() {
                    next_line += 1;
                } else if l.starts_with('-') || l.starts_with('\\') {
                } else {
                    in_hunk = false;
                }
            }
        }
        Ok(AddedLines { files })
    }

    /// Does the patch add the finding's line? Paths match when one is a
    /// component-wise suffix of the other (`a/` / `b/` already stripped).
    pub fn contains(&self, f: &Finding) -> bool {
        let file = f.file.strip_prefix("./").unwrap_or(&f.file);
        self.files
            .iter()
            .any(|(p, lines)| lines.contains(&f.line) && path_matches(file, p))
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

fn strip_prefix(p: &str) -> &str {
    p.strip_prefix("b/")
        .or_else(|| p.strip_prefix("a/"))
        .unwrap_or(p)
}

fn path_matches(a: &str, b: &str) -> bool {
    a == b || a.ends_with(&format!("/{b}")) || b.ends_with(&format!("/{a}"))
}

/// `-a,b +c,d @@` → c.
fn parse_hunk_start(rest: &str) -> Option<usize> {
    let plus = rest.split_whitespace().find(|w| w.starts_with('+'))?;
    plus[1..].split(',').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Rule;

    fn finding(file: &str, line: usize) -> Finding {
        Finding {
            rule: Rule::NoretryNoFallback,
            file: file.into(),
            line,
            column: 1,
            function: "f".into(),
            call: "kmalloc()".into(),
            mask: String::new(),
            reason: String::new(),
            chain: Vec::new(),
        }
    }

    #[test]
    fn added_lines_use_new_numbering() {
        let patch = "diff --git a/mm/x.c b/mm/x.c\n--- a/mm/x.c\n+++ b/mm/x.c\n@@ -10,3 +10,4 @@ fn\n ctx\n-old\n+new1\n+new2\n ctx\n";
        let a = AddedLines::parse(patch).unwrap();
        assert!(!a.contains(&finding("mm/x.c", 10)));
        assert!(a.contains(&finding("mm/x.c", 11)));
        assert!(a.contains(&finding("linux/mm/x.c", 12)));
        assert!(!a.contains(&finding("mm/x.c", 13)));
        assert!(!a.contains(&finding("mm/y.c", 11)));
    }

    #[test]
    fn bad_hunk_names_its_line() {
        let e = AddedLines::parse("+++ b/x.c\n@@ garbage @@\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
