//! The expected verdicts of the shipped scenarios, checked exhaustively on the
//! shipped scenarios (scenarios/*.toml). Each expectation is argued from the
//! kernel behaviour the scenario models; the checker only calls the
//! simulator's step function, so these test the whole pipeline
//! model -> sim -> check.

use std::path::PathBuf;

use reclaimscope_check::checker::Options;
use reclaimscope_check::sim_model::{Outcome, Plan, check_sim};
use reclaimscope_model::Policy;
use reclaimscope_sim::{Scenario, Sim};

fn scenario_path(prefix: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    std::fs::read_dir(&dir)
        .expect("scenarios directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(prefix) && f.ends_with(".toml"))
        })
        .unwrap_or_else(|| panic!("no scenarios/{prefix}*.toml"))
}

fn load(prefix: &str, sets: &[(&str, &str)]) -> Scenario {
    let path = scenario_path(prefix);
    let mut sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    for (k, v) in sets {
        sc.set(k, v)
            .unwrap_or_else(|e| panic!("--set {k}={v}: {e}"));
    }
    sc
}

fn outcome(sc: &Scenario, policy: &str, reduce: bool, threads: usize) -> Outcome {
    outcome_with(sc, policy, reduce, threads, true)
}

fn outcome_with(
    sc: &Scenario,
    policy: &str,
    reduce: bool,
    threads: usize,
    livelock: bool,
) -> Outcome {
    let p = Policy::parse(policy).unwrap();
    let sim = Sim::new(sc, &p).unwrap_or_else(|e| panic!("{e}"));
    let opts = Options {
        threads,
        por: reduce,
        symmetry: reduce,
        ..Options::default()
    };
    check_sim(&sim, sc.name(), policy, &opts, Plan { livelock })
}

fn verdict(prefix: &str, sets: &[(&str, &str)], policy: &str) -> &'static str {
    outcome(&load(prefix, sets), policy, true, 2).verdict
}

/// The policies that leave a userspace daemon's own allocations alone:
/// they narrow NOFS contexts (merged, swap-only-io), superblock contexts
/// (sb-context), a lower filesystem's page cache (mapping-nofs), file
/// reads and writes (vfs-nofs, rwf-nofsreclaim) or bios (bio-context),
/// none of which covers a fault or a socket receive in the daemon.
const DAEMON_UNCOVERED: &[&str] = &[
    "baseline",
    "merged",
    "swap-only-io",
    "sb-context",
    "mapping-nofs",
    "vfs-nofs",
    "rwf-nofsreclaim",
    "bio-context",
];

fn assert_verdicts(prefix: &str, sets: &[(&str, &str)], expected: &str, policies: &[&str]) {
    for p in policies {
        assert_eq!(
            verdict(prefix, sets, p),
            expected,
            "{prefix} {sets:?} under {p}"
        );
    }
}

// ---- S1, "[PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-29): fs A's task holds A's journal and allocates GFP_NOFS;
// dm-bufio holds dirty buffers on loop0, backed by a file on A.

/// Baseline: GFP_NOFS keeps __GFP_IO, and the dm-bufio shrinker as first
/// merged (gate `io`) writes dirty buffers and waits when __GFP_IO is set.
/// The write goes to loop0, whose worker does the file write on A and needs
/// A's journal, held by the allocating task: a cycle. sb-context, io-flusher
/// and bio-context change contexts elsewhere, but none makes this shrinker
/// skip its I/O from a NOFS context, so they deadlock too.
#[test]
fn s1_deadlocks_where_the_shrinker_still_does_io() {
    assert_verdicts(
        "s1",
        &[],
        "deadlock",
        &["baseline", "sb-context", "io-flusher", "bio-context"],
    );
}

/// Gate `fs` (9d28eb12447e, 2014): dm_bufio_shrink_scan() returns SHRINK_STOP
/// without __GFP_FS. `trylock` skips dirty buffers without __GFP_FS;
/// `workqueue` (v5.8) never does I/O in reclaim. `merged` and `swap-only-io`
/// take __GFP_IO (for anything but swap) from NOFS contexts; dependency-aware
/// sees that the bufio write needs loop0, which needs the journal held here.
/// Reclaim then takes the clean cache elsewhere and the allocation succeeds.
#[test]
fn s1_is_safe_when_the_shrinker_cannot_write_from_nofs() {
    for gate in ["fs", "trylock", "workqueue"] {
        assert_verdicts("s1", &[("bufio.gate", gate)], "safe", &["baseline"]);
    }
    assert_verdicts(
        "s1",
        &[],
        "safe",
        &["merged", "swap-only-io", "dependency-aware"],
    );
}

/// The shortest counterexample reads as "[PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-29)'s five steps: the
/// filesystem's GFP_NOFS allocation, the dm-bufio shrinker writing back
/// because __GFP_IO is set, the write to loop0, the loop worker entering the
/// filesystem whose journal the first task holds.
#[test]
fn s1_trace_is_seed_000s_story() {
    let o = outcome(&load("s1", &[]), "baseline", true, 2);
    assert_eq!(o.verdict, "deadlock");
    let story: Vec<&str> = o.trace.iter().map(|l| l.description.as_str()).collect();
    let at = |needle: &str| {
        story
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no step mentions {needle}:\n{}", story.join("\n")))
    };
    let alloc = at("GFP_NOFS");
    let shrinker = at("bufio");
    let loop_write = at("loop0");
    assert!(alloc <= shrinker && shrinker <= loop_write, "{story:#?}");
    assert!(
        story[shrinker..].iter().any(|l| l.contains("__GFP_IO")),
        "{story:#?}"
    );
    assert!(!o.wait_for_cycle.is_empty());
    assert!(
        o.wait_for_cycle.iter().any(|e| e.contains("loop0")),
        "{:?}",
        o.wait_for_cycle
    );
}

// ---- S2, "Re: [PATCH] ext4: Fix deadlock on page reclaim" (2019-07-30): XFS on dm-zoned on a tcmu device served by tcmu-runner
// (QD=1) that pwrite()s a file on ext4; a writer dirties XFS.

/// The flusher's XFS write reaches tcmu-runner, whose pwrite on ext4
/// allocates page cache with __GFP_FS; direct reclaim enters the XFS
/// superblock shrinker, whose inode writeback needs tcmu-runner (QD=1, busy
/// allocating). `merged` only matters for NOFS contexts (tcmu-runner's is
/// not one); `bio-context` carries the flusher's context, which allows FS.
#[test]
fn s2_deadlocks_under_baseline_merged_and_bio_context() {
    assert_verdicts(
        "s2",
        &[],
        "deadlock",
        &["baseline", "merged", "bio-context"],
    );
}

/// Each of these takes __GFP_FS from tcmu-runner's page-cache allocation
/// (mapping-nofs: ext4 backs a device; vfs-nofs / rwf-nofsreclaim: NOFS for
/// its pwrite; io-flusher: PR_SET_IO_FLUSHER = NOIO) or keeps reclaim off
/// XFS (sb-context: XFS is at another depth; dependency-aware: XFS's inode
/// writeback needs the server that is allocating), so
/// super_cache_scan() returns SHRINK_STOP and reclaim takes other memory.
#[test]
fn s2_is_safe_when_the_daemon_cannot_reenter_xfs() {
    assert_verdicts(
        "s2",
        &[],
        "safe",
        &[
            "mapping-nofs",
            "vfs-nofs",
            "rwf-nofsreclaim",
            "io-flusher",
            "sb-context",
            "dependency-aware",
        ],
    );
}

// ---- S3, "Re: [PATCH] ext4: Fix deadlock on page reclaim" (2019-07-30)'s loop variant: XFS on loop on an ext4 file.

/// Before v5.3 the loop worker ran without PF_MEMALLOC_NOIO: its page-cache
/// allocation on ext4 may enter XFS's superblock shrinker, which writes an
/// inode buffer to the loop device it is serving. Since v5.3 loop_worker
/// runs under NOIO: current_gfp_context() clears __GFP_FS and __GFP_IO and
/// the XFS shrinker returns SHRINK_STOP.
#[test]
fn s3_deadlocks_only_without_a_noio_loop_worker() {
    assert_verdicts("s3", &[], "deadlock", &["baseline"]);
    assert_verdicts("s3", &[("loop.noio", "true")], "safe", &["baseline"]);
}

// ---- S4, "Re: [PATCH] vmalloc: respect the GFP_NOIO and GFP_NOFS flags" (2017-06-30): a task in a transaction (holds the journal) calls
// __vmalloc(GFP_NOFS).

/// Before v5.17 __vmalloc allocated page tables with GFP_KERNEL whatever the
/// caller passed: reclaim may enter the same filesystem's superblock
/// shrinker, which needs the journal the caller holds. With modern vmalloc
/// (page tables under memalloc_nofs_save) or a caller NOFS scope
/// (memalloc_nofs_save around the transaction) the mask keeps !__GFP_FS.
#[test]
fn s4_deadlocks_with_legacy_vmalloc_page_tables_only() {
    assert_verdicts("s4", &[], "deadlock", &["baseline"]);
    assert_verdicts("s4", &[("vmalloc", "modern")], "safe", &["baseline"]);
    let sc = load("s4", &[]);
    let caller = sc
        .tasks
        .iter()
        .find(|t| t.scope.is_none())
        .map(|t| t.name.clone())
        .expect("a task without a scope");
    let key = format!("{caller}.scope");
    assert_verdicts("s4", &[(key.as_str(), "nofs")], "safe", &["baseline"]);
}

// ---- S5, "Re: dm bufio: Reduce dm_bufio_lock contention" (2018-06-18) and S6, Dave Chinner's "Re: [PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-27): no deadlock under any policy.

/// dm-bufio allocations under dm_bufio_lock use GFP_NOIO | __GFP_NORETRY (or
/// GFP_NOWAIT then GFP_NOIO after dropping the lock): NOIO keeps reclaim out
/// of any I/O, and NORETRY gives up after one round (falling back to a
/// reserved buffer or -ENOMEM), so nothing waits in a cycle.
#[test]
fn s5_is_safe_under_both_bufio_allocation_schemes_and_every_policy() {
    for alloc in ["noio-under-lock", "nowait-then-noio"] {
        for p in Policy::all() {
            assert_eq!(
                verdict("s5", &[("bufio.alloc", alloc)], &p.to_string()),
                "safe",
                "s5 alloc={alloc} under {p}"
            );
        }
    }
}

/// Many filesystems at the same depth, each with a NOFS task: a NOFS
/// allocation never enters its own superblock shrinker, and the other
/// filesystems' caches and swap need nothing it holds, so every policy only
/// changes how much reclaim can reach, never whether it completes.
#[test]
fn s6_is_safe_under_every_policy() {
    for p in Policy::all() {
        assert_eq!(verdict("s6", &[], &p.to_string()), "safe", "s6 under {p}");
    }
}

// ---- Reductions and threads never change an answer.

/// Partial-order and symmetry reduction (see reclaimscope_check::checker for
/// why they are sound): the same verdict and the same shortest trace length
/// as the full interleaving space, on every shipped scenario under every
/// policy. (The livelock search is compared with its reduction on and off
/// in `livelock_por.rs`.)
#[test]
fn reductions_keep_every_verdict_and_shortest_length() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for f in files {
        let sc = Scenario::load(&f).unwrap();
        for p in Policy::all().iter().map(Policy::to_string) {
            let p = p.as_str();
            let full = outcome_with(&sc, p, false, 2, false);
            let reduced = outcome_with(&sc, p, true, 2, false);
            assert_eq!(full.verdict, reduced.verdict, "{} {p}", f.display());
            assert_eq!(full.trace.len(), reduced.trace.len(), "{} {p}", f.display());
            assert!(reduced.states <= full.states, "{} {p}", f.display());
        }
    }
}

/// S6 under sb-context has levels of thousands of states, so the parallel
/// pipeline (expansion on the pool, merge in order) is exercised.
#[test]
fn one_and_two_threads_give_the_same_outcome() {
    for (prefix, policy) in [("s1", "baseline"), ("s3", "baseline"), ("s6", "sb-context")] {
        let sc = load(prefix, &[]);
        let one = outcome(&sc, policy, true, 1);
        let two = outcome(&sc, policy, true, 2);
        assert_eq!(format!("{one:?}"), format!("{two:?}"), "{prefix} {policy}");
    }
}

// ---- kswapd <-> loop <-> dm-bufio: the deadlock that made the loop worker
// NOIO (d0a255e795ab, v5.3).

/// kswapd reclaims with GFP_KERNEL, so the `fs`-gated dm-bufio shrinker takes
/// dm_bufio_lock and writes to loop0; the loop worker's page-cache
/// allocation (GFP_KERNEL before v5.3) reclaims into the same shrinker and
/// blocks on the lock kswapd holds while kswapd waits for that worker.
/// With the worker under PF_MEMALLOC_NOIO, current_gfp_context() clears
/// __GFP_FS and the shrinker only trylocks: safe. `--kernel 5.3` gives both
/// the NOIO worker and the trylock gate.
#[test]
fn kswapd_loop_bufio_needs_a_noio_loop_worker() {
    assert_verdicts("kswapd-loop-bufio", &[], "deadlock", &["baseline"]);
    assert_verdicts(
        "kswapd-loop-bufio",
        &[("loop0.noio", "true")],
        "safe",
        &["baseline"],
    );
    let mut v53 = load("kswapd-loop-bufio", &[]);
    v53.apply_overrides(Some("5.3"), &[]).unwrap();
    assert_eq!(outcome(&v53, "baseline", true, 2).verdict, "safe");
    let mut v52 = load("kswapd-loop-bufio", &[]);
    v52.apply_overrides(Some("5.2"), &[]).unwrap();
    assert_eq!(outcome(&v52, "baseline", true, 2).verdict, "deadlock");
}

/// "Re: [PATCH] ext4: Fix deadlock on page reclaim" (2019-07-30)'s prctl idea, as upstream shipped it (v5.6): tcmu-runner calls
/// PR_SET_IO_FLUSHER itself. Its pwrite's page-cache allocation then runs
/// under PF_MEMALLOC_NOIO, current_gfp_context() clears __GFP_FS, and the
/// XFS superblock shrinker returns SHRINK_STOP: safe under baseline, like
/// the `io-flusher` policy that marks every server.
#[test]
fn s2_is_safe_when_tcmu_runner_is_an_io_flusher() {
    assert_verdicts("s2", &[("tcmu0.io_flusher", "true")], "safe", &["baseline"]);
    assert_verdicts(
        "s2",
        &[("tcmu0.io_flusher", "false")],
        "deadlock",
        &["baseline"],
    );
}

// ---- nbd-socket: XFS on nbd0 served by a userspace NBD server (rbd-nbd)
// that forwards requests over TCP; the PR_SET_IO_FLUSHER changelog's story.

/// The server's `sendmsg` allocates skbs with `sk->sk_allocation`, which
/// `sock_init_data` sets to GFP_KERNEL, outside any filesystem: direct
/// reclaim reaches the XFS superblock shrinker, whose dirty inode goes to
/// nbd0, served only by the allocating thread. Policies that narrow NOFS
/// contexts (merged, swap-only-io), superblock contexts (sb-context: the
/// allocation has none), page cache of a lower fs (mapping-nofs), file
/// reads/writes (vfs-nofs, rwf-nofsreclaim) or bios (bio-context: no bio
/// reaches userspace) do not touch it: deadlock.
#[test]
fn nbd_socket_deadlocks_unless_the_server_is_an_io_flusher() {
    assert_verdicts("nbd-socket", &[], "deadlock", DAEMON_UNCOVERED);
    // PR_SET_IO_FLUSHER: every allocation of the server is NOIO and
    // `super_cache_scan` returns SHRINK_STOP; dependency-aware skips the
    // superblock whose bio needs the allocating thread.
    assert_verdicts(
        "nbd-socket",
        &[],
        "safe",
        &["io-flusher", "dependency-aware"],
    );
    // The server calling the prctl itself: safe from v5.6 (8d19f1c8e193).
    assert_verdicts(
        "nbd-socket",
        &[("nbd0.io_flusher", "true")],
        "safe",
        &["baseline"],
    );
    // Two handler threads: one can serve the inode write the other's
    // reclaim waits for, until both are in reclaim: still a deadlock.
    assert_verdicts(
        "nbd-socket",
        &[("nbd0.threads", "2")],
        "deadlock",
        &["baseline"],
    );
}

// ---- fuse-anon: XFS on loop0 over an image on a write-through FUSE mount;
// the FUSE daemon faults in anonymous memory while serving.

/// The loop worker's write to the FUSE file waits for FUSE_WRITE's reply
/// (`fuse_send_write_pages`); the daemon's anonymous fault allocates
/// GFP_HIGHUSER_MOVABLE in no filesystem context and reclaim enters the XFS
/// superblock shrinker, whose inode write needs loop0's worker: a cycle
/// through two servers. Only a fix that covers every allocation of the
/// daemon (io-flusher) or looks at the dependency (dependency-aware) helps;
/// the file-I/O fixes cover its pwrite, which comes after the fault.
#[test]
fn fuse_anon_needs_a_task_wide_context() {
    assert_verdicts("fuse-anon", &[], "deadlock", DAEMON_UNCOVERED);
    assert_verdicts(
        "fuse-anon",
        &[],
        "safe",
        &["io-flusher", "dependency-aware"],
    );
    // With writeback_cache the loop worker's write only dirties FUSE page
    // cache and returns: the cycle is gone.
    assert_verdicts(
        "fuse-anon",
        &[("fusefs.write_through", "false")],
        "safe",
        &["baseline"],
    );
}
