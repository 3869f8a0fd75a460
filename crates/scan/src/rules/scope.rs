//! `scope-unbalanced`: a `memalloc_*_save()` with a path out of the
//! function that skips its restore, or a restore of the other kind.

use crate::analyze::{FileCtx, Func, ScopeCall};
use crate::finding::Finding;
use crate::rule::Rule;
use crate::syntax::{collect, contains, squash, text};
use tree_sitter::Node;

pub(super) fn scope_unbalanced(file: &FileCtx<'_>, func: &Func<'_, '_>, out: &mut Vec<Finding>) {
    for r in &func.restores {
        let Some(var) = &r.var else { continue };
        if let Some(s) = func
            .saves
            .iter()
            .find(|s| s.var.as_ref() == Some(var) && s.kind != r.kind)
            && !func
                .saves
                .iter()
                .any(|x| x.var.as_ref() == Some(var) && x.kind == r.kind)
        {
            out.push(func.finding(
                file,
                Rule::ScopeUnbalanced,
                r.call,
                r.call,
                String::new(),
                format!(
                    "memalloc_{}_restore() restores flags saved by memalloc_{}_save() at line {}",
                    r.kind.name(),
                    s.kind.name(),
                    func.line_of(s.call)
                ),
            ).with_evidence(func.line_of(s.call), "memalloc save"));
        }
    }
    for s in func.saves.iter().filter(|s| s.local) {
        let Some(var) = &s.var else { continue };
        let restores: Vec<_> = func
            .restores
            .iter()
            .filter(|r| r.var.as_ref() == Some(var))
            .collect();
        if restores.is_empty() {
            // The saved flags may be handed on (stored, passed): a scope spanning functions.
            let uses = collect(func.body, |n| {
                n.kind() == "identifier" && n.utf8_text(func.src.as_bytes()).is_ok_and(|t| t == var)
            })
            .len();
            if uses <= 1 {
                out.push(func.finding(
                    file,
                    Rule::ScopeUnbalanced,
                    s.call,
                    s.call,
                    String::new(),
                    format!(
                        "memalloc_{}_save() is never restored in this function",
                        s.kind.name()
                    ),
                ));
            }
            continue;
        }
        let start = s.call.end_byte();
        let mut exits: Vec<(usize, Node<'_>)> = func
            .returns
            .iter()
            .filter(|r| r.start_byte() > start)
            .map(|r| (r.start_byte(), *r))
            .collect();
        if !body_ends_with_return(func.body) {
            exits.push((func.body.end_byte().saturating_sub(1), func.body));
        }
        for (pos, exit) in exits {
            if !reachable_from(s.call, pos, func.body) {
                continue;
            }
            let covered = restores.iter().any(|r| {
                let rp = r.call.start_byte();
                rp > start
                    && rp < pos
                    && restore_covers(r.call, s.call, pos, func.body, func.src)
                    && !func.gotos.iter().any(|(g, label)| {
                        let gp = g.start_byte();
                        gp > start
                            && gp < rp
                            && func
                                .labels
                                .get(label)
                                .is_some_and(|l| l.start_byte() > rp && l.start_byte() <= pos)
                            && !restores.iter().any(|r2| {
                                let p2 = r2.call.start_byte();
                                p2 > start
                                    && p2 < gp
                                    && restore_covers(r2.call, s.call, gp, func.body, func.src)
                            })
                    })
            }) || restored_on_back_edge(s.call, &restores, func.body);
            if !covered {
                let what = if exit.kind() == "return_statement" {
                    "return"
                } else {
                    "end of function"
                };
                out.push(func.finding(
                    file,
                    Rule::ScopeUnbalanced,
                    s.call,
                    s.call,
                    String::new(),
                    format!(
                        "the {what} at line {} leaves the memalloc_{}_save() scope without memalloc_{}_restore({var})",
                        if what == "return" { func.line_of(exit) } else { func.line_at(pos) },
                        s.kind.name(),
                        s.kind.name()
                    ),
                ).with_evidence(
                    if what == "return" { func.line_of(exit) } else { func.line_at(pos) },
                    "exit leaving the scope",
                ));
                break;
            }
        }
    }
}

fn is_branch_arm(n: Node<'_>, p: Node<'_>) -> bool {
    let branchy = matches!(
        p.kind(),
        "if_statement"
            | "else_clause"
            | "for_statement"
            | "while_statement"
            | "switch_statement"
            | "case_statement"
    );
    let field_is_n = |f: &str| p.child_by_field_name(f).is_some_and(|c| c.id() == n.id());
    branchy && !field_is_n("condition") && !field_is_n("initializer")
}

/// Does the restore run on the way from the save to the exit at `exit`?
/// Every branch arm holding the restore must also hold the save (the
/// restore closes the scope on every path the save opened it on) or the
/// exit (an early return that restores first), or be guarded by the same
/// condition as the save (`if (c) save(); ... if (c) restore();`).
pub(super) fn restore_covers(
    r: Node<'_>,
    s: Node<'_>,
    exit: usize,
    body: Node<'_>,
    src: &str,
) -> bool {
    let mut n = r;
    while let Some(p) = n.parent() {
        if p.id() == body.id() {
            return true;
        }
        if is_branch_arm(n, p) && !contains(n, s.start_byte()) && !contains(n, exit) {
            let guard = if p.kind() == "if_statement" {
                Some(p)
            } else {
                p.parent().filter(|g| g.kind() == "if_statement")
            };
            let cond = guard
                .and_then(|g| g.child_by_field_name("condition"))
                .map(|c| squash(text(c, src)));
            if cond.is_none_or(|c| !guarded_by(s, &c, src)) {
                return false;
            }
        }
        n = p;
    }
    true
}

fn guarded_by(s: Node<'_>, cond: &str, src: &str) -> bool {
    let mut n = s;
    // `if (suspend)` where every save sits in a block that also sets
    // `suspend = true;` (md_start_sync() in drivers/md/md.c, 6.12: both
    // `memalloc_noio_save()` calls set it, the restores test it).
    let flag = cond
        .strip_prefix('(')
        .and_then(|c| c.strip_suffix(')'))
        .filter(|c| !c.is_empty() && c.chars().all(|x| x.is_ascii_alphanumeric() || x == '_'));
    while let Some(p) = n.parent() {
        if p.kind() == "if_statement"
            && p.child_by_field_name("condition")
                .is_some_and(|c| squash(text(c, src)) == cond)
        {
            return true;
        }
        if p.kind() == "compound_statement"
            && let Some(v) = flag
            && sets_flag_before(p, s.start_byte(), v, src)
        {
            return true;
        }
        n = p;
    }
    false
}

/// The block sets `v = true;` (or `= 1`) as a statement of its own before
/// byte `at`: whoever reaches `at` through it has the flag set.
fn sets_flag_before(block: Node<'_>, at: usize, v: &str, src: &str) -> bool {
    let mut c = block.walk();
    block
        .named_children(&mut c)
        .filter(|n| n.kind() == "expression_statement" && n.end_byte() <= at)
        .any(|n| {
            let t = squash(text(n, src));
            t == format!("{v}=true;") || t == format!("{v}=1;")
        })
}

/// An exit in the other arm of an `if` than the save cannot follow it.
pub(super) fn reachable_from(s: Node<'_>, exit: usize, body: Node<'_>) -> bool {
    let mut n = s;
    while let Some(p) = n.parent() {
        if p.id() == body.id() || crate::syntax::is_loop(p.kind()) {
            return true;
        }
        if contains(p, exit) {
            return !(matches!(p.kind(), "if_statement" | "else_clause")
                && is_branch_arm(n, p)
                && !contains(n, exit));
        }
        n = p;
    }
    true
}

/// A save inside a loop whose body restores the same flags earlier: the
/// scope is closed on the next iteration (nfs4_state_manager's pattern).
fn restored_on_back_edge(s: Node<'_>, restores: &[&ScopeCall<'_>], body: Node<'_>) -> bool {
    let mut n = s;
    while let Some(p) = n.parent() {
        if p.id() == body.id() {
            return false;
        }
        if crate::syntax::is_loop(p.kind()) {
            return restores
                .iter()
                .any(|r| contains(p, r.call.start_byte()) && r.call.start_byte() < s.start_byte());
        }
        n = p;
    }
    false
}

/// Control cannot fall off the end: the last statement returns or jumps
/// back (`decrypt_err: ... goto out;` after `out: memalloc_nofs_restore();
/// return;` in bcachefs's __bch2_read_endio(), 6.12).
fn body_ends_with_return(body: Node<'_>) -> bool {
    let mut c = body.walk();
    let mut last = body
        .named_children(&mut c)
        .filter(|n| n.kind() != "comment")
        .last();
    while let Some(n) = last.filter(|n| n.kind() == "labeled_statement") {
        let mut c = n.walk();
        last = n
            .named_children(&mut c)
            .filter(|x| !matches!(x.kind(), "comment" | "statement_identifier"))
            .last();
    }
    last.is_some_and(|n| matches!(n.kind(), "return_statement" | "goto_statement"))
}
