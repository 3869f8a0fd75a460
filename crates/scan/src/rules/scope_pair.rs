//! `scope-unbalanced` across functions: a function that opens a scope by
//! calling an opener (`xfs_trans_alloc()`, whose `xfs_trans_set_context()`
//! stores `memalloc_nofs_save()` in `tp->t_pflags`; jbd2's
//! `start_this_handle()`), closes it with the paired closer on some path
//! (`xfs_trans_commit()`/`xfs_trans_cancel()`, `jbd2_journal_stop()`), and
//! returns on another path with neither: the task keeps PF_MEMALLOC_NOFS
//! after the transaction is gone.

use super::scope::{reachable_from, restore_covers};
use crate::analyze::{FileCtx, Func};
use crate::finding::Finding;
use crate::rule::Rule;
use crate::syntax::{call_args, collect, contains, has_word, squash, text, value_parent};
use tree_sitter::Node;

pub(super) fn paired_scopes(file: &FileCtx<'_>, func: &Func<'_, '_>, out: &mut Vec<Finding>) {
    let src = func.src;
    for s in func.saves.iter().filter(|s| s.via.is_some()) {
        // `return ext4_write_begin(...)`: the scope goes to the caller,
        // and no later return is reached from here.
        if crate::syntax::value_parent(s.call).is_some_and(|p| p.kind() == "return_statement") {
            continue;
        }
        let opener = s.via.as_deref().unwrap_or("");
        let closers: Vec<_> = func
            .restores
            .iter()
            .filter(|r| {
                r.via.is_some() && r.kind == s.kind && r.call.start_byte() > s.call.end_byte()
            })
            .collect();
        // Without any closer the function hands the scope on (a wrapper
        // such as xfs_trans_alloc_inode); nothing to compare against.
        if closers.is_empty() {
            continue;
        }
        let mut handles = handle_vars(s.call, src);
        // The result is a handle (not a status) when a closer takes it:
        // `handle = jbd2__journal_start(...)` ... `jbd2_journal_stop(handle)`.
        if let Some(r) = status_var(s.call, src)
            && closers
                .iter()
                .any(|c| call_args(c.call).iter().any(|a| squash(text(*a, src)) == r))
        {
            handles.push(r);
        }
        if handles.iter().any(|h| escapes(func, h)) {
            continue;
        }
        if caller_owned(func, s.call, &closers) {
            continue;
        }
        let status = status_var(s.call, src);
        for r in func
            .returns
            .iter()
            .filter(|r| r.start_byte() > s.call.end_byte())
        {
            let pos = r.start_byte();
            if !reachable_from(s.call, pos, func.body) {
                continue;
            }
            if is_failure_exit(*r, s.call, status.as_deref(), func)
                || split_by_result(s.call, pos, status.as_deref(), func)
            {
                continue;
            }
            // Only a return that is an error by its text is judged: a
            // success return with the scope open is how an opener hands
            // the scope to its caller (ext4_write_begin() returns with
            // the handle open and ext4_write_end() stops it), and `return
            // ret;` may be either.
            if !error_return(*r, src) {
                continue;
            }
            let closed = closers.iter().any(|c| {
                contains(*r, c.call.start_byte())
                    || (c.call.start_byte() < pos
                        && restore_covers(c.call, s.call, pos, func.body, src))
                    || both_arms_close(c.call, &closers).is_some_and(|i| {
                        i.end_byte() <= pos && restore_covers(i, s.call, pos, func.body, src)
                    })
                    || guarded_by_handle(c.call, &handles, status.as_deref(), src).is_some_and(
                        |i| i.end_byte() <= pos && restore_covers(i, s.call, pos, func.body, src),
                    )
            });
            if closed {
                continue;
            }
            let closer_names: Vec<String> = {
                let mut v: Vec<String> = closers
                    .iter()
                    .filter_map(|c| c.via.clone())
                    .map(|n| format!("{n}()"))
                    .collect();
                v.sort();
                v.dedup();
                v
            };
            out.push(leaves_open(
                file,
                func,
                s,
                *r,
                format!(
                    "the return at line {} leaves the {} scope that {opener}() opened at line {} open: it calls none of {} that close it on the other paths",
                    func.line_of(*r),
                    s.kind.name(),
                    func.line_of(s.call),
                    closer_names.join(", ")
                ),
                "returns with the scope open",
            ));
            break;
        }
        if let Some(f) = goto_past_closers(file, func, s, &closers, status.as_deref()) {
            out.push(f);
        }
    }
}

/// A forward `goto` after the opener that jumps over every closer on its
/// way (some closer lies between the jump and its label, none after the
/// label): the path leaves with the scope open. The opener's own failure
/// check (`if (error) goto out;` right after `xfs_trans_alloc()`) is not
/// such a jump.
fn goto_past_closers(
    file: &FileCtx<'_>,
    func: &Func<'_, '_>,
    s: &crate::analyze::ScopeCall<'_>,
    closers: &[&crate::analyze::ScopeCall<'_>],
    status: Option<&str>,
) -> Option<Finding> {
    let opener = s.via.as_deref().unwrap_or("");
    // A call that closes and reopens (ext4_journal_ensure_credits()
    // restarting the handle it was given) opens nothing new here.
    if func.restores.iter().any(|r| r.call.id() == s.call.id()) {
        return None;
    }
    // The opener's result as assigned (`ctxt.handle = ocfs2_start_trans()`).
    let assigned = value_parent(s.call).and_then(|p| {
        (p.kind() == "assignment_expression")
            .then(|| p.child_by_field_name("left"))
            .flatten()
            .map(|l| squash(text(l, func.src)))
    });
    let status = status.or(assigned.as_deref());
    for (g, label) in &func.gotos {
        let pos = g.start_byte();
        if pos <= s.call.end_byte() || !reachable_from(s.call, pos, func.body) {
            continue;
        }
        if is_failure_exit(*g, s.call, status, func) || tests_status(*g, status, func) {
            continue;
        }
        let Some(l) = func.labels.get(label) else {
            continue;
        };
        let target = l.start_byte();
        if target <= pos {
            continue;
        }
        let skipped = closers
            .iter()
            .any(|c| c.call.start_byte() > g.end_byte() && c.call.start_byte() < target);
        let after = closers.iter().any(|c| c.call.start_byte() > target);
        // Closed already on the way to the jump (`error =
        // xfs_trans_commit(tp); if (error) goto out_unlock;`).
        let before = closers.iter().any(|c| {
            c.call.start_byte() < pos
                && (contains(*g, c.call.start_byte())
                    || restore_covers(c.call, s.call, pos, func.body, func.src))
        });
        // The labelled code jumps on to a label with a closer after it
        // (move_extent_per_page(): repair_branches: ... goto
        // unlock_folios; which falls into stop_journal:).
        let onward = func.gotos.iter().any(|(g2, l2)| {
            g2.start_byte() > target
                && func.labels.get(l2).is_some_and(|n2| {
                    closers
                        .iter()
                        .any(|c| c.call.start_byte() > n2.start_byte())
                })
        });
        if !skipped || after || before || onward {
            continue;
        }
        return Some(leaves_open(
            file,
            func,
            s,
            *g,
            format!(
                "the goto at line {} jumps past every closer of the {} scope that {opener}() opened at line {} (to {label}:, line {}), so that path leaves with the scope open",
                func.line_of(*g),
                s.kind.name(),
                func.line_of(s.call),
                func.line_of(*l)
            ),
            format!("goto {label} skips the closers"),
        ));
    }
    None
}

/// A `scope-unbalanced` finding at the way out `exit` that leaves the scope
/// `s` opened; its chain is the opener, then that way out.
fn leaves_open(
    file: &FileCtx<'_>,
    func: &Func<'_, '_>,
    s: &crate::analyze::ScopeCall<'_>,
    exit: Node<'_>,
    message: String,
    how: impl Into<String>,
) -> Finding {
    let opener = s.via.as_deref().unwrap_or("");
    let mut f = func.finding(
        file,
        Rule::ScopeUnbalanced,
        exit,
        s.call,
        String::new(),
        message,
    );
    f.chain = vec![
        func.step(
            file,
            s.call,
            format!("{opener}() opens a {} scope", s.kind.name()),
        ),
        func.step(file, exit, how),
    ];
    f
}

/// The objects an opener stores the scope in: `&tp` and `tp` arguments.
/// A closer under a test of the handle itself (`end_rmdir: if (handle)
/// ext4_journal_stop(handle);` in ext4_rmdir(), `if (handle)
/// ocfs2_commit_trans(osb, handle)`): the test asks whether the scope was
/// opened, so the `if` closes it on every path that opened it. The `if`
/// is returned as the closing point.
fn guarded_by_handle<'t>(
    c: Node<'t>,
    handles: &[String],
    status: Option<&str>,
    src: &str,
) -> Option<Node<'t>> {
    let mut n = c;
    while let Some(p) = n.parent() {
        if p.kind() == "if_statement" {
            let cond = squash(text(p.child_by_field_name("condition")?, src));
            let tests = handles
                .iter()
                .map(String::as_str)
                .chain(status)
                .any(|h| has_word(&cond, h));
            return tests.then_some(p);
        }
        if p.kind() == "compound_statement"
            && p.parent().is_some_and(|g| g.kind() != "if_statement")
        {
            return None;
        }
        n = p;
    }
    None
}

/// `return -ENOMEM;`, `return ERR_PTR(...)`, `return PTR_ERR(...)`,
/// `return NULL;`: a return whose text says it is a failure.
fn error_return(r: Node<'_>, src: &str) -> bool {
    let t = squash(text(r, src));
    let v = t.trim_start_matches("return").trim_end_matches(';');
    v.starts_with("-E") || v.starts_with("ERR_PTR(") || v.starts_with("PTR_ERR(") || v == "NULL"
}

/// The jump sits under a test of the opener's status (`if (error) goto
/// out_release_dquots;` after xfs_create()'s -ENOSPC retry of
/// xfs_trans_alloc_icreate()): the open may have failed on that path.
fn tests_status(g: Node<'_>, status: Option<&str>, func: &Func<'_, '_>) -> bool {
    let Some(v) = status else { return false };
    let mut n = g;
    while let Some(p) = n.parent() {
        if p.id() == func.body.id() {
            return false;
        }
        if p.kind() == "if_statement"
            && p.child_by_field_name("condition").is_some_and(|c| {
                let t = squash(text(c, func.src));
                has_word(&t, v) || t.contains(v)
            })
        {
            return true;
        }
        n = p;
    }
    false
}

fn handle_vars(call: Node<'_>, src: &str) -> Vec<String> {
    call_args(call)
        .into_iter()
        .filter_map(|a| match a.kind() {
            "identifier" => Some(a),
            "pointer_expression" if text(a, src).starts_with('&') => {
                a.child_by_field_name("argument")
            }
            _ => None,
        })
        .filter(|a| a.kind() == "identifier")
        .map(|a| text(a, src).to_string())
        .collect()
}

/// The `if` whose then- and else-arm both call a closer, one of them `c`
/// (fsnotify_group_unlock() in both arms of nfsd_file_mark_find_or_create).
fn both_arms_close<'t>(
    c: Node<'t>,
    closers: &[&crate::analyze::ScopeCall<'t>],
) -> Option<Node<'t>> {
    let mut n = c;
    while let Some(p) = n.parent() {
        if p.kind() == "if_statement" {
            let (Some(then), Some(alt)) = (
                p.child_by_field_name("consequence"),
                p.child_by_field_name("alternative"),
            ) else {
                n = p;
                continue;
            };
            let in_arm = |arm: Node<'_>| closers.iter().any(|x| contains(arm, x.call.start_byte()));
            if in_arm(then) && in_arm(alt) {
                return Some(p);
            }
        }
        n = p;
    }
    None
}

/// The variable the opener's return value is stored in.
fn status_var(call: Node<'_>, src: &str) -> Option<String> {
    let p = value_parent(call)?;
    match p.kind() {
        "assignment_expression" => {
            let n = p.child_by_field_name("left")?;
            (n.kind() == "identifier").then(|| text(n, src).to_string())
        }
        // `handle_t *handle = jbd2__journal_start(...)`
        "init_declarator" => p
            .child_by_field_name("declarator")
            .and_then(|d| crate::syntax::declarator_name(d, src))
            .map(str::to_string),
        _ => None,
    }
}

/// The handle leaves the function (`*tpp = tp;`, `return tp;`): the
/// caller owns the scope now.
fn escapes(func: &Func<'_, '_>, var: &str) -> bool {
    let src = func.src;
    collect(func.body, |n| {
        matches!(n.kind(), "assignment_expression" | "return_statement")
    })
    .into_iter()
    .any(|n| match n.kind() {
        "assignment_expression" => {
            n.child_by_field_name("left")
                .is_some_and(|l| l.kind() != "identifier")
                && n.child_by_field_name("right")
                    .is_some_and(|r| squash(text(r, src)) == var)
        }
        _ => squash(text(n, src)) == format!("return{var};"),
    })
}

/// The return sits in the opener's own failure check: the first `if`
/// after `error = xfs_trans_alloc(...)` that tests `error`, or an `if`
/// that tests the call itself.
fn is_failure_exit(r: Node<'_>, call: Node<'_>, status: Option<&str>, func: &Func<'_, '_>) -> bool {
    let src = func.src;
    let first_check = status.and_then(|v| {
        collect(func.body, |n| n.kind() == "if_statement")
            .into_iter()
            .filter(|i| i.start_byte() > call.end_byte())
            .find(|i| {
                i.child_by_field_name("condition")
                    .is_some_and(|c| has_word(text(c, src), v))
            })
    });
    let mut n = r;
    while let Some(p) = n.parent() {
        if p.id() == func.body.id() {
            return false;
        }
        if p.kind() == "if_statement"
            && let Some(c) = p.child_by_field_name("condition")
            && p.child_by_field_name("consequence")
                .is_some_and(|x| contains(x, r.start_byte()))
            && (contains(c, call.start_byte()) || first_check.is_some_and(|f| f.id() == p.id()))
        {
            return true;
        }
        n = p;
    }
    false
}

/// The object that carries the scope belongs to the caller: the opener
/// and its closers reach it from the same parameter, and the function
/// passes no local of its own (`&tp`) to the opener. fs/xfs/scrub in 6.12:
/// `xchk_trans_alloc_empty(sc)` stores the transaction in `sc->tp`,
/// `xchk_trans_cancel(sc)` cancels it, and the scrub teardown
/// `xchk_teardown()` cancels whatever a setup or repair step left there
/// (`xrep_dir_scan_dirtree()` returns `-ECANCELED` with it open;
/// `xrep_xattr_rebuild_tree()` reaches it as `sc = rx->sc`). A return with
/// it open hands the scope on, as `*tpp = tp;` does. When the opener's
/// result is the handle a closer takes (`handle = ocfs2_start_trans(osb,
/// ..)` ... `ocfs2_commit_trans(osb, handle)`), that result is the carrier
/// and a shared parameter (`osb`) says nothing.
fn caller_owned(
    func: &Func<'_, '_>,
    opener: Node<'_>,
    closers: &[&crate::analyze::ScopeCall<'_>],
) -> bool {
    let src = func.src;
    let Some(params) = func.eval.ext.as_ref().map(|e| &e.params) else {
        return false;
    };
    let closer_args: Vec<String> = closers
        .iter()
        .flat_map(|c| call_args(c.call))
        .map(|a| squash(text(a, src)))
        .collect();
    if status_var(opener, src).is_some_and(|v| closer_args.contains(&v)) {
        return false;
    }
    // The parameter a path starts from: itself, or through one local
    // alias (`struct xfs_scrub *sc = rx->sc;`).
    let param_root = |arg: &str| -> Option<String> {
        let r = root_ident(arg)?;
        if params.iter().any(|p| p == r) {
            return Some(r.to_string());
        }
        let defs = func.eval.defs.get(r)?;
        let [d] = defs.as_slice() else { return None };
        let rhs = squash(text(d.rhs, src));
        let q = root_ident(&rhs)?;
        (rhs.len() > q.len() && params.iter().any(|p| p == q)).then(|| q.to_string())
    };
    let opener_args: Vec<String> = call_args(opener)
        .into_iter()
        .map(|a| squash(text(a, src)))
        .collect();
    // `&tp` of a local: the function owns the carrier.
    if opener_args
        .iter()
        .any(|a| a.starts_with('&') && param_root(a).is_none())
    {
        return false;
    }
    let closer_roots: Vec<String> = closer_args.iter().filter_map(|a| param_root(a)).collect();
    opener_args
        .iter()
        .filter_map(|a| param_root(a))
        .any(|r| closer_roots.contains(&r))
}

/// The variable an lvalue-like argument starts from: `&sc->tp`, `sc`,
/// `rd->sc`, `&ctx.tp` -> `sc`, `sc`, `rd`, `ctx`; `None` for anything
/// that is not such a path (a call, arithmetic, a constant).
fn root_ident(arg: &str) -> Option<&str> {
    let a = arg.trim_start_matches(['&', '*', '(']);
    let end = a
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(a.len());
    let (root, rest) = a.split_at(end);
    let path = rest.is_empty()
        || rest
            .strip_prefix("->")
            .or_else(|| rest.strip_prefix('.'))
            .is_some_and(|r| {
                r.chars().all(|c| {
                    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' || c == '>'
                })
            });
    (!root.is_empty() && root.starts_with(|c: char| !c.is_ascii_digit()) && path).then_some(root)
}

/// The opener's result splits its outcomes beyond failure: after its
/// failure check a second test of the unchanged result returns
/// (`if (ret < 0) return ret; if (ret == 1) return 0;` after
/// `ext4_try_to_write_inline_data()` in ext4_write_begin() (6.12), which
/// returns 1 with the handle open for ext4_write_inline_data_end() and 0
/// after stopping it). Past that test the scope is open on one outcome
/// only, and which one the text does not say: exits after it are not
/// judged.
fn split_by_result(
    opener: Node<'_>,
    exit: usize,
    status: Option<&str>,
    func: &Func<'_, '_>,
) -> bool {
    let Some(v) = status else { return false };
    let src = func.src;
    let reassigned_before = |at: usize| {
        func.eval.defs.get(v).is_some_and(|ds| {
            ds.iter()
                .any(|d| d.var_start > opener.end_byte() && d.var_start < at)
        })
    };
    let tests: Vec<Node<'_>> = collect(func.body, |n| n.kind() == "if_statement")
        .into_iter()
        .filter(|i| i.start_byte() > opener.end_byte() && i.end_byte() <= exit)
        .filter(|i| {
            i.child_by_field_name("condition")
                .is_some_and(|c| has_word(text(c, src), v))
        })
        .take_while(|i| !reassigned_before(i.start_byte()))
        .collect();
    tests.iter().skip(1).any(|i| {
        i.child_by_field_name("consequence").is_some_and(|c| {
            c.kind() == "return_statement"
                || !collect(c, |n| n.kind() == "return_statement").is_empty()
        })
    })
}
