//! Effective gfp mask of a C expression at a point in a function.
//!
//! Every gfp question goes to the model: the expression is rewritten into
//! the model's gfp expression language (`reclaimscope_model::gfp::parse_expr`)
//! with placeholders for the parts tree-sitter sees but the model does not
//! (locals, `#define`s, ternaries, calls), and placeholders are resolved to
//! abstract `GfpValue`s computed here.

use crate::syntax::{contains, text};
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

/// What the evaluator asks the whole-tree index (`summary.rs` answers):
/// masks returned by helpers, parameters as callers pass them, and macros
/// defined in other files.
pub trait Resolver: Sync {
    /// The gfp a call to `callee` from `from_file` returns, given its
    /// argument values; `None` when the callee is not a known mask helper.
    fn call_value(
        &self,
        callee: &str,
        from_file: &str,
        args: &[GfpValue],
        depth: u32,
    ) -> Option<GfpValue>;
    /// Parameter `idx` of `func` in `file`: the join of what every caller
    /// passes, or unknown when a caller is missing.
    fn param_value(&self, file: &str, func: &str, idx: usize, depth: u32) -> GfpValue;
    /// Body of an object-like macro `#define`d anywhere in the tree.
    fn define_body(&self, name: &str) -> Option<String>;
}

/// The interprocedural context of one evaluation.
pub struct Ext<'a> {
    pub resolver: &'a dyn Resolver,
    pub file: &'a str,
    pub func: String,
    /// Parameter names in order.
    pub params: Vec<String>,
    /// Values bound to the parameters (a summary instantiated at a call),
    /// or `None`: ask the callers.
    pub bindings: Option<Vec<GfpValue>>,
    /// Call depth of this evaluation; the resolver bounds it.
    pub depth: u32,
}

pub struct Evaluator<'a, 't> {
    pub src: &'a str,
    /// Whole-tree context, when a tree was indexed.
    pub ext: Option<Ext<'a>>,
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

/// The backward `goto`s of a function body, as `(label, goto)` byte
/// offsets, from the nodes of the body's one walk (`nodes`: its labeled
/// statements among others, in text order; `gotos`: each `goto` and its
/// label), so the body is not walked again.
pub fn back_edges(
    nodes: &[Node<'_>],
    gotos: &[(Node<'_>, String)],
    src: &str,
) -> Vec<(usize, usize)> {
    let labels: Vec<(&str, usize)> = nodes
        .iter()
        .filter(|n| n.kind() == "labeled_statement")
        .filter_map(|n| Some((text(n.child_by_field_name("label")?, src), n.start_byte())))
        .collect();
    gotos
        .iter()
        .filter_map(|(g, l)| {
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
            "call_expression" => {
                let v = self.call_value(node, depth).unwrap_or(GfpValue::UNKNOWN);
                push_hole(out, holes, v);
            }
            _ => push_hole(out, holes, GfpValue::UNKNOWN),
        }
    }

    /// The mask a helper call returns (`massage_gfp_flags(dev, gfp)`,
    /// `kmem_flags_convert(flags)`), from the callee's summary.
    pub fn call_value(&self, call: Node<'t>, depth: u32) -> Option<GfpValue> {
        let ext = self.ext.as_ref()?;
        let name = crate::syntax::call_name(call, self.src)?;
        let args: Vec<GfpValue> = crate::syntax::call_args(call)
            .into_iter()
            .map(|a| self.eval_depth(a, depth + 1))
            .collect();
        ext.resolver
            .call_value(name, ext.file, &args, ext.depth + 1)
    }

    /// A parameter's value: bound by an instantiated summary, or the join
    /// of what the callers pass; a macro otherwise.
    fn base_value(&self, name: &str, depth: u32) -> GfpValue {
        if let Some(ext) = &self.ext
            && let Some(i) = ext.params.iter().position(|p| p == name)
        {
            return match &ext.bindings {
                Some(b) => b.get(i).copied().unwrap_or(GfpValue::UNKNOWN),
                None => ext
                    .resolver
                    .param_value(ext.file, &ext.func, i, ext.depth + 1),
            };
        }
        self.define_value(name, depth)
    }

    /// `Some(true)` when `n` is surely non-zero, `Some(false)` when surely 0.
    fn truth(&self, n: Node<'t>, depth: u32) -> Option<bool> {
        match n.kind() {
            "parenthesized_expression" => self.truth(n.named_child(0)?, depth),
            "unary_expression" => {
                let op = text(n.child_by_field_name("operator")?, self.src);
                (op == "!")
                    .then(|| self.truth(n.child_by_field_name("argument")?, depth))?
                    .map(|t| !t)
            }
            "binary_expression" | "identifier" | "number_literal" => {
                let v = self.eval_depth(n, depth + 1);
                if !v.must.is_empty() {
                    Some(true)
                } else if v.may.is_empty() {
                    Some(false)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Does the write at `def` run on every path to `pos` (`Some(true)`),
    /// maybe (`Some(false)`), or never (`None`, an `if` whose condition is
    /// known false under the bound parameters: `kmem_flags_convert(KM_NOFS)`
    /// takes the `flags & KM_NOFS` arm and no other)?
    fn dominance(&self, def: Node<'t>, pos: usize, depth: u32) -> Option<bool> {
        let mut n = def;
        let mut sure = true;
        while let Some(p) = n.parent() {
            if p.id() == self.body.id() {
                break;
            }
            let arm = |f: &str| p.child_by_field_name(f).is_some_and(|c| c.id() == n.id());
            let guard = if p.kind() == "if_statement" && arm("consequence") {
                p.child_by_field_name("condition")
                    .and_then(|c| self.truth(c, depth))
            } else if p.kind() == "else_clause" {
                p.parent()
                    .and_then(|i| i.child_by_field_name("condition"))
                    .and_then(|c| self.truth(c, depth))
                    .map(|t| !t)
            } else {
                None
            };
            match guard {
                Some(false) if !contains(n, pos) => return None,
                Some(true) => {}
                _ => {
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
                    let always_runs =
                        arm("condition") || arm("initializer") || p.kind() == "do_statement";
                    if branchy && !always_runs && !contains(n, pos) {
                        sure = false;
                    }
                }
            }
            n = p;
        }
        Some(sure)
    }

    /// Value of variable or macro `name` as seen at byte `pos`.
    pub fn var_value(&self, name: &str, pos: usize, depth: u32) -> GfpValue {
        if depth > MAX_DEPTH {
            return GfpValue::UNKNOWN;
        }
        let Some(defs) = self.defs.get(name) else {
            return self.base_value(name, depth);
        };
        let mut cur = self.base_value(name, depth);
        for d in defs
            .iter()
            .filter(|d| d.var_start < pos && !contains(d.node, pos))
        {
            let Some(sure) = self.dominance(d.node, pos, depth) else {
                continue;
            };
            let rhs = self.eval_depth(d.rhs, depth + 1);
            let next = match d.op {
                DefOp::Set => rhs,
                DefOp::Or => cur | rhs,
                DefOp::And => cur & rhs,
            };
            cur = if sure { next } else { cur.join(next) };
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
        let resolver = self.ext.as_ref().map(|e| e.resolver);
        match self.defines.get(name) {
            Some(body) => eval_define_with(body, self.defines, resolver, depth + 1),
            None => match resolver.and_then(|r| r.define_body(name)) {
                Some(body) => eval_define_with(&body, self.defines, resolver, depth + 1),
                None => GfpValue::UNKNOWN,
            },
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
/// Evaluate a `#define` body; other defines of the file resolve too, and
/// names the file does not define are looked up in
/// the whole tree through `resolver`. Casts (`(__force xfs_km_flags_t)`)
/// and integer suffixes (`0x0004u`) are dropped first.
pub fn eval_define_with(
    body: &str,
    defines: &HashMap<String, String>,
    resolver: Option<&dyn Resolver>,
    depth: u32,
) -> GfpValue {
    if depth > MAX_DEPTH {
        return GfpValue::UNKNOWN;
    }
    let cleaned = strip_casts(body);
    match parse_expr(&cleaned) {
        Ok(e) => e.eval(&mut |name: &str| {
            let b = defines
                .get(name)
                .cloned()
                .or_else(|| resolver.and_then(|r| r.define_body(name)))?;
            Some(eval_define_with(&b, defines, resolver, depth + 1))
        }),
        Err(_) => GfpValue::UNKNOWN,
    }
}

/// `((__force gfp_t)0x40u)` -> `((0x40))`: a parenthesised list of type
/// words followed by an operand is a cast; `u`/`U`/`l`/`L` after a number
/// are suffixes.
fn strip_casts(body: &str) -> String {
    const TYPE_WORDS: &[&str] = &[
        "__force",
        "unsigned",
        "int",
        "long",
        "gfp_t",
        "u32",
        "u64",
        "unsigned int",
    ];
    let mut out = String::with_capacity(body.len());
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'('
            && let Some(j) = body[i + 1..].find(')')
        {
            let inner = body[i + 1..i + 1 + j].trim();
            let words: Vec<&str> = inner.split_whitespace().collect();
            let after = body[i + 2 + j..].trim_start();
            let operand_follows = after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '(');
            let typeish = !words.is_empty()
                && words
                    .iter()
                    .all(|w| TYPE_WORDS.contains(w) || w.ends_with("_t") || w.starts_with("__"))
                && (words.contains(&"__force") || words.iter().all(|w| w.ends_with("_t")));
            if typeish && operand_follows {
                i += 2 + j;
                continue;
            }
        }
        if b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            out.push_str(body[start..i].trim_end_matches(['u', 'U', 'l', 'L']));
            continue;
        }
        let c = body[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}
