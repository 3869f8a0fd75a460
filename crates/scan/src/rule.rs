//! Rule identifiers, their one-line rationale, and the tokens a file must
//! contain before a rule can possibly fire (the prefilter that lets a
//! one-rule scan skip parsing almost the whole kernel).

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// One scanner rule. Ids are stable: they are SARIF `ruleId`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum Rule {
    NoretryNoFallback,
    NoretryFallbackKeepsFlag,
    NoretryUseless,
    NoretryVsRetryMayfail,
    VmallocNofsUnscoped,
    ScopeUnbalanced,
    NofsRedundantInScope,
    NofsOutsideScope,
    ShrinkerIoGate,
    NofsScopeCoverage,
}

impl From<Rule> for &'static str {
    fn from(r: Rule) -> Self {
        r.id()
    }
}

/// Masks that lack `__GFP_FS` or `__GFP_IO` are spelled with these tokens.
const NOFS_TOKENS: &[&str] = &["GFP_NOFS", "GFP_NOIO", "__GFP_FS", "__GFP_IO"];

impl Rule {
    pub const ALL: [Rule; 10] = [
        Rule::NoretryNoFallback,
        Rule::NoretryFallbackKeepsFlag,
        Rule::NoretryUseless,
        Rule::NoretryVsRetryMayfail,
        Rule::VmallocNofsUnscoped,
        Rule::ScopeUnbalanced,
        Rule::NofsRedundantInScope,
        Rule::NofsOutsideScope,
        Rule::ShrinkerIoGate,
        Rule::NofsScopeCoverage,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::NoretryNoFallback => "noretry-no-fallback",
            Rule::NoretryFallbackKeepsFlag => "noretry-fallback-keeps-flag",
            Rule::NoretryUseless => "noretry-useless",
            Rule::NoretryVsRetryMayfail => "noretry-vs-retry-mayfail",
            Rule::VmallocNofsUnscoped => "vmalloc-nofs-unscoped",
            Rule::ScopeUnbalanced => "scope-unbalanced",
            Rule::NofsRedundantInScope => "nofs-redundant-in-scope",
            Rule::NofsOutsideScope => "nofs-outside-scope",
            Rule::ShrinkerIoGate => "shrinker-io-gate",
            Rule::NofsScopeCoverage => "nofs-scope-coverage",
        }
    }

    /// One sentence: why the pattern is a problem.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::NoretryNoFallback => {
                "__GFP_NORETRY allocation whose failure only becomes an error: it fails at random under memory pressure with no fallback"
            }
            Rule::NoretryFallbackKeepsFlag => {
                "the retry after a failed __GFP_NORETRY allocation still passes __GFP_NORETRY, so the fallback can fail the same way"
            }
            Rule::NoretryUseless => {
                "__GFP_NORETRY only changes direct reclaim; with a mask that cannot reclaim directly it does nothing"
            }
            Rule::NoretryVsRetryMayfail => {
                "__GFP_NORETRY and __GFP_RETRY_MAYFAIL on one allocation contradict each other (NORETRY wins in the slow path)"
            }
            Rule::VmallocNofsUnscoped => {
                "vmalloc ignores a GFP_NOFS/GFP_NOIO mask for its page tables on this kernel; wrap the call in memalloc_nofs/noio_save()"
            }
            Rule::ScopeUnbalanced => {
                "a memalloc_*_save() scope that a return path leaves without the matching restore, or restored with the wrong kind"
            }
            Rule::NofsRedundantInScope => {
                "GFP_NOFS/GFP_NOIO inside a memalloc_nofs/noio scope is redundant: the scope already clears the bits, use GFP_KERNEL"
            }
            Rule::NofsOutsideScope => {
                "inventory: a GFP_NOFS/GFP_NOIO allocation outside any scope in its function, a candidate for scope conversion"
            }
            Rule::ShrinkerIoGate => {
                "a shrinker scan_objects that tests __GFP_IO but not __GFP_FS before writing back or waiting can recurse into a filesystem"
            }
            Rule::NofsScopeCoverage => {
                "inventory: a GFP_NOFS/GFP_NOIO-style allocation classified by its caller chains as covered by a NOFS/NOIO scope (GFP_KERNEL would do), mixed, uncovered or unknown"
            }
        }
    }

    /// Inventory rules describe rather than accuse; they run only on request.
    pub fn is_inventory(self) -> bool {
        matches!(self, Rule::NofsOutsideScope | Rule::NofsScopeCoverage)
    }

    /// The rules run when none is named.
    pub fn defaults() -> Vec<Rule> {
        Rule::ALL
            .into_iter()
            .filter(|r| !r.is_inventory())
            .collect()
    }

    /// Token groups: a file can only trigger this rule if, for every group,
    /// it contains at least one token of that group.
    pub fn required_tokens(self) -> &'static [&'static [&'static str]] {
        match self {
            Rule::NoretryNoFallback
            | Rule::NoretryFallbackKeepsFlag
            | Rule::NoretryUseless
            | Rule::NoretryVsRetryMayfail => &[&["__GFP_NORETRY"]],
            Rule::VmallocNofsUnscoped => &[&["vmalloc", "kvzalloc", "kvcalloc"], NOFS_TOKENS],
            Rule::ScopeUnbalanced => &[&["memalloc_"]],
            Rule::NofsRedundantInScope => &[&["memalloc_"], NOFS_TOKENS],
            Rule::NofsOutsideScope | Rule::NofsScopeCoverage => &[NOFS_TOKENS],
            // A callback is found by registration (`scan_objects`) or by
            // its signature (`struct shrink_control *`).
            Rule::ShrinkerIoGate => &[&["scan_objects", "shrink_control"], &["__GFP_IO"]],
        }
    }

    /// What the line a finding of this rule points at holds (its first
    /// evidence line).
    pub fn site_role(self) -> &'static str {
        match self {
            Rule::ScopeUnbalanced => "memalloc scope call",
            Rule::ShrinkerIoGate => "__GFP_IO gate",
            _ => "allocation",
        }
    }

    /// The rule asks about callers any number of levels up (scope
    /// coverage, paired scope functions), so the scan indexes every file
    /// instead of the candidates and the files that call into them.
    pub fn walks_callers(self) -> bool {
        matches!(
            self,
            Rule::ScopeUnbalanced
                | Rule::NofsRedundantInScope
                | Rule::NofsOutsideScope
                | Rule::NofsScopeCoverage
        )
    }

    pub fn doc_anchor(self) -> String {
        format!("docs/rules.md#{}", self.id())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rule::ALL.into_iter().find(|r| r.id() == s).ok_or_else(|| {
            let ids: Vec<_> = Rule::ALL.iter().map(|r| r.id()).collect();
            format!("unknown rule `{s}` (known: {})", ids.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for r in Rule::ALL {
            assert_eq!(r.id().parse::<Rule>(), Ok(r));
        }
        assert!("noretry".parse::<Rule>().is_err());
    }

    #[test]
    fn inventory_is_not_default() {
        assert!(!Rule::defaults().contains(&Rule::NofsOutsideScope));
        assert!(!Rule::defaults().contains(&Rule::NofsScopeCoverage));
        assert_eq!(Rule::defaults().len(), Rule::ALL.len() - 2);
    }
}
