//! Model fidelity by kernel behaviour and release: each test states the
//! kernel code its expected verdict follows from.
mod common;
use common::*;
use reclaimscope_sim::{Scenario, Status};

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

fn shipped_with(name: &str, kernel: &str, sets: &[&str]) -> Scenario {
    let mut sc = scenario(name);
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    sc.apply_overrides(Some(kernel), &sets)
        .unwrap_or_else(|e| panic!("{e}"));
    sc
}

/// S2 with a tcmu-runner that calls `prctl(PR_SET_IO_FLUSHER, 1)` at
/// startup. From v5.6 (8d19f1c8e193, kernel/sys.c) the prctl sets
/// PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE: its pwrite's page-cache allocation
/// cannot enter the XFS superblock shrinker (`super_cache_scan` needs
/// `__GFP_FS`), so the stack is safe. On 5.4 the prctl returns -EINVAL:
/// the daemon allocates with GFP_KERNEL and S2's deadlock is back, and the
/// scenario says why in a note.
#[test]
fn io_flusher_needs_v5_6() {
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/s2-tcmu-zoned.toml"),
    )
    .unwrap()
    .replace("queue_depth = 1", "queue_depth = 1\nio_flusher = true");
    let base = load(&src);
    for (k, want) in [
        ("5.4", "deadlock"),
        ("5.5.19", "deadlock"),
        ("5.6", "safe"),
        ("6.1", "safe"),
    ] {
        let mut sc = base.clone();
        sc.apply_overrides(Some(k), &[]).unwrap();
        assert_eq!(verdict(&sc, "baseline"), want, "--kernel {k}");
        let noted = sc
            .notes
            .iter()
            .any(|n| n.contains("PR_SET_IO_FLUSHER arrived in v5.6"));
        assert_eq!(noted, want == "deadlock", "--kernel {k}: {:?}", sc.notes);
    }
    // A task that calls the prctl itself: a no-op before v5.6.
    let task = load(
        r#"name = "prctl"
[memory]
free = 4
min = 4
[[disk]]
name = "sda"
[[fs]]
name = "a"
type = "xfs"                     # on 5.4 its inode reclaim writes and waits
dev = "sda"
inodes = 2
dirty_inodes = 2
[[task]]
name = "t"
program = ["prctl io-flusher", "alloc gfp=GFP_KERNEL pages=1"]
"#,
    );
    // With PF_MEMALLOC_NOIO (`current_gfp_context` clears __GFP_IO and
    // __GFP_FS) the GFP_KERNEL allocation cannot reach the superblock
    // shrinker (`super_cache_scan` returns SHRINK_STOP without __GFP_FS)
    // and retries forever (no OOM killer for !__GFP_FS); without it,
    // `super_cache_scan` writes back the dirty inodes and frees them.
    assert_eq!(verdict(&task, "baseline"), "stuck");
    let mut old = task.clone();
    old.apply_overrides(Some("5.4"), &[]).unwrap();
    assert_eq!(verdict(&old, "baseline"), "safe");
    assert!(old.notes.iter().any(|n| n.contains("task `t` calls prctl")));
}

/// S3's loop worker: `loop_kthread_worker_fn` sets PF_MEMALLOC_NOIO from
/// d0a255e795ab (v5.3), which was Cc: stable and is in 5.2.9. 5.2.8 has the
/// worker allocate with GFP_KERNEL through `vfs_iter_write` and deadlock
/// on the XFS superblock shrinker; 5.2.21 is safe, as is 5.3; no 5.1
/// point release got the backport.
#[test]
fn stable_point_releases_carry_backports() {
    let v = |k| {
        verdict(
            &shipped_with("s3-loop-xfs-on-ext4.toml", k, &[]),
            "baseline",
        )
    };
    assert_eq!(v("5.2.8"), "deadlock");
    assert_eq!(v("5.2.21"), "safe");
    assert_eq!(v("5.3"), "safe");
    assert_eq!(v("5.1.21"), "deadlock");
    // A distribution kernel: named as such, modelled as its upstream base.
    let sc = shipped_with("s3-loop-xfs-on-ext4.toml", "5.2.0-1-amd64", &[]);
    assert!(
        sc.notes
            .iter()
            .any(|n| n.contains("cannot be known from the version"))
    );
    assert_eq!(verdict(&sc, "baseline"), "deadlock");
}

/// Run task 0 alone (its Run choice while it has one), describing each step;
/// stop when it waits for a bio. Returns the story and the world.
fn run_task0(sim: &reclaimscope_sim::Sim) -> (Vec<String>, reclaimscope_sim::World) {
    use reclaimscope_sim::ChoiceKind;
    let mut w = sim.initial();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for _ in 0..50 {
        sim.choices(&w, &mut buf);
        let Some(c) = buf
            .iter()
            .find(|c| c.kind == ChoiceKind::Run && c.task == 0)
            .copied()
        else {
            break;
        };
        out.push(sim.describe(&w, c));
        w = sim.step(&w, c);
    }
    (out, w)
}

const WRITEBACK: &str = r#"name = "wb"
[memory]
free = 16
min = 4
batch = 8
[[disk]]
name = "sda"
[[fs]]
name = "a"
dev = "sda"
dirty = 3                        # other files' dirty pages
[[task]]
name = "t"
program = ["write a:/f pages=2", "fsync a:/f"]
"#;

/// `fsync(2)` (`file_write_and_wait_range`) writes back the file's own
/// dirty pages, not the filesystem's (that is `syncfs`): the task dirtied 2
/// pages and its bio carries 2, while the fs holds 5 dirty pages. While the
/// bio is in flight those pages are under writeback (`folio_start_writeback`
/// cleared PG_dirty): the flusher (`wb_workfn`) may only take the 3 pages
/// of other files, never the 2 again.
#[test]
fn fsync_writes_its_own_pages_once() {
    use reclaimscope_sim::ChoiceKind;
    let sc = load(WRITEBACK);
    let sim = sim(&sc, "baseline");
    let (story, w) = run_task0(&sim);
    let last = story.last().unwrap();
    assert!(
        last.contains("fsync on a") && last.contains("bio of 2 pages"),
        "{story:#?}"
    );
    let mut buf = Vec::new();
    sim.choices(&w, &mut buf);
    let flush = buf
        .iter()
        .find(|c| c.kind == ChoiceKind::Flush)
        .copied()
        .expect("the other files' dirty pages can be flushed");
    let line = sim.describe(&w, flush);
    assert!(line.contains("writes back 3 dirty pages"), "{line}");
    let w2 = sim.step(&w, flush);
    sim.choices(&w2, &mut buf);
    assert!(
        !buf.iter().any(|c| c.kind == ChoiceKind::Flush),
        "every dirty page is under writeback"
    );
    assert_eq!(verdict(&sc, "baseline"), "safe");
}

fn in_transaction(kind: &str) -> Scenario {
    load(&format!(
        r#"name = "trans"
[memory]
free = 4
min = 4
[[disk]]
name = "sda"
[[disk]]
name = "sdb"
[[fs]]
name = "a"
dev = "sda"
inodes = 2
shrinker_locks = ["a.journal"]   # evicting an inode joins the journal
[[fs]]
name = "b"
dev = "sdb"
clean = 4
[[lock]]
name = "a.journal"
kind = "{kind}"
[[task]]
name = "t"
fs = "a"
program = ["lock a.journal", "alloc gfp=GFP_KERNEL pages=1", "unlock a.journal"]
"#
    ))
}

/// A GFP_KERNEL allocation made while holding a filesystem transaction.
/// From v4.12 `start_this_handle` (81378da64de6, fs/jbd2/transaction.c)
/// and `xfs_trans_set_context` (9070733b4efa) call `memalloc_nofs_save`:
/// `current_gfp_context` clears `__GFP_FS`, `super_cache_scan` of `a`
/// returns SHRINK_STOP, reclaim drops b's clean cache: safe. On 4.11 the
/// mask is what the caller wrote, the superblock shrinker is entered and
/// waits for the journal the task holds: deadlock. A btrfs transaction is
/// not a scope on any release (`btrfs_start_transaction` sets none).
#[test]
fn transactions_are_nofs_scopes_from_v4_12() {
    for kind in ["jbd2-handle", "xfs-transaction"] {
        let sc = in_transaction(kind);
        assert_eq!(verdict(&sc, "baseline"), "safe", "{kind}");
        let mut old = sc.clone();
        old.apply_overrides(Some("4.11"), &[]).unwrap();
        assert_eq!(verdict(&old, "baseline"), "deadlock", "{kind} on 4.11");
        let mut new = sc.clone();
        new.apply_overrides(Some("4.12"), &[]).unwrap();
        assert_eq!(verdict(&new, "baseline"), "safe", "{kind} on 4.12");
        // --set reaches it too.
        let mut off = sc.clone();
        off.set("a.journal.nofs", "false").unwrap();
        assert_eq!(verdict(&off, "baseline"), "deadlock", "{kind} nofs=false");
    }
    assert_eq!(
        verdict(&in_transaction("btrfs-transaction"), "baseline"),
        "deadlock"
    );
    assert_eq!(verdict(&in_transaction("mutex"), "baseline"), "deadlock");
}

/// ext4's buffered write grabs the page-cache page before it starts the
/// handle (`ext4_write_begin`: `grab_cache_page_write_begin`, then
/// `ext4_journal_start`; fs/ext4/inode.c), so tcmu-runner's pwrite in S2
/// allocates with GFP_KERNEL holding nothing, and the journal is never in
/// S2's story.
#[test]
fn the_write_path_allocates_before_the_handle() {
    let sc = scenario("s2-tcmu-zoned.toml");
    let s = sim(&sc, "baseline");
    let Verdict::Bad { trace, .. } = explore(&s, 200_000) else {
        panic!("S2 deadlocks under baseline");
    };
    let story = story(&s, &trace);
    let alloc = story
        .iter()
        .position(|l| l.starts_with("tcmu-runner: page cache on ext4"))
        .unwrap_or_else(|| panic!("{story:#?}"));
    assert!(
        !story[..alloc]
            .iter()
            .any(|l| l.contains("takes ext4.journal")),
        "{story:#?}"
    );
    assert!(
        !story.iter().any(|l| l.contains("ext4.journal")),
        "{story:#?}"
    );
}

/// XFS inode reclaim by release. Before v5.9 `super_cache_scan` ->
/// `xfs_reclaim_inodes_nr` reclaimed with SYNC_WAIT: a dirty inode's
/// cluster was written (`xfs_iflush`) and waited for, so S2's tcmu-runner
/// waited for a bio only it could serve. From v5.9 (617825fe3489)
/// `xfs_reclaim_inode` skips an inode that is not clean (`!xfs_inode_clean`
/// -> `out_clear_flush`, fs/xfs/xfs_icache.c in 6.1) and
/// `xfs_reclaim_inodes_nr` only pushes the AIL: reclaim frees the clean
/// inode and ext4's clean cache, and the stack is safe.
#[test]
fn xfs_inode_reclaim_stops_waiting_in_v5_9() {
    for (k, want) in [("5.8", "deadlock"), ("5.9", "safe"), ("6.12", "safe")] {
        let sc = shipped_with("s2-tcmu-zoned.toml", k, &[]);
        assert_eq!(verdict(&sc, "baseline"), want, "S2 on {k}");
    }
    // The same choice by hand.
    let mut sc = scenario("s2-tcmu-zoned.toml");
    sc.set("xfs.inode_reclaim", "skip-dirty").unwrap();
    assert_eq!(verdict(&sc, "baseline"), "safe");
    // ext4 never wrote dirty inodes from reclaim, on any release: its
    // inodes are pruned from the VFS LRU (`prune_icache_sb`), which a dirty
    // inode is not on. --kernel says so even for an old release, while
    // XFS on 4.19 still writes and waits.
    let sc = shipped_with("s2-tcmu-zoned.toml", "4.19", &[]);
    let kind = |name: &str| {
        sc.fss
            .iter()
            .find(|f| f.name == name)
            .unwrap()
            .inode_reclaim
    };
    use reclaimscope_model::history::InodeReclaim;
    assert_eq!(kind("ext4"), InodeReclaim::SkipDirty);
    assert_eq!(kind("xfs"), InodeReclaim::WriteAndWait);
}

/// XFS inactivation by release. S4's transaction-holding task reaches its
/// own superblock shrinker through vmalloc's GFP_KERNEL page tables (legacy
/// until v5.17). Before v5.14 evicting an unlinked inode ran `xfs_inactive`
/// in reclaim and needed the log the task holds; from v5.14 (ab23a7768739)
/// eviction queues the inode for the inodegc workers and takes nothing:
/// 5.13 deadlocks, 5.14 is safe although its vmalloc is still legacy.
#[test]
fn xfs_inactivation_leaves_reclaim_in_v5_14() {
    let v = |k| verdict(&shipped_with("s4-vmalloc-nofs.toml", k, &[]), "baseline");
    assert_eq!(v("5.13"), "deadlock");
    assert_eq!(v("5.14"), "safe");
    let sc = shipped_with("s4-vmalloc-nofs.toml", "5.14", &[]);
    assert_eq!(sc.vmalloc, reclaimscope_model::history::VmallocMode::Legacy);
}
