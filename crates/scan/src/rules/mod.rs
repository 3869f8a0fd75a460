//! The rules, one file per family, run over one indexed function.
//!
//! This file is the registration list: it says which event each family
//! wants (every allocation, every function, every shrinker `scan_objects`)
//! and nothing else. A new rule goes into its family's file
//! (`noretry.rs`, `nofs.rs`, `scope.rs`, `shrinker.rs`) and is called from
//! here; its metadata is one row in `crate::rule`.

mod coverage;
mod nofs;
mod noretry;
mod scope;
mod scope_pair;
mod shrinker;

use crate::analyze::{FileCtx, Func};
use crate::finding::Finding;
use crate::rule::Rule;
use reclaimscope_model::gfp::{Gfp, GfpValue};

pub fn run(file: &FileCtx<'_>, func: &Func<'_, '_>, rules: &[Rule], out: &mut Vec<Finding>) {
    let on = |r: Rule| rules.contains(&r);
    // Per allocation: the __GFP_NORETRY family and the NOFS/NOIO family.
    for a in &func.allocs {
        if a.effective.surely(Gfp::NORETRY) {
            noretry::noretry_rules(file, func, a, &on, out);
        }
        nofs::nofs_rules(file, func, a, &on, out);
        // Across functions: the caller chains' scopes.
        if on(Rule::NofsScopeCoverage) || on(Rule::NofsRedundantInScope) {
            coverage::coverage_rules(file, func, a, &on, out);
        }
    }
    // Per function: scope balance, within the function and across paired
    // open/close functions.
    if on(Rule::ScopeUnbalanced) {
        scope::scope_unbalanced(file, func, out);
        scope_pair::paired_scopes(file, func, out);
    }
    // Per shrinker callback: registered in this file, anywhere in the
    // tree, or recognised by its signature.
    let shrinker = file.scan_objects_fns.contains(&func.name)
        || file
            .interp
            .is_some_and(|ip| ip.is_shrinker_callback(file.path, &func.name));
    if on(Rule::ShrinkerIoGate) && shrinker {
        shrinker::shrinker_io_gate(file, func, out);
    }
}

/// The mask as a finding shows it.
fn mask_text(v: GfpValue) -> String {
    v.to_string()
}
