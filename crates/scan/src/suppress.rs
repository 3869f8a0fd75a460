//! In-source suppression: `/* reclaimscope: ignore RULE[, RULE] */` on the
//! finding's line or the line above (`all` silences every rule).

use crate::rule::Rule;

const MARK: &str = "reclaimscope: ignore";

/// Is a finding of `rule` on 1-based `line` of `src` suppressed?
pub fn is_suppressed(src: &str, line: usize, rule: Rule) -> bool {
    if !src.contains(MARK) {
        return false;
    }
    let first = line.saturating_sub(2);
    src.lines()
        .skip(first)
        .take(line - first)
        .any(|l| names_rule(l, rule))
}

/// The suppression comments of one file, found once: asking
/// [`is_suppressed`] per finding searched the whole file each time, which
/// made a dense file quadratic.
pub struct Suppressions<'s> {
    /// 1-based line numbers and text of the lines holding the mark, sorted.
    marked: Vec<(usize, &'s str)>,
}

impl<'s> Suppressions<'s> {
    pub fn new(src: &'s str) -> Suppressions<'s> {
        let mut marked = Vec::new();
        let bytes = src.as_bytes();
        let (mut line, mut counted_to) = (1, 0);
        let mut last_start = usize::MAX;
        for i in memchr::memmem::find_iter(bytes, MARK.as_bytes()) {
            line += memchr::memchr_iter(b'\n', &bytes[counted_to..i]).count();
            counted_to = i;
            let start = memchr::memrchr(b'\n', &bytes[..i]).map_or(0, |j| j + 1);
            if start == last_start {
                continue;
            }
            last_start = start;
            let end = memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |j| i + j);
            marked.push((line, src.get(start..end).unwrap_or("")));
        }
        Suppressions { marked }
    }

    /// Same answer as [`is_suppressed`] on the text this was built from.
    pub fn suppresses(&self, line: usize, rule: Rule) -> bool {
        let from = self.marked.partition_point(|(l, _)| *l + 1 < line);
        self.marked[from..]
            .iter()
            .take_while(|(l, _)| *l <= line)
            .any(|(_, text)| names_rule(text, rule))
    }
}

fn names_rule(line: &str, rule: Rule) -> bool {
    let Some(i) = line.find(MARK) else {
        return false;
    };
    let rest = &line[i + MARK.len()..];
    let rest = rest.split("*/").next().unwrap_or(rest);
    rest.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .any(|w| w == rule.id() || w == "all")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_agrees_with_the_plain_search() {
        let src = "a\n/* reclaimscope: ignore noretry-no-fallback */\nb\nc /* reclaimscope: ignore all */\nd\ne // reclaimscope: ignore x reclaimscope: ignore all\n";
        let idx = Suppressions::new(src);
        for line in 1..=8 {
            for rule in Rule::ALL {
                assert_eq!(
                    idx.suppresses(line, rule),
                    is_suppressed(src, line, rule),
                    "line {line} {rule}"
                );
            }
        }
    }

    #[test]
    fn same_line_and_line_above() {
        let src = "a\n/* reclaimscope: ignore noretry-no-fallback */\nb\nc /* reclaimscope: ignore all */\n";
        assert!(is_suppressed(src, 3, Rule::NoretryNoFallback));
        assert!(is_suppressed(src, 2, Rule::NoretryNoFallback));
        assert!(!is_suppressed(src, 3, Rule::NoretryUseless));
        assert!(!is_suppressed(src, 1, Rule::NoretryNoFallback));
        assert!(is_suppressed(src, 4, Rule::ScopeUnbalanced));
    }
}
