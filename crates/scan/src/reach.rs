//! Which files the interprocedural rules must also read: a file that
//! spells no rule token can still call a mask helper defined elsewhere
//! (`massage_gfp_flags`, `kmem_flags_convert`) or a function that opens or
//! closes a scope (`xfs_trans_alloc`, `xfs_trans_commit`). The names it
//! calls become extra tokens for its parsed regions.

use crate::index::CallSite;
use crate::prefilter::Prefilter;
use crate::rule::Rule;
use crate::summary::Interproc;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Add the caller files of helpers and scope functions to `candidates`
/// and record the names as extra region tokens in `ip`.
pub fn extra_candidates(
    ip: &mut Interproc,
    rules: &[Rule],
    candidates: &mut Vec<(String, String, Vec<Rule>)>,
) {
    // file -> (rules, names)
    let mut extra: BTreeMap<u32, (BTreeSet<Rule>, BTreeSet<String>)> = BTreeMap::new();
    let mut add = |ip: &Interproc, sites: Vec<CallSite>, name: &str, rs: &[Rule]| {
        for s in sites {
            let e = extra.entry(s.file).or_default();
            e.0.extend(rs.iter().copied().filter(|r| rules.contains(r)));
            e.1.insert(name.to_string());
        }
        let _ = ip;
    };
    // Mask helpers: gfp_t-returning functions in candidate files.
    let mut files: Vec<(u32, Vec<Rule>)> = candidates
        .iter()
        .filter_map(|c| Some((ip.index.file_id(&c.0)?, c.2.clone())))
        .collect();
    files.sort();
    // A helper counts for the rules whose tokens its own body spells
    // (massage_gfp_flags: __GFP_NORETRY; kmem_flags_convert: __GFP_FS);
    // mapping_gfp_mask() and friends spell none and add nothing.
    let prefilter = Prefilter::new(rules);
    for (f, _) in &files {
        let Some(src) = ip.source(*f) else { continue };
        for d in ip.index.defs_in(*f) {
            let rec = &ip.index.defs[d as usize].rec;
            if !rec.ret.contains("gfp_t") {
                continue;
            }
            let Some(body) = src
                .as_bytes()
                .get(rec.decl_start as usize..(rec.body_end as usize).min(src.len()))
            else {
                continue;
            };
            let rs = prefilter.rules_for(body);
            if rs.is_empty() {
                continue;
            }
            let name = rec.name.clone();
            let sites = ip.callers_of(d).to_vec();
            add(ip, sites, &name, &rs);
        }
    }
    // Scope openers and closers.
    let scope_rules = [
        Rule::ScopeUnbalanced,
        Rule::NofsRedundantInScope,
        Rule::NofsScopeCoverage,
        Rule::NofsOutsideScope,
    ];
    if rules.iter().any(|r| scope_rules.contains(r)) {
        let mut names: Vec<String> = ip.scope_names().iter().cloned().collect();
        names.sort();
        // Effects and callers in parallel, merged in name order.
        let shared: &Interproc = ip;
        let found: Vec<(String, Vec<CallSite>)> = names
            .par_iter()
            .flat_map_iter(|name| {
                shared
                    .index
                    .defs_named(name)
                    .iter()
                    .filter(|&&d| {
                        let e = shared.scope_effect(d, 1);
                        e.opens.is_some() || e.closes.is_some()
                    })
                    .map(|&d| (name.clone(), shared.callers_of(d).to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (name, sites) in found {
            add(ip, sites, &name, &scope_rules);
        }
    }
    let mut tokens: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (f, (rs, names)) in extra {
        if rs.is_empty() {
            continue;
        }
        let path = ip.file_name(f).to_string();
        tokens.insert(path.clone(), names.into_iter().collect());
        if let Some(c) = candidates.iter_mut().find(|c| c.0 == path) {
            c.2.extend(rs);
            c.2.sort();
            c.2.dedup();
        } else if let Some(src) = ip.source(f) {
            candidates.push((path, src.to_string(), rs.into_iter().collect()));
        }
    }
    ip.set_extra_tokens(tokens);
}
