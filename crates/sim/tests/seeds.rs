//! `run`: seeded random walks. Seed sweeps reach the seeds' deadlocks,
//! never deadlock under the fixes, and the S5/S6 metrics order as the
//! seeds argue.
mod common;
use common::*;
use reclaimscope_sim::{MetricsAcc, Outcome, Scenario, Sim, run, run_with};

const SEEDS: u64 = 300;
const MAX: u64 = 100_000;

fn with(name: &str, sets: &[&str]) -> Scenario {
    let mut sc = scenario(name);
    for kv in sets {
        let (k, v) = kv.split_once('=').unwrap();
        sc.set(k, v).unwrap();
    }
    sc
}

/// The first deadlocking seed's cycle, as names.
fn sweep_finds(sim: &Sim, names: &[&str]) {
    let r = (0..SEEDS)
        .map(|s| run(sim, s, MAX))
        .find(|r| r.outcome == Outcome::Deadlock)
        .unwrap_or_else(|| panic!("{}: no deadlock in {SEEDS} seeds", sim.policy()));
    let text = r.cycle_text.clone().unwrap();
    for n in names {
        assert!(text.contains(n), "cycle `{text}` lacks {n}");
    }
    assert!(!r.trace.is_empty() && r.trace[0].starts_with("1. "));
}

fn sweep_never(sim: &Sim) {
    for s in 0..SEEDS {
        let r = run(sim, s, MAX);
        assert_eq!(
            r.outcome,
            Outcome::Completed,
            "{} seed {s}: {:?} {:?}",
            sim.policy(),
            r.reason,
            r.blocked
        );
    }
}

#[test]
fn baseline_sweeps_reach_the_seed_deadlocks() {
    sweep_finds(
        &sim(&scenario("s1-loop-bufio.toml"), "baseline"),
        &["a-task", "bio@loop0", "loop0 worker", "a.journal"],
    );
    sweep_finds(
        &sim(&scenario("s2-tcmu-zoned.toml"), "baseline"),
        &["tcmu-runner -> bio@tcmu0 -> tcmu-runner"],
    );
    sweep_finds(
        &sim(&scenario("s3-loop-xfs-on-ext4.toml"), "baseline"),
        &["loop0 worker -> bio@loop0 -> loop0 worker"],
    );
    sweep_finds(
        &sim(&scenario("s4-vmalloc-nofs.toml"), "baseline"),
        &["fs-task -> x.journal -> fs-task"],
    );
}

#[test]
fn fixes_never_deadlock_in_a_sweep() {
    for g in ["fs", "trylock", "workqueue"] {
        sweep_never(&sim(
            &with("s1-loop-bufio.toml", &[&format!("bufio.gate={g}")]),
            "baseline",
        ));
    }
    for p in ["merged", "swap-only-io", "dependency-aware"] {
        sweep_never(&sim(&scenario("s1-loop-bufio.toml"), p));
    }
    for p in [
        "mapping-nofs",
        "vfs-nofs",
        "rwf-nofsreclaim",
        "io-flusher",
        "sb-context",
        "dependency-aware",
    ] {
        sweep_never(&sim(&scenario("s2-tcmu-zoned.toml"), p));
    }
    sweep_never(&sim(
        &with("s3-loop-xfs-on-ext4.toml", &["loop0.noio=true"]),
        "baseline",
    ));
    sweep_never(&sim(
        &with("s4-vmalloc-nofs.toml", &["vmalloc=modern"]),
        "baseline",
    ));
    sweep_never(&sim(
        &with("s4-vmalloc-nofs.toml", &["fs-task.scope=nofs"]),
        "baseline",
    ));
}

#[test]
fn s5_and_s6_complete_under_every_seed() {
    for sets in [
        &["bufio.alloc=noio-under-lock"][..],
        &["bufio.alloc=nowait-then-noio"],
        &["bufio.reserved=0"],
        &["bufio.reserved=0", "bufio.alloc=nowait-then-noio"],
    ] {
        sweep_never(&sim(&with("s5-bufio-lock.toml", sets), "baseline"));
    }
    let s6 = scenario("s6-many-filesystems.toml");
    for p in reclaimscope_model::Policy::all() {
        sweep_never(&Sim::new(&s6, &p).unwrap());
    }
}

fn metrics(sc: &Scenario, policy: &str) -> reclaimscope_sim::Metrics {
    let s = sim(sc, policy);
    let mut acc = MetricsAcc::new(&s);
    for seed in 0..SEEDS {
        run_with(&s, seed, MAX, &mut acc);
    }
    acc.finish(&s)
}

fn lock_wait(m: &reclaimscope_sim::Metrics, lock: &str) -> u64 {
    m.lock_wait.iter().find(|l| l.lock == lock).unwrap().time
}

/// 9ea61cac0b1a: GFP_NOIO reclaim under dm_bufio_lock makes every other
/// user of the lock wait; GFP_NOWAIT under the lock does not reclaim.
#[test]
fn s5_nowait_then_noio_waits_less_on_the_bufio_lock() {
    let old = metrics(
        &with("s5-bufio-lock.toml", &["bufio.alloc=noio-under-lock"]),
        "baseline",
    );
    let new = metrics(
        &with("s5-bufio-lock.toml", &["bufio.alloc=nowait-then-noio"]),
        "baseline",
    );
    let (o, n) = (lock_wait(&old, "bufio.lock"), lock_wait(&new, "bufio.lock"));
    assert!(n * 3 < o * 2, "nowait-then-noio {n} vs noio-under-lock {o}");
}

/// dm-bufio's reserved buffers absorb __GFP_NORETRY failures; without
/// them the read returns -ENOMEM.
#[test]
fn s5_noretry_enomem_only_without_reserves() {
    for alloc in ["noio-under-lock", "nowait-then-noio"] {
        let a = format!("bufio.alloc={alloc}");
        let with_res = metrics(
            &with("s5-bufio-lock.toml", &[&a, "bufio.reserved=1"]),
            "baseline",
        );
        let without = metrics(
            &with("s5-bufio-lock.toml", &[&a, "bufio.reserved=0"]),
            "baseline",
        );
        assert!(
            with_res.alloc_failures > 0,
            "{alloc}: the NORETRY allocation must fail sometimes"
        );
        assert_eq!(with_res.enomem, 0, "{alloc}");
        assert!(without.enomem > 0, "{alloc}");
    }
}

/// Seed 003: reach from NOFS contexts, dependency-aware >= sb-context >
/// baseline >= swap-only-io > merged.
#[test]
fn s6_reach_ordering() {
    let sc = scenario("s6-many-filesystems.toml");
    let reach = |p: &str| {
        let m = metrics(&sc, p);
        m.reach_pages as f64 / m.reclaimable_pages as f64
    };
    let (da, sb, base, soi, merged) = (
        reach("dependency-aware"),
        reach("sb-context"),
        reach("baseline"),
        reach("swap-only-io"),
        reach("merged"),
    );
    assert!(
        da >= sb && sb > base && base >= soi && soi > merged,
        "{da} {sb} {base} {soi} {merged}"
    );
}

/// Same scenario + seed = the same report, byte for byte.
#[test]
fn runs_are_deterministic() {
    for name in [
        "s1-loop-bufio.toml",
        "s2-tcmu-zoned.toml",
        "s5-bufio-lock.toml",
        "s6-many-filesystems.toml",
    ] {
        let sc = scenario(name);
        for seed in [0, 7, 12345] {
            let a = serde_json::to_string(&run(&sim(&sc, "baseline"), seed, MAX)).unwrap();
            let b =
                serde_json::to_string(&run(&sim(&scenario(name), "baseline"), seed, MAX)).unwrap();
            assert_eq!(a, b);
        }
    }
}

/// A run stops at the step bound and says so instead of hanging.
#[test]
fn step_bound_is_reported() {
    let r = run(
        &sim(&scenario("s6-many-filesystems.toml"), "baseline"),
        1,
        3,
    );
    assert_eq!(r.outcome, Outcome::Stuck);
    assert!(r.reason.unwrap().contains("within 3 steps"));
}
