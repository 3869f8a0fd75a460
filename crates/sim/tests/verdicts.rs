//! The expected verdicts of S1–S4 (README and docs), checked exhaustively (BFS over every
//! choice) for S1–S4: each row's deadlock is reachable, and each fix the
//! table marks safe has no reachable deadlock or stuck world.
mod common;
use common::*;
use reclaimscope_sim::{Scenario, Sim, Status};

fn with(name: &str, sets: &[&str]) -> Scenario {
    let mut sc = scenario(name);
    for kv in sets {
        let (k, v) = kv.split_once('=').unwrap();
        sc.set(k, v).unwrap();
    }
    sc
}

/// Asserts a deadlock whose cycle names exactly `names` (tasks and
/// resources, in any order) and returns the story.
fn deadlocks(sim: &Sim, names: &[&str]) -> Vec<String> {
    match explore(sim, 200_000) {
        Verdict::Safe { states } => panic!(
            "{}: expected a deadlock, safe after {states} states",
            sim.policy()
        ),
        Verdict::Bad {
            status,
            trace,
            world,
        } => {
            assert_eq!(status, Status::Deadlock, "{}", sim.stuck_reason(&world));
            let cycle = sim.wait_for_cycle(&world).expect("a cycle");
            let mut got: Vec<String> = Vec::new();
            for e in &cycle {
                got.push(sim.task_name(e.task as usize).to_string());
                got.push(sim.resource_name(&e.waits_for));
            }
            got.sort();
            let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(
                got,
                want,
                "{}: cycle {}",
                sim.policy(),
                sim.cycle_text(&cycle)
            );
            story(sim, &trace)
        }
    }
}

fn safe(sim: &Sim) {
    if let Verdict::Bad {
        status,
        trace,
        world,
    } = explore(sim, 500_000)
    {
        panic!(
            "{}: expected safe, found {status:?}:\n{}\n{}",
            sim.policy(),
            story(sim, &trace).join("\n"),
            sim.blocked_lines(&world).join("\n")
        );
    }
}

const S1_CYCLE: &[&str] = &["a-task", "bio@loop0", "loop0 worker", "a.journal"];
/// The loop worker without PF_MEMALLOC_NOIO (before v5.3 / 5.2.9).
const S1_CYCLE_NO_NOIO: &[&str] = &["a-task", "bio@loop0", "loop0 worker", "bufio.lock"];

/// "[PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-29): GFP_NOFS reclaim -> io-gated bufio shrinker writes to loop0 ->
/// loop worker writes the file on A -> A's journal, held by the allocator.
#[test]
fn s1_baseline_deadlock_reads_like_seed_000() {
    let sc = scenario("s1-loop-bufio.toml");
    let story = deadlocks(&sim(&sc, "baseline"), S1_CYCLE);
    let all = story.join("\n");
    assert!(
        all.contains("kmalloc(GFP_NOFS)") && all.contains("enters direct reclaim"),
        "{all}"
    );
    assert!(
        all.contains("dm-bufio shrinker") && all.contains("sees __GFP_IO"),
        "{all}"
    );
    assert!(all.contains("writes back 1 dirty buffer to loop0"), "{all}");
    assert!(all.contains("loop0 worker: takes the write bio"), "{all}");
}

/// None of sb-context, io-flusher, bio-context stops the shrinker's I/O.
#[test]
fn s1_still_deadlocks_under_policies_that_miss_the_shrinker() {
    let sc = scenario("s1-loop-bufio.toml");
    for p in ["sb-context", "io-flusher", "bio-context"] {
        deadlocks(&sim(&sc, p), S1_CYCLE);
    }
    // Mikulas: "setting PF_MEMALLOC_NOIO on the loop thread won't help".
    // Without it the worker deadlocks sooner: it grabs the page-cache page
    // before starting the jbd2 handle (ext4_write_begin:
    // grab_cache_page_write_begin, then ext4_journal_start), so its
    // GFP_KERNEL allocation reclaims first and waits in the dm-bufio
    // shrinker for bufio.lock, held by a-task (bd293d071ffe's changelog).
    deadlocks(
        &sim(
            &with("s1-loop-bufio.toml", &["loop0.noio=false"]),
            "baseline",
        ),
        S1_CYCLE_NO_NOIO,
    );
}

#[test]
fn s1_safe_with_later_gates_and_the_fixing_policies() {
    for g in ["fs", "trylock", "workqueue"] {
        safe(&sim(
            &with("s1-loop-bufio.toml", &[&format!("bufio.gate={g}")]),
            "baseline",
        ));
    }
    let sc = scenario("s1-loop-bufio.toml");
    for p in ["merged", "swap-only-io", "dependency-aware"] {
        safe(&sim(&sc, p));
    }
}

/// --kernel: 3.2 had the io gate and a loop worker without NOIO (deadlock,
/// the worker reclaiming into the dm-bufio shrinker's lock); 6.1 defers
/// bufio reclaim to a workqueue.
#[test]
fn s1_by_kernel_release() {
    let mut old = scenario("s1-loop-bufio.toml");
    old.apply_overrides(Some("3.2"), &[]).unwrap();
    deadlocks(&sim(&old, "baseline"), S1_CYCLE_NO_NOIO);
    let mut new = scenario("s1-loop-bufio.toml");
    new.apply_overrides(Some("6.1"), &[]).unwrap();
    safe(&sim(&new, "baseline"));
}

const S2_CYCLE: &[&str] = &["tcmu-runner", "bio@tcmu0"];

/// "Re: [PATCH] ext4: Fix deadlock on page reclaim" (2019-07-30): tcmu-runner's pwrite on ext4 reclaims XFS inodes whose
/// writeback needs tcmu-runner itself (QD=1).
#[test]
fn s2_tcmu_runner_waits_on_itself() {
    let sc = scenario("s2-tcmu-zoned.toml");
    for p in ["baseline", "merged", "bio-context"] {
        let story = deadlocks(&sim(&sc, p), S2_CYCLE);
        let all = story.join("\n");
        assert!(all.contains("superblock shrinker of xfs"), "{all}");
    }
    for p in [
        "mapping-nofs",
        "vfs-nofs",
        "rwf-nofsreclaim",
        "io-flusher",
        "sb-context",
        "dependency-aware",
    ] {
        safe(&sim(&sc, p));
    }
}

/// "Re: [PATCH] ext4: Fix deadlock on page reclaim" (2019-07-30), loop variant: safe once the loop worker runs NOIO (v5.3).
#[test]
fn s3_loop_worker_noio() {
    deadlocks(
        &sim(&scenario("s3-loop-xfs-on-ext4.toml"), "baseline"),
        &["loop0 worker", "bio@loop0"],
    );
    safe(&sim(
        &with("s3-loop-xfs-on-ext4.toml", &["loop0.noio=true"]),
        "baseline",
    ));
    let mut v53 = scenario("s3-loop-xfs-on-ext4.toml");
    v53.apply_overrides(Some("5.3"), &[]).unwrap();
    safe(&sim(&v53, "baseline"));
}

/// "Re: [PATCH] vmalloc: respect the GFP_NOIO and GFP_NOFS flags" (2017-06-30): legacy __vmalloc page tables are GFP_KERNEL inside the transaction.
#[test]
fn s4_vmalloc_page_tables() {
    let story = deadlocks(
        &sim(&scenario("s4-vmalloc-nofs.toml"), "baseline"),
        &["fs-task", "x.journal"],
    );
    assert!(
        story
            .join("\n")
            .contains("__vmalloc page tables(GFP_KERNEL)"),
        "{story:?}"
    );
    safe(&sim(
        &with("s4-vmalloc-nofs.toml", &["vmalloc=modern"]),
        "baseline",
    ));
    safe(&sim(
        &with("s4-vmalloc-nofs.toml", &["fs-task.scope=nofs"]),
        "baseline",
    )); // 451769ebb7e7 landed in v5.17. From v5.14 XFS inactivates
    // inodes in inodegc workers (ab23a7768739) and the shrinker takes no
    // log: keep reclaim's inactivation to see the vmalloc fact alone.
    for (release, deadlock) in [("5.16", true), ("5.17", false)] {
        let mut sc = scenario("s4-vmalloc-nofs.toml");
        sc.apply_overrides(Some(release), &["x.inactivate_in_reclaim=true".into()])
            .unwrap();
        let bad = matches!(explore(&sim(&sc, "baseline"), 10_000), Verdict::Bad { .. });
        assert_eq!(bad, deadlock, "--kernel {release}");
    }
}

/// The checker's contract: a world without choices is final, and every
/// listed choice changes the world (asserted inside `explore`).
#[test]
fn state_spaces_stay_small() {
    for name in [
        "s1-loop-bufio.toml",
        "s2-tcmu-zoned.toml",
        "s3-loop-xfs-on-ext4.toml",
        "s4-vmalloc-nofs.toml",
    ] {
        let sc = with(name, &[]);
        for p in ["dependency-aware", "sb-context", "io-flusher"] {
            match explore(&sim(&sc, p), 100_000) {
                Verdict::Safe { states } => assert!(states < 100_000),
                Verdict::Bad { .. } => {}
            }
        }
    }
}
