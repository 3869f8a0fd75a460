//! The `__GFP_NORETRY` family: `noretry-useless`, `noretry-vs-retry-mayfail`,
//! `noretry-no-fallback`, `noretry-fallback-keeps-flag`. Whether the flag can
//! matter is the model's slow path's answer (`alloc::may_direct_reclaim`,
//! `slow_path().retries`); what the caller does with a NULL is read here.

use super::mask_text;
use crate::analyze::{AllocCall, FileCtx, Func};
use crate::finding::Finding;
use crate::index::CallSite;
use crate::rule::Rule;
use crate::summary::{ChainStep, Interproc, call_at};
use crate::syntax::{call_args, call_name, collect, has_word, is_loop, squash, text, value_parent};
use reclaimscope_model::TaskFlags;
use reclaimscope_model::alloc::{self, Retries};
use reclaimscope_model::gfp::Gfp;
use reclaimscope_model::gfp::GfpValue;
use tree_sitter::Node;

pub(super) fn noretry_rules(
    file: &FileCtx<'_>,
    func: &Func<'_, '_>,
    a: &AllocCall<'_>,
    on: &dyn Fn(Rule) -> bool,
    out: &mut Vec<Finding>,
) {
    let mask = mask_text(a.effective);
    if !alloc::may_direct_reclaim(a.effective) {
        if on(Rule::NoretryUseless) {
            out.push(func.finding(
                file,
                Rule::NoretryUseless,
                a.gfp_arg,
                a.call,
                mask,
                "the mask cannot enter direct reclaim, so __GFP_NORETRY changes nothing; drop it".into(),
            ));
        }
        return;
    }
    // The model's slow path: with both flags, one round and then failure.
    let one_round =
        alloc::slow_path(TaskFlags::empty(), a.effective.must, 0).retries == Retries::Once;
    if a.effective.surely(Gfp::RETRY_MAYFAIL) && one_round && on(Rule::NoretryVsRetryMayfail) {
        out.push(func.finding(
            file,
            Rule::NoretryVsRetryMayfail,
            a.gfp_arg,
            a.call,
            mask.clone(),
            "__GFP_NORETRY and __GFP_RETRY_MAYFAIL together: the slow path gives up after one reclaim round, so RETRY_MAYFAIL has no effect".into(),
        ));
    }
    let verdict = failure_handling(func, a);
    // A failure returned to the caller is judged there, one or more calls up.
    if let Some(ip) = file.interp
        && (on(Rule::NoretryNoFallback) || on(Rule::NoretryFallbackKeepsFlag))
        && propagates(func, a, &verdict)
        && let Some(def) = ip.index.def_at(file.path, &func.name)
    {
        let site = func.step(
            file,
            a.call,
            format!(
                "{}() with {mask}; the failure is returned to the caller",
                a.name
            ),
        );
        if judge_up(ip, def, a.effective, vec![site], 1, on, out) {
            return;
        }
    }
    match verdict {
        Verdict::ErrorOnly(exit) if on(Rule::NoretryNoFallback) => out.push(func.finding(
            file,
            Rule::NoretryNoFallback,
            a.call,
            a.call,
            mask,
            format!(
                "on failure the result only becomes an error (line {}) with no fallback; drop __GFP_NORETRY or add a fallback",
                exit
            ),
        ).with_evidence(exit, "error-only failure check")),
        Verdict::FallbackKeepsFlag(line, what) if on(Rule::NoretryFallbackKeepsFlag) => out.push(func.finding(
            file,
            Rule::NoretryFallbackKeepsFlag,
            a.call,
            a.call,
            mask,
            format!("the {what} at line {line} still passes __GFP_NORETRY; drop the flag for the last attempt"),
        ).with_evidence(line, what)),
        _ => {}
    }
}

/// Callers followed up from a returned allocation before judging in place.
const MAX_UP: u32 = 3;

/// Judge a failure that `def` returns at each of its callers. `false` when
/// the callers are not all known (none found, or `def` is reached through
/// a function pointer) or the depth bound is hit: the site is then judged
/// where it stands.
fn judge_up(
    ip: &Interproc,
    def: u32,
    mask: GfpValue,
    chain: Vec<ChainStep>,
    depth: u32,
    on: &dyn Fn(Rule) -> bool,
    out: &mut Vec<Finding>,
) -> bool {
    if depth > MAX_UP {
        return false;
    }
    // Every caller must be known: direct calls, calls through the fields
    // it is registered in, calls of a macro that expands to it. A kernel
    // entry point (the VFS calling ->read_iter) or a pointer stored
    // elsewhere leaves callers unknown: judge where it stands.
    let entries = ip.entries(def);
    if entries.unknown.is_some() || !entries.roots.is_empty() || entries.sites.is_empty() {
        return false;
    }
    // A macro caller whose value is the call (`#define fd_dma_mem_alloc(size)
    // SW._dma_mem_alloc(size)`) is transparent: judge at its users.
    let mut callers: Vec<CallSite> = Vec::new();
    let mut macros: Vec<(u32, CallSite, String)> = Vec::new();
    for (s, via) in entries.sites.iter() {
        if ip.index.defs[s.caller as usize].rec.is_macro {
            if !ip.macro_yields_call(s.caller, s.offset) {
                return false;
            }
            let how = via
                .clone()
                .unwrap_or_else(|| format!("calls {}()", ip.def_name(def)));
            macros.push((s.caller, *s, how));
        } else {
            callers.push(*s);
        }
    }
    for (m, s, how) in macros {
        let mut here = vec![ip.step(s, format!("{how}; the macro's value is the call's"))];
        here.extend(chain.iter().cloned());
        if !judge_up(ip, m, mask, here, depth, on, out) {
            return false;
        }
    }
    let callee = ip.def_name(def).to_string();
    for &site in callers.iter() {
        ip.with_func(site.caller, None, 0, |cf, cfunc, p| {
            let Some(call) = call_at(cfunc, (site.offset as usize).saturating_sub(p.start)) else {
                return;
            };
            let Some(callee_node) = call.child_by_field_name("function") else {
                return;
            };
            let synth = AllocCall {
                call,
                name: callee.clone(),
                gfp_arg: callee_node,
                mask,
                effective: mask,
            };
            let mut here = vec![ip.step(
                site,
                format!("calls {callee}(), which returns the allocation's failure"),
            )];
            here.extend(chain.iter().cloned());
            let verdict = failure_handling(cfunc, &synth);
            if propagates(cfunc, &synth, &verdict)
                && judge_up(ip, site.caller, mask, here.clone(), depth + 1, on, out)
            {
                return;
            }
            let origin = chain
                .last()
                .map(|s| format!("{}() ({}:{})", s.function, s.file, s.line))
                .unwrap_or_default();
            let f = match verdict {
                Verdict::ErrorOnly(exit) if on(Rule::NoretryNoFallback) => cfunc.finding(
                    cf,
                    Rule::NoretryNoFallback,
                    call,
                    call,
                    mask_text(mask),
                    format!(
                        "the __GFP_NORETRY allocation in {origin} fails back to here, and on failure the result only becomes an error (line {exit}) with no fallback; drop __GFP_NORETRY or add a fallback"
                    ),
                ),
                Verdict::FallbackKeepsFlag(line, what) if on(Rule::NoretryFallbackKeepsFlag) => {
                    cfunc.finding(
                        cf,
                        Rule::NoretryFallbackKeepsFlag,
                        call,
                        call,
                        mask_text(mask),
                        format!(
                            "the {what} at line {line} calls {callee}() again, whose __GFP_NORETRY allocation in {origin} keeps the flag; drop it for the last attempt"
                        ),
                    )
                }
                _ => return,
            };
            out.push(Finding { chain: here, ..f });
        });
    }
    true
}

/// The allocation's failure leaves the function as its return value:
/// `return alloc(...)`, or a NULL path that returns `NULL`, `ERR_PTR()` or
/// the NULL result itself (directly or through a `goto` to such a return).
fn propagates(func: &Func<'_, '_>, a: &AllocCall<'_>, verdict: &Verdict) -> bool {
    if value_parent(a.call).is_some_and(|p| p.kind() == "return_statement") {
        return true;
    }
    if !matches!(verdict, Verdict::ErrorOnly(_)) {
        return false;
    }
    let src = func.src;
    let Some(var) = result_var(a.call, src) else {
        return false;
    };
    let Some(path) = null_path(func, a, &var) else {
        return false;
    };
    let ret =
        match path_exit(&path, src) {
            Exit::Return(r) => Some(r),
            Exit::Goto(_, label) => func.labels.get(&label).and_then(|l| {
                match path_exit(&following_from_label(*l), src) {
                    Exit::Return(r) => Some(r),
                    _ => None,
                }
            }),
            _ => None,
        };
    ret.is_some_and(|r| {
        let mut c = r.walk();
        r.named_children(&mut c)
            .find(|n| n.kind() != "comment")
            .is_some_and(|v| {
                let t = squash(text(v, src));
                t == "NULL" || t.starts_with("ERR_PTR(") || t == var
            })
    })
}

/// The statements run when the allocation's result is NULL (as
/// [`failure_handling`] finds them), or `None` when no test was found.
fn null_path<'t>(func: &Func<'_, 't>, a: &AllocCall<'t>, var: &str) -> Option<Vec<Node<'t>>> {
    match find_check(func, a.call, var)? {
        Check::Loop => None,
        Check::If {
            node,
            negative: true,
        } => Some(vec![node.child_by_field_name("consequence")?]),
        Check::If {
            node,
            negative: false,
        } => {
            if let Some(alt) = node.child_by_field_name("alternative") {
                Some(vec![alt])
            } else if node
                .child_by_field_name("consequence")
                .is_some_and(|c| ends_with_jump(c))
            {
                Some(following_siblings(node))
            } else {
                None
            }
        }
    }
}

/// What happens when a `__GFP_NORETRY` allocation returns NULL.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Only an error leaves the function (line of the exit).
    ErrorOnly(usize),
    /// A second attempt (line, what) that still passes `__GFP_NORETRY`.
    FallbackKeepsFlag(usize, &'static str),
    /// A real fallback, a graceful degradation, or something the heuristic cannot judge.
    Fine,
}

/// How a statement list ends for the NULL path.
enum Exit<'t> {
    Return(Node<'t>),
    Goto(Node<'t>, String),
    Break,
    Continue,
    FallsThrough,
}

fn failure_handling(func: &Func<'_, '_>, a: &AllocCall<'_>) -> Verdict {
    failure_handling_depth(func, a, 0)
}

fn failure_handling_depth(func: &Func<'_, '_>, a: &AllocCall<'_>, depth: u32) -> Verdict {
    let src = func.src;
    let Some(var) = result_var(a.call, src) else {
        return Verdict::Fine;
    };
    let Some(check) = find_check(func, a.call, &var) else {
        return Verdict::Fine;
    };
    let check_node = match &check {
        Check::If { node, .. } => Some(*node),
        Check::Loop => None,
    };
    // The result's address handed to a function before the test may be
    // filled there: a fallback out of sight (floppy's raw_cmd_copyin()
    // calls fallback_on_nodma_alloc(&ptr->kernel_data, ...), which
    // vmallocs the buffer when the DMA allocation failed).
    if let Some(n) = check_node {
        let out_param = format!("&{var}");
        let filled = collect(func.body, |x| {
            x.kind() == "call_expression"
                && x.start_byte() >= a.call.end_byte()
                && x.end_byte() <= n.start_byte()
        })
        .into_iter()
        .any(|c| {
            call_args(c)
                .into_iter()
                .any(|arg| squash(text(arg, src)) == out_param)
        });
        if filled {
            return Verdict::Fine;
        }
    }
    let path: Vec<Node<'_>> = match check {
        Check::Loop => return loop_retry(func, a, &var),
        Check::If {
            node,
            negative: true,
        } => match node.child_by_field_name("consequence") {
            Some(c) => vec![c],
            None => return Verdict::Fine,
        },
        Check::If {
            node,
            negative: false,
        } => {
            if let Some(alt) = node.child_by_field_name("alternative") {
                vec![alt]
            } else if node
                .child_by_field_name("consequence")
                .is_some_and(|c| ends_with_jump(c))
            {
                following_siblings(node)
            } else {
                return Verdict::Fine;
            }
        }
    };
    // A second allocation on the NULL path is a fallback.
    for n in &path {
        for c in collect(*n, |x| x.kind() == "call_expression") {
            if let Some(v) = fallback_verdict(func, c, depth) {
                return v;
            }
        }
    }
    match path_exit(&path, src) {
        Exit::Return(r) => {
            if returns_error(r, src, &var) {
                Verdict::ErrorOnly(func.line_of(r))
            } else {
                Verdict::Fine
            }
        }
        Exit::Goto(g, label) => match func.labels.get(&label) {
            Some(l) if l.start_byte() < a.call.start_byte() => loop_retry(func, a, &var),
            Some(l) => {
                let tail = following_from_label(*l);
                for n in &tail {
                    for c in collect(*n, |x| x.kind() == "call_expression") {
                        if let Some(v) = fallback_verdict(func, c, depth) {
                            return v;
                        }
                    }
                }
                Verdict::ErrorOnly(func.line_of(g))
            }
            None => Verdict::ErrorOnly(func.line_of(g)),
        },
        Exit::Continue | Exit::FallsThrough if enclosing_loop(a.call, func.body).is_some() => {
            loop_retry(func, a, &var)
        }
        // The NULL path records the error and goes on; a later re-test
        // of the result decides (`if (IS_ERR(p)) { ret = PTR_ERR(p); p =
        // NULL; } ... if (!p) return ret;`, tracing_buffers_read()).
        Exit::FallsThrough if let Some(n) = check_node => {
            after_loop(func, &var, following_outward(n, func.body), depth)
        }
        Exit::Break => match enclosing_loop(a.call, func.body) {
            Some(l) => after_loop(func, &var, following_siblings(l), depth),
            None => Verdict::Fine,
        },
        _ => Verdict::Fine,
    }
}

/// `if (!p) break;` leaves the loop with NULL: follow it to the re-check
/// after the loop (kexec's kimage_alloc_normal_control_pages) and judge
/// that path; without a re-check the loop just stops early (graceful).
fn after_loop<'t>(func: &Func<'_, 't>, var: &str, nodes: Vec<Node<'t>>, depth: u32) -> Verdict {
    let src = func.src;
    for (i, n) in nodes.iter().enumerate() {
        if n.kind() == "if_statement"
            && let Some(c) = n.child_by_field_name("condition")
        {
            let cond = squash(text(c, src));
            if has_word(&cond, var) {
                let path: Vec<Node<'t>> = if is_null_test(&cond, var) {
                    n.child_by_field_name("consequence").into_iter().collect()
                } else if let Some(alt) = n.child_by_field_name("alternative") {
                    vec![alt]
                } else {
                    nodes[i + 1..].to_vec()
                };
                for p in &path {
                    for c in collect(*p, |x| x.kind() == "call_expression") {
                        if let Some(v) = fallback_verdict(func, c, depth) {
                            return v;
                        }
                    }
                }
                return match path_exit(&path, src) {
                    Exit::Return(r) if returns_error(r, src, var) => {
                        Verdict::ErrorOnly(func.line_of(r))
                    }
                    Exit::Goto(g, _) => Verdict::ErrorOnly(func.line_of(g)),
                    _ => Verdict::Fine,
                };
            }
        }
        if stmt_exit(*n, src).is_some() {
            break;
        }
    }
    Verdict::Fine
}

/// A call on the NULL path that allocates: a fallback. `Some(Fine)` when
/// it drops `__GFP_NORETRY`, `Some(FallbackKeepsFlag)` when it keeps it.
fn fallback_verdict(func: &Func<'_, '_>, c: Node<'_>, depth: u32) -> Option<Verdict> {
    if let Some(a2) = func.allocs.iter().find(|x| x.call.id() == c.id()) {
        // The retry keeps the flag; it matters only if its own failure is
        // an error (kernel/power/swap.c retries, then goes synchronous).
        let keeps = a2.mask.surely(Gfp::NORETRY)
            && (depth >= 3
                || matches!(
                    failure_handling_depth(func, a2, depth + 1),
                    Verdict::ErrorOnly(_)
                ));
        return Some(if keeps {
            Verdict::FallbackKeepsFlag(func.line_of(c), "fallback allocation")
        } else {
            Verdict::Fine
        });
    }
    let name = call_name(c, func.src)?.to_ascii_lowercase();
    let frees = [
        "free", "put", "release", "destroy", "unmap", "unlock", "printk", "warn", "err", "dbg",
    ];
    if frees.iter().any(|f| name.contains(f)) {
        return None;
    }
    let allocs = [
        "alloc",
        "mempool",
        "reserve",
        "get_free_page",
        "fallback",
        "kmemdup",
        "kstrdup",
        "vzalloc",
        "retry",
    ];
    allocs
        .iter()
        .any(|f| name.contains(f))
        .then_some(Verdict::Fine)
}

/// The call sits in a loop that tries again on NULL: a retry keeps the
/// flag unless the mask variable changes inside the loop. A retry that
/// repeats the very same request (no size argument changes) is a loop over
/// items, not a fallback, and is judged fine.
fn loop_retry(func: &Func<'_, '_>, a: &AllocCall<'_>, var: &str) -> Verdict {
    let Some(l) = enclosing_loop(a.call, func.body) else {
        return Verdict::Fine;
    };
    let src = func.src;
    // A last resort into the same result (or returned), in the loop or
    // after it, that drops the flag (arm's order-0 alloc_pages, ima's
    // GFP_KERNEL page, mtd_kmalloc_up_to's final kmalloc).
    let writes = writes_in(l, src);
    let last_resort = func.allocs.iter().any(|o| {
        o.call.id() != a.call.id()
            && !other_arm(a.call, o.call).is_some_and(|cond| {
                // A loop-invariant condition chooses the allocator; one the
                // loop changes (`if (order)`, arm's __iommu_alloc_buffer)
                // reaches the other arm as the last resort.
                !collect(cond, |n| n.kind() == "identifier")
                    .iter()
                    .any(|n| writes.iter().any(|w| w == text(*n, src)))
            })
            && o.call.start_byte() >= l.start_byte()
            && !o.mask.surely(Gfp::NORETRY)
            && (result_var(o.call, src).as_deref() == Some(var)
                || value_parent(o.call).is_some_and(|p| p.kind() == "return_statement"))
    });
    if last_resort {
        return Verdict::Fine;
    }
    let mask_vars: Vec<&str> = collect(a.gfp_arg, |n| n.kind() == "identifier")
        .into_iter()
        .map(|n| text(n, src))
        .collect();
    let size_vars: Vec<&str> = call_args(a.call)
        .into_iter()
        .filter(|x| x.id() != a.gfp_arg.id())
        .flat_map(|x| collect(x, |n| n.kind() == "identifier"))
        .map(|n| text(n, src))
        .collect();
    if writes.iter().any(|w| mask_vars.contains(&w.as_str())) {
        return Verdict::Fine;
    }
    // A smaller-size retry shrinks something in the loop (`order--`,
    // `size >>= 1`, `bufsize_comp--` in smc); a loop that walks items
    // (`i++`, readahead's next index) only retries another item.
    if writes.iter().any(|w| size_vars.contains(&w.as_str())) && shrinks_in(l, src) {
        Verdict::FallbackKeepsFlag(
            func.line_of(a.call),
            "smaller-size retry in the enclosing loop",
        )
    } else {
        Verdict::Fine
    }
}

/// Does `n` hold a shrinking write: `x--`, `--x`, `x -= e`, `x >>= e`,
/// `x /= e`, or `x = e / k`, `x = e >> k`?
fn shrinks_in(n: Node<'_>, src: &str) -> bool {
    collect(n, |x| {
        matches!(x.kind(), "assignment_expression" | "update_expression")
    })
    .into_iter()
    .any(|x| {
        let t = squash(text(x, src));
        match x.kind() {
            "update_expression" => t.contains("--"),
            _ => {
                let op = x.child_by_field_name("operator").map(|o| text(o, src));
                matches!(op, Some("-=" | ">>=" | "/="))
                    || (op == Some("=")
                        && x.child_by_field_name("right").is_some_and(|r| {
                            let r = squash(text(r, src));
                            r.contains('/') || r.contains(">>")
                        }))
            }
        }
    })
}

/// `a` and `o` sit in the two arms of one `if` (`if (coherent) p =
/// dma_alloc_coherent(...); else p = do_alloc_pages(...);` in
/// sound/core/memalloc.c): a choice of allocator, not a fallback.
/// Returns the `if`'s condition.
fn other_arm<'t>(a: Node<'t>, o: Node<'t>) -> Option<Node<'t>> {
    let mut n = a;
    while let Some(p) = n.parent() {
        if p.kind() == "if_statement" && crate::syntax::contains(p, o.start_byte()) {
            let arm = |f: &str, x: Node<'_>| {
                p.child_by_field_name(f)
                    .is_some_and(|c| crate::syntax::contains(c, x.start_byte()))
            };
            let split = (arm("consequence", a) && arm("alternative", o))
                || (arm("alternative", a) && arm("consequence", o));
            return split.then(|| p.child_by_field_name("condition")).flatten();
        }
        n = p;
    }
    None
}

/// Identifiers assigned or incremented anywhere in `n`.
fn writes_in(n: Node<'_>, src: &str) -> Vec<String> {
    collect(n, |x| {
        matches!(x.kind(), "assignment_expression" | "update_expression")
    })
    .into_iter()
    .filter_map(|x| {
        x.child_by_field_name("left")
            .or_else(|| x.child_by_field_name("argument"))
    })
    // tree-sitter-c parses `!order--` as `(!order)--`: look through the unary.
    .filter_map(|t| {
        collect(t, |i| i.kind() == "identifier")
            .into_iter()
            .next()
            .filter(|i| t.kind() != "field_expression" || i.id() == t.id())
    })
    .map(|t| text(t, src).to_string())
    .collect()
}

fn enclosing_loop<'t>(n: Node<'t>, body: Node<'t>) -> Option<Node<'t>> {
    let mut p = n.parent()?;
    while p.id() != body.id() {
        if is_loop(p.kind()) {
            return Some(p);
        }
        p = p.parent()?;
    }
    None
}

/// Where the allocation's result goes: the variable (or lvalue) it is stored in.
fn result_var(call: Node<'_>, src: &str) -> Option<String> {
    let p = value_parent(call)?;
    match p.kind() {
        "assignment_expression" => p.child_by_field_name("left").map(|l| squash(text(l, src))),
        "init_declarator" => p
            .child_by_field_name("declarator")
            .and_then(|d| crate::syntax::declarator_name(d, src))
            .map(str::to_string),
        // `if (!alloc(...))`: the call text itself stands for the result.
        "unary_expression" | "binary_expression" => Some(squash(text(call, src))),
        _ => None,
    }
}

enum Check<'t> {
    If { node: Node<'t>, negative: bool },
    Loop,
}

/// The first test of `var` after the call: an `if`, or the condition of an
/// enclosing loop that repeats while the result is NULL.
fn find_check<'t>(func: &Func<'_, 't>, call: Node<'t>, var: &str) -> Option<Check<'t>> {
    let src = func.src;
    let after = call.end_byte();
    let mut best: Option<(usize, Check<'t>)> = None;
    // The assignment sits in an if condition: `if (!(p = alloc()))`.
    let mut n = call;
    while let Some(p) = n.parent() {
        if p.id() == func.body.id() {
            break;
        }
        if p.kind() == "if_statement"
            && p.child_by_field_name("condition")
                .is_some_and(|c| c.id() == n.id())
        {
            let cond = squash(text(n, src));
            let call_text = squash(text(call, src));
            // A call tested directly (`if (f(...) < 0)`, `if (!f(...))`, `if (f(...))`)
            // is tested for failure unless the test is spelled `!= NULL`.
            let negative = if var == call_text {
                !cond.contains(&format!("{call_text}!=NULL"))
            } else {
                is_null_test(&cond, var)
            };
            return Some(Check::If { node: p, negative });
        }
        if matches!(
            p.kind(),
            "do_statement" | "while_statement" | "for_statement"
        ) && let Some(c) = p.child_by_field_name("condition")
        {
            let cond = squash(text(c, src));
            if c.start_byte() >= after && has_word(&cond, var) && is_null_test(&cond, var) {
                best = Some((c.start_byte(), Check::Loop));
            }
        }
        if matches!(
            p.kind(),
            "expression_statement" | "declaration" | "compound_statement"
        ) {
            n = p;
            continue;
        }
        n = p;
    }
    let ifs = collect(func.body, |x| x.kind() == "if_statement");
    for i in ifs {
        let Some(c) = i.child_by_field_name("condition") else {
            continue;
        };
        if c.start_byte() < after {
            continue;
        }
        let cond = squash(text(c, src));
        if !cond.contains(var) {
            continue;
        }
        // A test for one specific error (`PTR_ERR(p) == -ENOMEM`) does
        // not decide the generic failure path: the next test does.
        if cond.contains(&format!("PTR_ERR({var})==")) {
            continue;
        }
        if best.as_ref().is_none_or(|(pos, _)| c.start_byte() < *pos) {
            best = Some((
                c.start_byte(),
                Check::If {
                    node: i,
                    negative: is_null_test(&cond, var),
                },
            ));
        }
        break;
    }
    best.map(|(_, c)| c)
}

/// `cond` is true when `var` is NULL (`!p`, `p == NULL`, `IS_ERR_OR_NULL(p)`).
fn is_null_test(cond: &str, var: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '[';
    let mut from = 0;
    while let Some(i) = cond[from..].find(&format!("!{var}")) {
        let end = from + i + 1 + var.len();
        let next = cond[end..].chars().next();
        if next.is_none_or(|c| !ident(c) && c != '=') && !cond[end..].starts_with("->") {
            return true;
        }
        from = end;
    }
    [
        format!("{var}==NULL"),
        format!("NULL=={var}"),
        format!("IS_ERR_OR_NULL({var})"),
        format!("IS_ERR({var})"),
        format!("{var}==0"),
        format!("{var}<0"),
    ]
    .iter()
    .any(|p| cond.contains(p.as_str()))
        || cond.contains(&format!("!({var})"))
}

fn ends_with_jump(stmt: Node<'_>) -> bool {
    let last = if stmt.kind() == "compound_statement" {
        let mut c = stmt.walk();
        stmt.named_children(&mut c)
            .filter(|n| n.kind() != "comment")
            .last()
    } else {
        Some(stmt)
    };
    last.is_some_and(|l| {
        matches!(
            l.kind(),
            "return_statement" | "goto_statement" | "break_statement" | "continue_statement"
        )
    })
}

/// The statements after `n`, then after each enclosing block, up to the
/// function body (stopping at a loop): what runs next when `n` completes.
fn following_outward<'t>(n: Node<'t>, body: Node<'t>) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    let mut cur = n;
    loop {
        out.extend(following_siblings(cur));
        let Some(p) = cur.parent() else { break };
        if p.id() == body.id() || is_loop(p.kind()) {
            break;
        }
        cur = p;
    }
    out
}

fn following_siblings(n: Node<'_>) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let mut s = n.next_named_sibling();
    while let Some(x) = s {
        out.push(x);
        s = x.next_named_sibling();
    }
    out
}

fn following_from_label(l: Node<'_>) -> Vec<Node<'_>> {
    let mut v = vec![l];
    v.extend(following_siblings(l));
    v
}

/// The first unconditional jump of a statement list, looking through
/// blocks and labels but not into `if`s or loops.
fn path_exit<'t>(path: &[Node<'t>], src: &str) -> Exit<'t> {
    for &n in path {
        if let Some(e) = stmt_exit(n, src) {
            return e;
        }
    }
    Exit::FallsThrough
}

fn stmt_exit<'t>(n: Node<'t>, src: &str) -> Option<Exit<'t>> {
    match n.kind() {
        "return_statement" => Some(Exit::Return(n)),
        "goto_statement" => {
            let l = n.child_by_field_name("label")?;
            Some(Exit::Goto(n, text(l, src).to_string()))
        }
        "break_statement" => Some(Exit::Break),
        "continue_statement" => Some(Exit::Continue),
        "compound_statement" | "else_clause" | "labeled_statement" => {
            let mut c = n.walk();
            let kids: Vec<_> = n.named_children(&mut c).collect();
            kids.into_iter().find_map(|k| stmt_exit(k, src))
        }
        _ => None,
    }
}

/// The returned value propagates a failure: `-ENOMEM`, `NULL`, `ERR_PTR()`,
/// the NULL result itself, or a variable that by kernel naming holds an
/// error code. `return false` from a bool "did it work" helper is not
/// counted: such callers usually have their own plan B (kvfree_rcu's bulk
/// path falls back to a per-object rcu_head).
fn returns_error(r: Node<'_>, src: &str, var: &str) -> bool {
    let mut c = r.walk();
    let Some(v) = r.named_children(&mut c).find(|n| n.kind() != "comment") else {
        return false; // `return;` in a void function: a graceful skip
    };
    let t = squash(text(v, src));
    if t == "0" || t == "true" {
        return false;
    }
    let error_holder = |name: &str| {
        name == var
            || [
                "ret", "err", "error", "rc", "retval", "status", "rv", "result",
            ]
            .contains(&name)
            || name.starts_with("err")
            || name.ends_with("_err")
            || name.ends_with("_ret")
    };
    t.starts_with('-')
        || t == "NULL"
        || t.starts_with("ERR_PTR")
        || (v.kind() == "identifier" && error_holder(&t))
}
