//! The NOFS/NOIO family: `nofs-redundant-in-scope`, `nofs-outside-scope`
//! and `vmalloc-nofs-unscoped` (vmalloc's page tables before v5.17).

use super::mask_text;
use crate::analyze::{AllocCall, FileCtx, Func, ScopeCall, ScopeKind};
use crate::finding::Finding;
use crate::rule::Rule;
use reclaimscope_model::gfp::Gfp;

pub(super) fn nofs_rules(
    file: &FileCtx<'_>,
    func: &Func<'_, '_>,
    a: &AllocCall<'_>,
    on: &dyn Fn(Rule) -> bool,
    out: &mut Vec<Finding>,
) {
    if !a.mask.surely(Gfp::DIRECT_RECLAIM) || !a.mask.surely_not(Gfp::FS) {
        return;
    }
    let noio = a.mask.surely_not(Gfp::IO);
    let needed = if noio {
        ScopeKind::Noio
    } else {
        ScopeKind::Nofs
    };
    let open = func.open_scopes_at(a.call.start_byte());
    let covering: Option<&&ScopeCall<'_>> = open
        .iter()
        .find(|s| s.kind == ScopeKind::Noio || s.kind == needed);
    let in_any = open
        .iter()
        .any(|s| matches!(s.kind, ScopeKind::Nofs | ScopeKind::Noio));
    let mask = mask_text(a.effective);
    let flag = if noio { "GFP_NOIO" } else { "GFP_NOFS" };
    if let Some(s) = covering {
        if on(Rule::NofsRedundantInScope) {
            out.push(func.finding(
                file,
                Rule::NofsRedundantInScope,
                a.gfp_arg,
                a.call,
                mask.clone(),
                match &s.via {
                    Some(f) => format!(
                        "{flag}-style mask inside the {} scope {f}() opens at line {}; the scope already clears the bits, use GFP_KERNEL",
                        s.kind.name(),
                        func.line_of(s.call)
                    ),
                    None => format!(
                        "{flag}-style mask inside the memalloc_{}_save() scope opened at line {}; the scope already clears the bits, use GFP_KERNEL",
                        s.kind.name(),
                        func.line_of(s.call)
                    ),
                },
            ).with_evidence(func.line_of(s.call), "memalloc save"));
        }
    } else if !in_any && on(Rule::NofsOutsideScope) {
        out.push(func.finding(
            file,
            Rule::NofsOutsideScope,
            a.gfp_arg,
            a.call,
            mask.clone(),
            format!("{flag}-style allocation outside any memalloc scope in this function; candidate for memalloc_{}_save()", needed.name()),
        ));
    }
    if covering.is_none() && on(Rule::VmallocNofsUnscoped) {
        let n = a.name.as_str();
        let vmalloc = n.starts_with("__vmalloc") || n == "vmalloc_node_range";
        let kv =
            n.starts_with("kvmalloc") || n.starts_with("kvzalloc") || n.starts_with("kvcalloc");
        let reason = if vmalloc && !file.facts.vmalloc_honours_gfp {
            Some(format!(
                "vmalloc allocates page tables with GFP_KERNEL on this kernel (before v5.17), so {flag} is not honoured; wrap the call in memalloc_{}_save()/restore()",
                needed.name()
            ))
        } else if kv && !file.facts.kvmalloc_any_gfp {
            Some(format!(
                "before v5.17 kvmalloc with a non-GFP_KERNEL mask never falls back to vmalloc, so large sizes just fail; use a memalloc_{}_save() scope with GFP_KERNEL",
                needed.name()
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            out.push(func.finding(
                file,
                Rule::VmallocNofsUnscoped,
                a.call,
                a.call,
                mask,
                reason,
            ));
        }
    }
}
