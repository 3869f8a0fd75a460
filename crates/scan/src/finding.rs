//! What a rule reports.

use crate::rule::Rule;
use serde::Serialize;

/// One finding. `line` and `column` are 1-based; `column` counts characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub function: String,
    /// The allocation (or scope) call as written, whitespace collapsed.
    pub call: String,
    /// The effective gfp mask in kernel notation, or "" when the rule is not about a mask.
    pub mask: String,
    pub reason: String,
    /// The call chain that decided the finding, outermost caller first
    /// (a returned allocation judged at its caller, a scope opened up the
    /// chain); empty for a finding inside one function.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<crate::summary::ChainStep>,
    /// The lines that make the finding, in line order: the site itself and
    /// whatever the rule's reasoning rests on (the error-only return, the
    /// return or goto that leaves a scope, the scope's save(), the
    /// shrinker's blocking call). `--diff` keeps a finding when the patch
    /// adds any of them.
    pub evidence: Vec<Evidence>,
}

/// One line a finding rests on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Evidence {
    pub line: usize,
    /// What is on the line, e.g. `allocation`, `error return`, `return
    /// leaving the scope`.
    pub role: &'static str,
}

impl Finding {
    /// Add an evidence line (kept sorted, without duplicate lines).
    pub fn with_evidence(mut self, line: usize, role: &'static str) -> Finding {
        if !self.evidence.iter().any(|e| e.line == line) {
            self.evidence.push(Evidence { line, role });
            self.evidence.sort();
        }
        self
    }

    /// Sort key that makes output independent of thread scheduling.
    pub fn sort_key(&self) -> (&str, usize, usize, Rule, &str) {
        (&self.file, self.line, self.column, self.rule, &self.reason)
    }

    /// `file:line:col: warning: message [rule]`, as gcc and smatch print.
    pub fn to_text(&self) -> String {
        let mask = if self.mask.is_empty() {
            String::new()
        } else {
            format!(" (mask {})", self.mask)
        };
        let level = if self.rule.is_inventory() {
            "note"
        } else {
            "warning"
        };
        let mut s = format!(
            "{}:{}:{}: {level}: {}(): `{}`{}: {} [{}]",
            self.file,
            self.line,
            self.column,
            self.function,
            self.call,
            mask,
            self.reason,
            self.rule
        );
        for step in &self.chain {
            s.push_str(&format!(
                "\n    {}:{}: {}(): {}",
                step.file, step.line, step.function, step.note
            ));
        }
        s
    }
}
