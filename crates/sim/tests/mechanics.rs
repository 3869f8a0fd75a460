//! General mechanics on small inline scenarios: the slow path's rules as
//! the model states them, carried out by the simulator.
mod common;
use common::*;
use reclaimscope_model::Policy;
use reclaimscope_sim::{MetricsAcc, Sim, Status, run, run_with};

fn base(user_gfp: &str) -> String {
    format!(
        r#"
[memory]
free = 6
min = 4
oom_killer = true

[[lock]]
name = "gate"

[[task]]
name = "hog"
program = ["alloc gfp=GFP_KERNEL pages=2", "lock gate", "unlock gate"]

[[task]]
name = "user"
program = ["lock gate", "alloc gfp={user_gfp} pages=2", "unlock gate"]
"#
    )
}

/// `out_of_memory()` kills for a GFP_KERNEL order-0 allocation that finds
/// nothing to reclaim, so every interleaving completes ...
#[test]
fn gfp_kernel_oom_kills_and_completes() {
    let sc = load(&base("GFP_KERNEL"));
    let s = Sim::new(&sc, &Policy::BASELINE).unwrap();
    assert!(matches!(explore(&s, 10_000), Verdict::Safe { .. }));
    let mut acc = MetricsAcc::new(&s);
    for seed in 0..200 {
        run_with(&s, seed, 10_000, &mut acc);
    }
    assert!(acc.finish(&s).oom_kills > 0);
}

/// ... but returns without killing for !__GFP_FS: the NOFS allocation loops
/// while its only way out (the hog's pages) waits behind the lock it holds.
#[test]
fn gfp_nofs_never_oom_kills_and_gets_stuck() {
    let sc = load(&base("GFP_NOFS"));
    let s = Sim::new(&sc, &Policy::BASELINE).unwrap();
    match explore(&s, 10_000) {
        Verdict::Bad { status, world, .. } => {
            assert_eq!(status, Status::Stuck);
            let why = s.stuck_reason(&world);
            assert!(
                why.contains("user: kmalloc(GFP_NOFS) loops in the slow path"),
                "{why}"
            );
        }
        Verdict::Safe { .. } => panic!("expected stuck"),
    }
}

/// GFP_NOWAIT never reclaims; __GFP_NORETRY gives up after one round.
#[test]
fn nowait_and_noretry_fail() {
    let src = r#"
[memory]
free = 4
min = 4
[[disk]]
name = "sda"
[[fs]]
name = "a"
dev = "sda"
clean = 1
[[task]]
name = "t"
program = ["alloc gfp=GFP_NOWAIT pages=1", "alloc gfp=GFP_NOIO | __GFP_NORETRY pages=2", "alloc gfp=GFP_NOIO pages=1"]
"#;
    let s = Sim::new(&load(src), &Policy::BASELINE).unwrap();
    let r = run(&s, 0, 1000);
    assert_eq!(r.outcome, reclaimscope_sim::Outcome::Completed);
    // NOWAIT fails at once; NORETRY reclaims one page (batch 2, 1 clean) and fails;
    // the last one succeeds with the page that round freed.
    assert_eq!(r.metrics.alloc_failures, 2);
    assert_eq!(r.metrics.allocations, 3);
    assert_eq!(r.metrics.direct_reclaim_rounds, 1);
}

/// kswapd, woken when an allocation leaves free pages below `low`, reclaims
/// (GFP_KERNEL) towards `high`.
#[test]
fn kswapd_reclaims_in_the_background() {
    let src = r#"
[memory]
free = 7
min = 4
low = 6
high = 8
kswapd = true
[[disk]]
name = "sda"
[[fs]]
name = "a"
dev = "sda"
clean = 6
[[task]]
name = "t"
program = ["alloc gfp=GFP_KERNEL pages=2"]
"#;
    let s = Sim::new(&load(src), &Policy::BASELINE).unwrap();
    let r = run(&s, 3, 1000);
    assert_eq!(r.outcome, reclaimscope_sim::Outcome::Completed);
    assert!(r.metrics.kswapd_pages > 0, "{:?}", r.metrics);
    assert_eq!(r.metrics.direct_reclaim_rounds, 0);
    assert!(r.final_world.free_pages() >= 8);
}

/// bio-context: a loop worker (a kernel worker) inherits the submitter's
/// NOFS scope with the bio, so its page-cache allocation cannot prune the
/// upper XFS; a userspace daemon receives no bio and inherits nothing (S2).
#[test]
fn bio_context_reaches_kernel_workers_only() {
    let mut sc = scenario("s3-loop-xfs-on-ext4.toml");
    // The writer fsyncs inside a NOFS scope; the flusher has no dirty pages to race it.
    sc.tasks[0].scope = Some(reclaimscope_model::Scope::Nofs);
    let bio = Sim::new(&sc, &Policy::parse("bio-context").unwrap()).unwrap();
    let base = Sim::new(&sc, &Policy::BASELINE).unwrap();
    // Both deadlock through the flusher's own (scope-less) writeback bio ...
    assert!(matches!(explore(&base, 100_000), Verdict::Bad { .. }));
    // ... but a sweep shows the fsync bio no longer recurses under bio-context:
    let deadlocks = |s: &Sim| {
        (0..300)
            .filter(|&seed| run(s, seed, 10_000).outcome != reclaimscope_sim::Outcome::Completed)
            .count()
    };
    assert!(
        deadlocks(&bio) < deadlocks(&base),
        "{} vs {}",
        deadlocks(&bio),
        deadlocks(&base)
    );
}
