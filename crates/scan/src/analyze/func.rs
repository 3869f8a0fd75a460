//! Questions the rules ask about one analysed function: its gfp
//! arguments, the scopes open at a call, the lines and steps they report.

use super::{FileCtx, Func, ScopeCall};
use crate::finding::Finding;
use crate::rule::Rule;
use crate::syntax::{collapse_ws, line_col, text};
use tree_sitter::Node;

impl<'a, 't> Func<'a, 't> {
    /// An argument that carries a gfp mask: it names a gfp flag, a gfp_t
    /// variable, or a same-file macro that does.
    pub(super) fn is_gfp_arg(&self, arg: Node<'t>) -> bool {
        let t = text(arg, self.src);
        if t.contains("GFP_") {
            return mask_shaped(arg);
        }
        match arg.kind() {
            "identifier" => {
                self.gfp_typed.contains(t)
                    || self.eval.defines.get(t).is_some_and(|d| d.contains("GFP_"))
            }
            "field_expression" => arg
                .child_by_field_name("field")
                .is_some_and(|f| text(f, self.src).contains("gfp")),
            // A mask helper's result (`kmem_flags_convert(KM_NOFS)`).
            "call_expression" => self.eval.call_value(arg, 0).is_some(),
            _ => false,
        }
    }

    /// Location, function and call text for a finding.
    pub fn finding(
        &self,
        file: &FileCtx<'_>,
        rule: Rule,
        at: Node<'_>,
        call: Node<'_>,
        mask: String,
        reason: String,
    ) -> Finding {
        let (line, column) = self.line_col(at.start_byte());
        let line = line + self.line_offset;
        let mut call_text = collapse_ws(text(call, self.src));
        if call_text.len() > 160 {
            let mut cut = 157;
            while !call_text.is_char_boundary(cut) {
                cut -= 1;
            }
            call_text.truncate(cut);
            call_text.push_str("...");
        }
        Finding {
            rule,
            file: file.path.to_string(),
            line,
            column,
            function: self.name.clone(),
            call: call_text,
            mask,
            reason,
            evidence: vec![crate::finding::Evidence {
                line,
                role: rule.site_role(),
            }],
            chain: Vec::new(),
        }
    }

    pub fn line_of(&self, n: Node<'_>) -> usize {
        self.line_at(n.start_byte())
    }

    /// A chain step at node `at` of this function: where a finding's
    /// chain starts (the allocation, the opener, the way out).
    pub fn step(
        &self,
        file: &FileCtx<'_>,
        at: Node<'_>,
        note: impl Into<String>,
    ) -> crate::summary::ChainStep {
        crate::summary::ChainStep {
            file: file.path.to_string(),
            line: self.line_of(at),
            function: self.name.clone(),
            note: note.into(),
        }
    }

    /// File line of a byte offset into the region.
    pub fn line_at(&self, pos: usize) -> usize {
        self.line_col(pos).0 + self.line_offset
    }

    /// Line (within the region) and column of a byte offset.
    pub(super) fn line_col(&self, pos: usize) -> (usize, usize) {
        if self.lines.newlines_known() {
            self.lines.line_col(self.src, pos)
        } else {
            line_col(self.src, pos)
        }
    }

    /// Scopes opened before `pos` in this function and not yet closed.
    pub fn open_scopes_at(&self, pos: usize) -> Vec<&ScopeCall<'t>> {
        // Scopes nest (include/linux/sched/mm.h): in text order, a restore
        // closes the latest open save of its kind and variable. Paired
        // functions carry no variable, so ext4_journal_stop() closes the
        // handle ext4_journal_start() opened after
        // ext4_writepages_down_read(), not the outer scope as well.
        let mut events: Vec<(usize, bool, usize)> = Vec::new();
        for (i, s) in self.saves.iter().enumerate() {
            if s.call.end_byte() <= pos && !leaves_before(s.call, pos) {
                events.push((s.call.end_byte(), true, i));
            }
        }
        for (i, r) in self.restores.iter().enumerate() {
            if r.call.end_byte() <= pos && !leaves_before(r.call, pos) {
                events.push((r.call.start_byte(), false, i));
            }
        }
        events.sort_unstable();
        let mut open: Vec<usize> = Vec::new();
        for (_, is_save, i) in events {
            if is_save {
                open.push(i);
                continue;
            }
            let r = &self.restores[i];
            if let Some(k) = open.iter().rposition(|&j| self.saves[j].var == r.var) {
                open.remove(k);
            }
        }
        open.sort_unstable();
        open.into_iter().map(|i| &self.saves[i]).collect()
    }
}

/// Is `n` in a block that does not hold `pos` and returns or jumps away
/// after it (`if (IS_ERR(handle)) { up_read(ctx); return ...; }`, one
/// `case` of __ext4_ioctl() that starts, stops and returns)? Then what it
/// does is not on the way to `pos`.
fn leaves_before(n: Node<'_>, pos: usize) -> bool {
    let mut cur = n;
    while let Some(p) = cur.parent() {
        // `return xfs_file_ioctl(...)` in another case: the function is left.
        if p.kind() == "return_statement" && !(p.start_byte() <= pos && pos < p.end_byte()) {
            return true;
        }
        if matches!(p.kind(), "compound_statement" | "case_statement") {
            if p.start_byte() <= pos && pos < p.end_byte() {
                return false;
            }
            let mut c = p.walk();
            return p.named_children(&mut c).any(|x| {
                x.start_byte() > n.end_byte()
                    && matches!(x.kind(), "return_statement" | "goto_statement")
            });
        }
        cur = p;
    }
    false
}

/// A gfp argument is a mask, not a test: flags combined with `| & ^ ~`,
/// casts, parentheses, ternaries, identifiers.
fn mask_shaped(n: Node<'_>) -> bool {
    match n.kind() {
        "identifier" | "number_literal" => true,
        "parenthesized_expression"
        | "cast_expression"
        | "conditional_expression"
        | "binary_expression" => n
            .child_by_field_name("operator")
            .is_none_or(|o| matches!(o.kind(), "|" | "&" | "^")),
        "unary_expression" => n
            .child_by_field_name("operator")
            .is_some_and(|o| o.kind() == "~"),
        _ => false,
    }
}
