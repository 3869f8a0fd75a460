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
use reclaimscope_model::gfp::Gfp;

pub(super) fn coverage_rules(
    file: &FileCtx<'_>,
    func: &Func<'_, '_>,
    a: &AllocCall<'_>,
    on: &dyn Fn(Rule) -> bool,
    out: &mut Vec<Finding>,
) {
    let Some(ip) = file.interp else { return };
    if !a.mask.surely(Gfp::DIRECT_RECLAIM) || !a.mask.surely_not(Gfp::FS) {
        return;
    }
    let site = ChainStep {
        file: file.path.to_string(),
        line: func.line_of(a.call),
        function: func.name.clone(),
        note: format!("{}() with {}", a.name, mask_text(a.mask)),
    };
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
            Coverage::Covered(vec![
                ChainStep {
                    file: file.path.to_string(),
                    line: func.line_of(s.call),
                    function: func.name.clone(),
                    note: how,
                },
                site.clone(),
            ])
        }
        None => match ip
            .index
            .file_id(file.path)
            .and_then(|f| ip.index.def_named_in(f, &func.name))
        {
            Some(def) => ip.coverage(def, site.clone(), noio),
            None => Coverage::Unknown(
                format!("{}() is not a definition the index found", func.name),
                vec![site.clone()],
            ),
        },
    };
    let mask = mask_text(a.mask);
    if on(Rule::NofsScopeCoverage) {
        let (reason, chain) = match &cov {
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
        };
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
