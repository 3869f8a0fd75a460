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
    fn same_line_and_line_above() {
        let src = "a\n/* reclaimscope: ignore noretry-no-fallback */\nb\nc /* reclaimscope: ignore all */\n";
        assert!(is_suppressed(src, 3, Rule::NoretryNoFallback));
        assert!(is_suppressed(src, 2, Rule::NoretryNoFallback));
        assert!(!is_suppressed(src, 3, Rule::NoretryUseless));
        assert!(!is_suppressed(src, 1, Rule::NoretryNoFallback));
        assert!(is_suppressed(src, 4, Rule::ScopeUnbalanced));
    }
}
