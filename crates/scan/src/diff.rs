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
    /// Parse a unified diff (`git diff`, `diff -u`, a mailed patch with its
    /// commit message around the hunks). Empty input is an empty patch.
    /// Text with no `+++` file header, a hunk before any file header, a
    /// malformed `@@` line, or a hunk whose body stops before the line
    /// counts of its header (a truncated or mangled patch) is an error at
    /// that line: a patch read wrongly would hide every finding.
    pub fn parse(patch: &str) -> Result<AddedLines, DiffError> {
        let mut files: HashMap<String, HashSet<usize>> = HashMap::new();
        let mut current: Option<Option<String>> = None;
        let mut next_line = 0usize;
        // Old and new lines the current hunk still has to show.
        let (mut old_left, mut new_left) = (0usize, 0usize);
        let mut saw_header = false;
        let mut last_hunk_line = 0;
        for (i, l) in patch.lines().enumerate() {
            let at = i + 1;
            if old_left > 0 || new_left > 0 {
                match l.as_bytes().first() {
                    Some(b'+') => {
                        if let Some(Some(f)) = &current {
                            files.entry(f.clone()).or_default().insert(next_line);
                        }
                        next_line += 1;
                        new_left = new_left.checked_sub(1).ok_or_else(|| too_many(at))?;
                    }
                    // Context; some mailers strip the space of an empty one.
                    Some(b' ') | None => {
                        next_line += 1;
                        new_left = new_left.checked_sub(1).ok_or_else(|| too_many(at))?;
                        old_left = old_left.checked_sub(1).ok_or_else(|| too_many(at))?;
                    }
                    Some(b'-') => {
                        old_left = old_left.checked_sub(1).ok_or_else(|| too_many(at))?;
                    }
                    Some(b'\\') => {} // "\ No newline at end of file"
                    _ => {
                        return Err(DiffError {
                            line: at,
                            message: format!(
                                "hunk from line {last_hunk_line} ends early: {old_left} old and {new_left} new lines still expected"
                            ),
                        });
                    }
                }
                continue;
            }
            if let Some(rest) = l.strip_prefix("+++ ") {
                let path = rest.split('\t').next().unwrap_or("").trim();
                current = Some((path != "/dev/null").then(|| strip_prefix(path).to_string()));
                saw_header = true;
            } else if let Some(rest) = l.strip_prefix("@@ ") {
                if current.is_none() {
                    return Err(DiffError {
                        line: at,
                        message: "hunk before any `+++` file header".into(),
                    });
                }
                let h = parse_hunk(rest).ok_or_else(|| DiffError {
                    line: at,
                    message: format!("malformed hunk header `{l}`"),
                })?;
                (next_line, old_left, new_left) = h;
                last_hunk_line = at;
            }
            // Anything else between hunks is commit message, `diff --git`,
            // `index`, `---` lines or a mail signature.
        }
        if old_left > 0 || new_left > 0 {
            return Err(DiffError {
                line: patch.lines().count().max(1),
                message: format!(
                    "patch ends inside the hunk from line {last_hunk_line}: {old_left} old and {new_left} new lines missing"
                ),
            });
        }
        if !saw_header && !patch.trim().is_empty() {
            return Err(DiffError {
                line: 1,
                message: "not a unified diff: no `+++` file header".into(),
            });
        }
        Ok(AddedLines { files })
    }

    /// Does the patch add the finding's line? Paths match when one is a
    /// component-wise suffix of the other (`a/` / `b/` already stripped).
    pub fn contains(&self, f: &Finding) -> bool {
        let file = f.file.strip_prefix("./").unwrap_or(&f.file);
        self.files.iter().any(|(p, lines)| {
            path_matches(file, p)
                && (lines.contains(&f.line) || f.evidence.iter().any(|e| lines.contains(&e.line)))
        })
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

fn too_many(line: usize) -> DiffError {
    DiffError {
        line,
        message: "more lines in this hunk than its `@@` header counts".into(),
    }
}

/// `-a,b +c,d @@` → (c, b, d); a missing count is 1. A new range that
/// runs past `usize` is malformed: counting its lines would overflow.
fn parse_hunk(rest: &str) -> Option<(usize, usize, usize)> {
    let mut words = rest.split_whitespace();
    let (old, new) = (
        words.next()?.strip_prefix('-')?,
        words.next()?.strip_prefix('+')?,
    );
    if words.next() != Some("@@") {
        return None;
    }
    let range = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (_, old_count) = range(old)?;
    let (start, new_count) = range(new)?;
    start.checked_add(new_count)?;
    Some((start, old_count, new_count))
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
            evidence: vec![crate::finding::Evidence {
                line,
                role: "allocation",
            }],
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

    /// A hunk header whose new range ends past `usize` (`+N,M` with N + M
    /// overflowing) is malformed, not a count that wraps or panics.
    #[test]
    fn a_hunk_past_usize_is_malformed() {
        let max = usize::MAX;
        let patch = format!("+++ b/a.c\n@@ -1 +{max},2 @@\n+x\n+y\n");
        let e = AddedLines::parse(&patch).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("malformed hunk header"), "{e:?}");
        // The last representable range is fine.
        let patch = format!("+++ b/a.c\n@@ -0,0 +{},1 @@\n+x\n", max - 1);
        assert!(AddedLines::parse(&patch).is_ok());
    }

    #[test]
    fn garbage_is_an_error_at_its_line() {
        // Not a diff at all.
        let e = AddedLines::parse("[memory]\nfree = 4\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.contains("not a unified diff")),
            (1, true)
        );
        // A hunk cut short by a mangling mailer.
        let cut = "--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,4 @@\n a\n+b\nGARBAGE\n";
        assert_eq!(AddedLines::parse(cut).unwrap_err().line, 6);
        // Truncated at the end.
        let trunc = "--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,4 @@\n a\n+b\n";
        assert!(
            AddedLines::parse(trunc)
                .unwrap_err()
                .message
                .contains("ends inside")
        );
        // A hunk with no file header.
        assert_eq!(
            AddedLines::parse("@@ -1 +1 @@\n-a\n+b\n").unwrap_err().line,
            1
        );
        // Empty input is an empty patch; a mail around the hunks is fine.
        assert!(AddedLines::parse("").unwrap().is_empty());
        let mail = "From: x\nSubject: [PATCH] y\n\nbody\n---\n x.c | 1 +\n\ndiff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1,2 @@\n a\n+b\n-- \n2.39.2\n";
        assert!(
            AddedLines::parse(mail)
                .unwrap()
                .contains(&finding("x.c", 2))
        );
    }

    #[test]
    fn a_finding_belongs_to_a_patch_that_adds_any_evidence_line() {
        let patch = "--- a/x.c\n+++ b/x.c\n@@ -10,2 +10,3 @@\n a\n+\tif (ret) return ret;\n b\n";
        let a = AddedLines::parse(patch).unwrap();
        // Anchored on the unchanged save() at line 5; its exit is line 11.
        let f = finding("x.c", 5).with_evidence(11, "exit leaving the scope");
        assert!(a.contains(&f));
        assert!(!a.contains(&finding("x.c", 5).with_evidence(12, "exit leaving the scope")));
    }
}
