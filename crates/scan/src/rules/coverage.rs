//! `nofs-scope-coverage` (an inventory note) and the caller-chain half of
//! `nofs-redundant-in-scope`: for an allocation whose mask lacks
//! `__GFP_FS` but may reclaim directly, is every caller chain already
//! inside a NOFS/NOIO scope? The question of the "Removing GFP_NOFS" work
//! (LSF/MM/BPF 2024; the 2024 XFS series that turned KM_NOFS/GFP_NOFS into
//! transaction scopes): covered sites can say `GFP_KERNEL`, mixed ones were
//! turned into `GFP_KERNEL | __GFP_NOLOCKDEP` upstream.

use super::mask_text;
use crate::analyze::{AllocCall, FileCtx, Func, ScopeKind};
use crate::finding::Finding;
use crate::rule::Rule;
use crate::summary::{ChainStep, Coverage};
use reclaimscope_model::gfp::{Gfp, GfpValue};

pub(super) fn coverage_rules(
    file: &FileCtx<'_>,
    func: &Func<'_, '_>,
    a: &AllocCall<'_>,
    on: &dyn Fn(Rule) -> bool,
    out: &mut Vec<Finding>,
) {
    let Some(ip) = file.interp else { return };
    if !a.mask.surely(Gfp::DIRECT_RECLAIM) || !a.mask.surely_not(Gfp::FS) {
        // The mask depends on what the callers pass (kmem_alloc(size,
        // KM_NOFS) in XFS up to 6.8): judge it at each caller instead.
        if on(Rule::NofsScopeCoverage)
            && !a.mask.surely(Gfp::FS)
            && !a.mask.surely_not(Gfp::FS)
            && let Some(def) = ip.index.def_at(file.path, &func.name)
        {
            let site = func.step(
                file,
                a.call,
                format!(
                    "{}() with a mask computed from the caller's arguments",
                    a.name
                ),
            );
            let line = site.line;
            let name = a.name.clone();
            let inner = move |args: Vec<GfpValue>| {
                ip.with_func(def, Some(args), 1, |_, wf, _| {
                    wf.allocs
                        .iter()
                        .find(|x| x.name == name && wf.line_of(x.call) == line)
                        .map(|x| x.mask)
                })
                .flatten()
            };
            expand_at_callers(ip, def, &inner, site, 1, out);
        }
        return;
    }
    let site = func.step(
        file,
        a.call,
        format!("{}() with {}", a.name, mask_text(a.mask)),
    );
    let noio = a.mask.surely_not(Gfp::IO);
    let open = func.open_scopes_at(a.call.start_byte());
    let local = open
        .iter()
        .find(|s| s.kind == ScopeKind::Noio || (s.kind == ScopeKind::Nofs && !noio));
    let cov = match local {
        Some(s) => {
            let how = match &s.via {
                Some(f) => format!("{f}() opens a {} scope", s.kind.name()),
                None => format!("memalloc_{}_save()", s.kind.name()),
            };
            Coverage::Covered(vec![func.step(file, s.call, how), site.clone()])
        }
        None => match ip.index.def_at(file.path, &func.name) {
            Some(def) => ip.coverage(def, site.clone(), noio),
            None => Coverage::Unknown(
                format!("{}() is not a definition the index found", func.name),
                vec![site.clone()],
            ),
        },
    };
    let mask = mask_text(a.mask);
    if on(Rule::NofsScopeCoverage) {
        let (reason, chain) = classify(&cov);
        let mut f = func.finding(
            file,
            Rule::NofsScopeCoverage,
            a.gfp_arg,
            a.call,
            mask.clone(),
            reason,
        );
        f.chain = chain;
        out.push(f);
    }
    if on(Rule::NofsRedundantInScope)
        && local.is_none()
        && let Coverage::Covered(c) = &cov
    {
        let flag = if noio { "GFP_NOIO" } else { "GFP_NOFS" };
        let outer = c.first().map_or(String::new(), |s| {
            format!("{}() at {}:{}: {}", s.function, s.file, s.line, s.note)
        });
        let mut f = func.finding(
            file,
            Rule::NofsRedundantInScope,
            a.gfp_arg,
            a.call,
            mask,
            format!(
                "{flag}-style mask, but every caller chain found already runs inside a NOFS/NOIO scope (e.g. {outer}); use GFP_KERNEL"
            ),
        );
        f.chain = c.clone();
        out.push(f);
    }
}

/// Callers of a wrapper taken one by one: past this the wrapper is a
/// general-purpose allocator and is not expanded.
const MAX_WRAPPER_CALLERS: usize = 400;
/// Wrapper levels followed (kmem_zalloc -> kmem_alloc is two).
const MAX_WRAPPER_DEPTH: u32 = 2;

/// Instantiate the allocation at `site` (in wrapper `def`) with each
/// caller's arguments; a caller whose arguments make the mask lack
/// `__GFP_FS` (`kmem_alloc(size, KM_NOFS)`) is a NOFS site of its own,
/// classified by its own caller chains and reported at the call.
fn expand_at_callers(
    ip: &crate::summary::Interproc,
    def: u32,
    mask_of: &dyn Fn(Vec<GfpValue>) -> Option<GfpValue>,
    site: ChainStep,
    depth: u32,
    out: &mut Vec<Finding>,
) {
    if depth > MAX_WRAPPER_DEPTH || ip.address_taken(def).is_some() {
        return;
    }
    let callers = ip.callers_of(def);
    if callers.len() > MAX_WRAPPER_CALLERS {
        return;
    }
    let wrapper = ip.def_name(def).to_string();
    for &cs in callers.iter() {
        let args = ip
            .with_func(cs.caller, None, 0, |_, cf, p| {
                let call =
                    crate::summary::call_at(cf, (cs.offset as usize).saturating_sub(p.start))?;
                Some(
                    crate::syntax::call_args(call)
                        .into_iter()
                        .map(|x| cf.eval.eval(x))
                        .collect::<Vec<_>>(),
                )
            })
            .flatten();
        let Some(args) = args else { continue };
        let Some(mask) = mask_of(args) else { continue };
        if mask.surely(Gfp::DIRECT_RECLAIM) && mask.surely_not(Gfp::FS) {
            let noio = mask.surely_not(Gfp::IO);
            let step = ip.step(cs, format!("calls {wrapper}()"));
            let cov = ip.coverage(cs.caller, step, noio);
            let (reason, mut chain) = classify(&cov);
            chain.push(site.clone());
            let f = ip.with_func(cs.caller, None, 0, |cfx, cf, p| {
                let call =
                    crate::summary::call_at(cf, (cs.offset as usize).saturating_sub(p.start))?;
                let mut f = cf.finding(
                    cfx,
                    Rule::NofsScopeCoverage,
                    call,
                    call,
                    mask_text(mask),
                    reason.clone(),
                );
                f.chain = chain.clone();
                Some(f)
            });
            if let Some(Some(f)) = f {
                out.push(f);
            }
        } else if !mask.surely(Gfp::FS) && !mask.surely_not(Gfp::FS) {
            // Still open: the caller passes its own parameter on
            // (kmem_zalloc(size, flags) -> kmem_alloc(size, flags | KM_ZERO)).
            let next = ip.step(
                cs,
                format!("calls {wrapper}() with a mask computed from its own arguments"),
            );
            // The caller's arguments, bound, give the wrapper's arguments.
            let outer = |args: Vec<GfpValue>| {
                ip.with_func(cs.caller, Some(args), 1, |_, cf, p| {
                    let call =
                        crate::summary::call_at(cf, (cs.offset as usize).saturating_sub(p.start))?;
                    let inner_args: Vec<GfpValue> = crate::syntax::call_args(call)
                        .into_iter()
                        .map(|x| cf.eval.eval(x))
                        .collect();
                    mask_of(inner_args)
                })
                .flatten()
            };
            let mut chain_site = next;
            chain_site.note.push_str(&format!(" -> {}", site.function));
            expand_at_callers(ip, cs.caller, &outer, chain_site, depth + 1, out);
        }
    }
}

/// Reason text and chain of a coverage class.
fn classify(cov: &Coverage) -> (String, Vec<ChainStep>) {
    match cov {
        Coverage::Covered(c) => (
            "covered: every caller chain found reaches this allocation inside a NOFS/NOIO scope; GFP_KERNEL would behave the same".to_string(),
            c.clone(),
        ),
        Coverage::Mixed(c, u) => {
            let mut chain = c.clone();
            chain.extend(u.iter().cloned());
            (
                format!(
                    "mixed: the chain through {}() is inside a scope, the one through {}() is not (first chain covered, second not); upstream XFS used GFP_KERNEL | __GFP_NOLOCKDEP for such sites",
                    c.first().map_or("", |s| s.function.as_str()),
                    u.first().map_or("", |s| s.function.as_str())
                ),
                chain,
            )
        }
        Coverage::Uncovered(u) => (
            format!(
                "uncovered: no caller chain found is inside a NOFS/NOIO scope (one enters at {}()); converting needs a scope there",
                u.first().map_or("", |s| s.function.as_str())
            ),
            u.clone(),
        ),
        Coverage::Unknown(why, c) => (format!("unknown: {why}"), c.clone()),
    }
}
