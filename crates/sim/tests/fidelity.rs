//! Model fidelity by kernel behaviour and release: each test states the
//! kernel code its expected verdict follows from.
mod common;
use common::*;
use reclaimscope_sim::{Scenario, Status};

fn load(src: &str) -> Scenario {
    Scenario::from_toml_str(src, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn verdict(sc: &Scenario, policy: &str) -> &'static str {
    match explore(&sim(sc, policy), 200_000) {
        Verdict::Safe { .. } => "safe",
        Verdict::Bad {
            status: Status::Deadlock,
            ..
        } => "deadlock",
        Verdict::Bad { .. } => "stuck",
    }
}

/// Block-layer code inside `memalloc_noio_save()` whose only reclaimable
/// memory is its own filesystem's dirty inodes. `current_gfp_context()`
/// clears `__GFP_IO | __GFP_FS`; `super_cache_scan()` returns SHRINK_STOP
/// without `__GFP_FS`; a `!__GFP_FS` allocation never invokes the OOM
/// killer (`__alloc_pages_may_oom`) and a small order retries forever: stuck.
/// sb-context refines NOFS contexts by superblock ("Re: [PATCH 0/6]
/// Overhaul memalloc_no*", 2020-06-29) and must not lift an explicit NOIO
/// scope: it too is stuck, where it used to evict and write back the inodes
/// from the NOIO context.
#[test]
fn sb_context_keeps_an_explicit_noio_scope() {
    let sc = load(&sc_src_with_scope("noio"));
    assert_eq!(verdict(&sc, "baseline"), "stuck");
    assert_eq!(verdict(&sc, "sb-context"), "stuck");
    // The same task in a NOFS scope is what sb-context is for: its own
    // superblock, no lock held, so the fs may evict its inodes.
    let nofs = load(&sc_src_with_scope("nofs"));
    assert_eq!(verdict(&nofs, "baseline"), "stuck");
    assert_eq!(verdict(&nofs, "sb-context"), "safe");
}

fn sc_src_with_scope(scope: &str) -> String {
    format!(
        r#"name = "scope-sb"
[memory]
free = 4
min = 4
[[disk]]
name = "sda"
[[fs]]
name = "a"
dev = "sda"
inodes = 4
dirty_inodes = 4
[[task]]
name = "blk"
fs = "a"
program = ["scope {scope}", "alloc gfp=GFP_KERNEL pages=1", "end"]
"#
    )
}
