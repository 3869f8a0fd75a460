//! reclaimscope-scan: a scanner of kernel C source for allocation-context
//! bugs (the `__GFP_NORETRY` triage of "Re: dm bufio: Reduce dm_bufio_lock
//! contention", 2018-06-18; `__vmalloc(GFP_NOFS)` from "Re: \[PATCH\] vmalloc:
//! respect the GFP_NOIO and GFP_NOFS flags", 2017-06-30;
//! memalloc scope balance, shrinker gates). Files are prefiltered by the
//! tokens the selected rules need, parsed with tree-sitter-c in parallel,
//! and every gfp expression is evaluated by `reclaimscope_model::gfp`.

mod analyze;
pub mod diff;
mod entry;
pub mod finding;
mod gfpeval;
mod index;
pub mod output;
mod prefilter;
mod reach;
mod recover;
pub mod rule;
mod rules;
pub mod scan;
mod summary;
pub mod suppress;
mod syntax;

pub use analyze::KernelFacts;
pub use finding::Finding;
pub use rule::Rule;
pub use scan::{ScanError, ScanOptions, ScanReport, ScanStats, scan_paths, scan_source};
pub use summary::ChainStep;
