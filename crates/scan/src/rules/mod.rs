//! The rules, one file per family, run over one indexed function.
//!
//! This file is the registration list: it says which event each family
//! wants (every allocation, every function, every shrinker `scan_objects`)
//! and nothing else. A new rule goes into its family's file
//! (`noretry.rs`, `nofs.rs`, `scope.rs`, `shrinker.rs`) and is called from
//! here; its metadata is one row in `crate::rule`.

mod nofs;
mod noretry;
mod scope;
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
    }
    // Per function: scope balance.
    if on(Rule::ScopeUnbalanced) {
        scope::scope_unbalanced(file, func, out);
    }
    // Per shrinker callback.
    if on(Rule::ShrinkerIoGate) && file.scan_objects_fns.contains(&func.name) {
        shrinker::shrinker_io_gate(file, func, out);
    }
}

/// The mask as a finding shows it.
fn mask_text(v: GfpValue) -> String {
    v.to_string()
}
