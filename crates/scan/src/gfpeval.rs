//! Effective gfp mask of a C expression at a point in a function.
//!
//! Every gfp question goes to the model: the expression is rewritten into
//! the model's gfp expression language (`reclaimscope_model::gfp::parse_expr`)
//! with placeholders for the parts tree-sitter sees but the model does not
//! (locals, `#define`s, ternaries, calls), and placeholders are resolved to
//! abstract `GfpValue`s computed here.

use crate::syntax::{collect, contains, text};
use reclaimscope_model::gfp::{Gfp, GfpValue, parse_expr};
use std::collections::HashMap;
use tree_sitter::Node;

/// Beyond this depth of define/variable chasing the value is unknown.
const MAX_DEPTH: u32 = 12;

/// Parentheses the rewritten text may nest before the rest of an
/// expression is unknown; below the model parser's own bound.
const MAX_EMIT_NESTING: usize = reclaimscope_model::gfp::MAX_NESTING - 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefOp {
    Set,
    Or,
    And,
}

/// A write to a local variable: `gfp = e`, `gfp |= e`, `gfp &= e`, or an
/// initialised declaration.
#[derive(Clone, Copy, Debug)]
pub struct Def<'t> {
    pub var_start: usize,
    /// The assignment or declarator node (its ancestors decide dominance).
    pub node: Node<'t>,
    pub op: DefOp,
    pub rhs: Node<'t>,
}

pub struct Evaluator<'a, 't> {
    pub src: &'a str,
    pub defines: &'a HashMap<String, String>,
    /// Writes per variable name, in source order.
    pub defs: HashMap<String, Vec<Def<'t>>>,
    /// The function body: dominance is judged below it.
    pub body: Node<'t>,
    /// Backward jumps `(target, jump)`: a `goto` at byte `jump` to a label
    /// at byte `target < jump`. A write after a use can reach the use
    /// through one of these (mempool_alloc's `goto repeat_alloc`).
    pub back_edges: Vec<(usize, usize)>,
}

/// The backward `goto`s of a function body, as `(label, goto)` byte offsets.
pub fn back_edges(body: Node<'_>, src: &str) -> Vec<(usize, usize)> {
    let labels: Vec<(String, usize)> = collect(body, |n| n.kind() == "labeled_statement")
        .into_iter()
        .filter_map(|n| {
            let l = n.child_by_field_name("label")?;
            Some((text(l, src).to_string(), n.start_byte()))
        })
        .collect();
    collect(body, |n| n.kind() == "goto_statement")
        .into_iter()
        .filter_map(|g| {
            let l = text(g.child_by_field_name("label")?, src);
            let (_, at) = labels.iter().find(|(name, _)| name == l)?;
            (*at < g.start_byte()).then_some((*at, g.start_byte()))
        })
        .collect()
}

impl<'a, 't> Evaluator<'a, 't> {
    /// Abstract value of expression `node` where it stands.
    pub fn eval(&self, node: Node<'t>) -> GfpValue {
        self.eval_depth(node, 0)
    }

    fn eval_depth(&self, node: Node<'t>, depth: u32) -> GfpValue {
        if depth > MAX_DEPTH {
            return GfpValue::UNKNOWN;
        }
        let mut text_out = String::new();
        let mut holes = Vec::new();
        self.emit(node, depth, 0, &mut text_out, &mut holes);
        evaluate_text(&text_out, &holes)
    }

    /// Rewrite `node` into model syntax; unsupported parts become `__rs_hole<N>`.
    /// `nest` counts the parentheses written around this point: past
    /// [`MAX_EMIT_NESTING`] the rest is an unknown hole, so the text always
    /// parses and this recursion stays shallow on hostile files. Runs of
    /// parentheses, casts and `~`, and chains of one binary operator, are
    /// walked in loops.
    fn emit(
        &self,
        node: Node<'t>,
        depth: u32,
        nest: usize,
        out: &mut String,
        holes: &mut Vec<GfpValue>,
    ) {
        if nest > MAX_EMIT_NESTING {
            return push_hole(out, holes, GfpValue::UNKNOWN);
        }
        // Peel `((x))`, `(gfp_t)x` and `~~x` without recursing.
        let mut node = node;
        let mut negate = false;
        loop {
            let next = match node.kind() {
                "parenthesized_expression" => node.named_child(0),
                "cast_expression" => node.child_by_field_name("value"),
                "unary_expression"
                    if node
                        .child_by_field_name("operator")
                        .is_some_and(|o| text(o, self.src) == "~") =>
                {
                    negate = !negate;
                    node.child_by_field_name("argument")
                }
                _ => break,
            };
            match next {
                Some(n) => node = n,
                None => return push_hole(out, holes, GfpValue::UNKNOWN),
            }
        }
        if negate {
            out.push_str("~(");
            self.emit_peeled(node, depth, nest + 1, out, holes);
            out.push(')');
        } else {
            self.emit_peeled(node, depth, nest, out, holes);
        }
    }

    /// [`Self::emit`] for a node that is not a parenthesis, cast or `~`.
    fn emit_peeled(
        &self,
        node: Node<'t>,
        depth: u32,
        nest: usize,
        out: &mut String,
        holes: &mut Vec<GfpValue>,
    ) {
        let t = text(node, self.src);
        match node.kind() {
            "identifier" => {
                if Gfp::lookup(t).is_some() {
                    out.push_str(t);
                } else {
                    let v = self.var_value(t, node.start_byte(), depth + 1);
                    push_hole(out, holes, v);
                }
            }
            "number_literal" => {
                let digits = t.trim_end_matches(['u', 'U', 'l', 'L']);
                out.push_str(digits);
            }
            "binary_expression" => {
                let bin_op = |n: Node<'t>| {
                    let op = n.child_by_field_name("operator").map(|o| text(o, self.src));
                    match (
                        n.child_by_field_name("left"),
                        op,
                        n.child_by_field_name("right"),
                    ) {
                        (Some(l), Some(op @ ("|" | "&" | "^")), Some(r)) => Some((l, op, r)),
                        _ => None,
                    }
                };
                let Some((mut left, op, right)) = bin_op(node) else {
                    return push_hole(out, holes, GfpValue::UNKNOWN);
                };
                // `a | b | c` is `((a | b) | c)` in the tree: walk the left
                // spine of the same operator in a loop.
                let mut rights = vec![right];
                while left.kind() == "binary_expression" {
                    match bin_op(left) {
                        Some((l, o, r)) if o == op => {
                            rights.push(r);
                            left = l;
                        }
                        _ => break,
                    }
                }
                out.push('(');
                self.emit(left, depth, nest + 1, out, holes);
                for r in rights.into_iter().rev() {
                    out.push_str(&format!(" {op} "));
                    self.emit(r, depth, nest + 1, out, holes);
                }
                out.push(')');
            }
            "conditional_expression" => {
                let a = node
                    .child_by_field_name("consequence")
                    .map(|n| self.eval_depth(n, depth + 1));
                let b = node
                    .child_by_field_name("alternative")
                    .map(|n| self.eval_depth(n, depth + 1));
                let v = match (a, b) {
                    (Some(a), Some(b)) => a.join(b),
                    _ => GfpValue::UNKNOWN,
                };
                push_hole(out, holes, v);
            }
            _ => push_hole(out, holes, GfpValue::UNKNOWN),
        }
    }

    /// Value of variable or macro `name` as seen at byte `pos`.
    pub fn var_value(&self, name: &str, pos: usize, depth: u32) -> GfpValue {
        if depth > MAX_DEPTH {
            return GfpValue::UNKNOWN;
        }
        let Some(defs) = self.defs.get(name) else {
            return self.define_value(name, depth);
        };
        let mut cur = self.define_value(name, depth);
        for d in defs
            .iter()
            .filter(|d| d.var_start < pos && !contains(d.node, pos))
        {
            let rhs = self.eval_depth(d.rhs, depth + 1);
            let next = match d.op {
                DefOp::Set => rhs,
                DefOp::Or => cur | rhs,
                DefOp::And => cur & rhs,
            };
            cur = if dominates(d.node, pos, self.body) {
                next
            } else {
                cur.join(next)
            };
        }
        // Writes after `pos` reach it only around a loop or a backward goto;
        // then the value at `pos` may be either.
        for d in defs.iter().filter(|d| d.var_start > pos) {
            if self.reaches_back(d.node, pos) {
                let rhs = self.eval_depth(d.rhs, depth + 1);
                let next = match d.op {
                    DefOp::Set => rhs,
                    DefOp::Or => cur | rhs,
                    DefOp::And => cur & rhs,
                };
                cur = cur.join(next);
            }
        }
        cur
    }

    /// A write at `def`, after `pos` in the text, can flow back to `pos`:
    /// both sit in one loop, or a backward goto jumps from after the write
    /// to before `pos`.
    fn reaches_back(&self, def: Node<'t>, pos: usize) -> bool {
        let mut n = def;
        while let Some(p) = n.parent() {
            if p.id() == self.body.id() {
                break;
            }
            let is_loop = matches!(
                p.kind(),
                "for_statement" | "while_statement" | "do_statement"
            );
            if is_loop && contains(p, pos) {
                return true;
            }
            n = p;
        }
        self.back_edges
            .iter()
            .any(|&(label, jump)| label <= pos && jump > def.start_byte())
    }

    /// Value of a same-file object-like `#define`, or unknown.
    fn define_value(&self, name: &str, depth: u32) -> GfpValue {
        match self.defines.get(name) {
            Some(body) => eval_define(body, self.defines, depth + 1),
            None => GfpValue::UNKNOWN,
        }
    }
}

fn push_hole(out: &mut String, holes: &mut Vec<GfpValue>, v: GfpValue) {
    out.push_str(&format!("__rs_hole{}", holes.len()));
    holes.push(v);
}

fn evaluate_text(expr: &str, holes: &[GfpValue]) -> GfpValue {
    match parse_expr(expr) {
        Ok(e) => e.eval(&mut |name: &str| {
            name.strip_prefix("__rs_hole")
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| holes.get(i).copied())
        }),
        Err(_) => GfpValue::UNKNOWN,
    }
}

/// Evaluate a `#define` body; other defines of the same file resolve too.
pub fn eval_define(body: &str, defines: &HashMap<String, String>, depth: u32) -> GfpValue {
    if depth > MAX_DEPTH {
        return GfpValue::UNKNOWN;
    }
    match parse_expr(body) {
        Ok(e) => e.eval(&mut |name: &str| {
            defines
                .get(name)
                .map(|b| eval_define(b, defines, depth + 1))
        }),
        Err(_) => GfpValue::UNKNOWN,
    }
}

/// Does the write at `def` happen on every path that reaches byte `pos`?
/// Structural approximation: every branch or loop body that holds the
/// write must also hold `pos` (a write in an `if` arm or loop body that
/// `pos` is outside of may not have happened).
pub fn dominates(def: Node<'_>, pos: usize, body: Node<'_>) -> bool {
    let mut n = def;
    while let Some(p) = n.parent() {
        if p.id() == body.id() {
            return true;
        }
        let branchy = matches!(
            p.kind(),
            "if_statement"
                | "else_clause"
                | "for_statement"
                | "while_statement"
                | "do_statement"
                | "switch_statement"
                | "case_statement"
                | "conditional_expression"
        );
        let field_is_n = |f: &str| p.child_by_field_name(f).is_some_and(|c| c.id() == n.id());
        let always_runs =
            field_is_n("condition") || field_is_n("initializer") || p.kind() == "do_statement";
        if branchy && !always_runs && !contains(n, pos) {
            return false;
        }
        n = p;
    }
    true
}
