//! Byte-level prefilter: one multi-token search tells which rules a file can
//! trigger, so files that cannot are never decoded or parsed.

use crate::rule::Rule;
use aho_corasick::AhoCorasick;

pub struct Prefilter {
    /// SIMD (Teddy) search when the CPU has it: several times faster than
    /// the automaton over a whole tree's bytes.
    packed: Option<aho_corasick::packed::Searcher>,
    matcher: AhoCorasick,
    tokens: Vec<&'static str>,
    rules: Vec<Rule>,
}

impl Prefilter {
    pub fn new(rules: &[Rule]) -> Prefilter {
        let mut tokens: Vec<&'static str> = Vec::new();
        for r in rules {
            for group in r.required_tokens() {
                for t in *group {
                    if !tokens.contains(t) {
                        tokens.push(t);
                    }
                }
            }
        }
        let matcher = AhoCorasick::new(&tokens).expect("static token list builds");
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&tokens)
            .build();
        Prefilter {
            packed,
            matcher,
            tokens,
            rules: rules.to_vec(),
        }
    }

    /// The subset of the configured rules whose tokens all occur in `bytes`.
    /// Leftmost-first matching is enough: no token is a substring of another.
    pub fn rules_for(&self, bytes: &[u8]) -> Vec<Rule> {
        let mut seen = vec![false; self.tokens.len()];
        let mut left = self.tokens.len();
        let mut found = |m: usize| {
            if !seen[m] {
                seen[m] = true;
                left -= 1;
            }
            left == 0
        };
        match &self.packed {
            Some(p) => {
                for m in p.find_iter(bytes) {
                    if found(m.pattern().as_usize()) {
                        break;
                    }
                }
            }
            None => {
                for m in self.matcher.find_iter(bytes) {
                    if found(m.pattern().as_usize()) {
                        break;
                    }
                }
            }
        }
        self.rules
            .iter()
            .copied()
            .filter(|r| {
                r.required_tokens().iter().all(|g| {
                    g.iter().any(|t| {
                        self.tokens
                            .iter()
                            .position(|x| x == t)
                            .is_some_and(|i| seen[i])
                    })
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noretry_rules_need_the_flag() {
        let p = Prefilter::new(&Rule::ALL);
        assert!(p.rules_for(b"kmalloc(n, GFP_KERNEL);").is_empty());
        let r = p.rules_for(b"kmalloc(n, GFP_KERNEL | __GFP_NORETRY);");
        assert!(r.contains(&Rule::NoretryNoFallback));
        assert!(!r.contains(&Rule::ScopeUnbalanced));
    }

    #[test]
    fn groups_are_anded() {
        let p = Prefilter::new(&[Rule::VmallocNofsUnscoped]);
        assert!(p.rules_for(b"__vmalloc(n, GFP_KERNEL)").is_empty());
        assert_eq!(
            p.rules_for(b"__vmalloc(n, GFP_NOFS)"),
            vec![Rule::VmallocNofsUnscoped]
        );
    }
}
