//! reclaimscope-scan: a scanner of kernel C source for allocation-context
//! bugs (seed 002's `__GFP_NORETRY` triage, seed 004's `__vmalloc(GFP_NOFS)`,
//! memalloc scope balance, shrinker gates). Files are prefiltered by the
//! tokens the selected rules need, parsed with tree-sitter-c in parallel,
//! and every gfp expression is evaluated by `reclaimscope_model::gfp`.

mod analyze;
pub mod diff;
pub mod finding;
mod gfpeval;
pub mod output;
mod prefilter;
mod recover;
pub mod rule;
mod rules;
pub mod scan;
pub mod suppress;
mod syntax;

pub use analyze::KernelFacts;
pub use finding::Finding;
pub use rule::Rule;
pub use scan::{ScanError, ScanOptions, ScanReport, ScanStats, scan_paths, scan_source};
