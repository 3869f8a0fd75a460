//! The kernel's allocation-context rules, as pure functions: the single
//! source of truth that the simulator, the checker and the scanner ask.
//!
//! ```
//! use reclaimscope_model::gfp::{parse_expr, Gfp};
//! use reclaimscope_model::task::{current_gfp_context, memalloc_nofs_save, TaskFlags};
//! use reclaimscope_model::alloc::{slow_path, Oom, OomSkip};
//!
//! // GFP_KERNEL inside memalloc_nofs_save() behaves as GFP_NOFS ...
//! let mut task = TaskFlags::empty();
//! let _saved = memalloc_nofs_save(&mut task);
//! let gfp = parse_expr("GFP_KERNEL").unwrap().value().is_exact().unwrap();
//! let effective = current_gfp_context(task, gfp);
//! assert_eq!(effective, Gfp::NOFS);
//! // ... so it never OOM-kills: out_of_memory() skips !__GFP_FS and it loops.
//! assert_eq!(slow_path(task, effective, 0).oom, Oom::Skip(OomSkip::NoFs));
//! ```
//!
//! Modules follow the kernel's own split: [`gfp`] (`gfp_types.h`), [`task`]
//! (`sched.h`, `sched/mm.h`), [`alloc`] (`page_alloc.c`), [`reclaim`]
//! (`vmscan.c`, shrinkers), [`policy`] (the fixes proposed on the mailing lists) and
//! [`history`] (what changed in which release).

pub mod alloc;
pub mod entry;
pub mod explain;
pub mod gfp;
pub mod gfp_release;
pub mod history;
pub mod policy;
pub mod reclaim;
pub mod task;

pub use gfp::{Gfp, GfpValue};
pub use policy::Policy;
pub use task::{Scope, TaskFlags};
