//! Swap on a stacked device: the swap-out bio takes the same path as any
//! other bio, so swap on a loop device over a file on ext4 inherits the
//! loop worker's needs.

mod common;
use common::*;
use reclaimscope_sim::{Scenario, Status};

const SWAP_ON_LOOP: &str = r#"
name = "swap-on-loop"
[memory]
free = 4
min = 4
anon = 4
swap = "loop0"
swap_pages = 8

[[disk]]
name = "sda"

[[fs]]
name = "ext4"
type = "ext4"
dev = "sda"
write_locks = ["ext4.journal"]

[[loop]]
name = "loop0"
file = "ext4:/swapfile"
noio = true

[[lock]]
name = "ext4.journal"

[[task]]
name = "writer"
fs = "ext4"
program = ["lock ext4.journal", "alloc gfp=GFP_NOFS pages=1", "unlock ext4.journal"]
"#;

/// GFP_NOFS keeps __GFP_IO, so reclaim may swap (shrink_folio_list /
/// add_to_swap); the swap bio goes to loop0, whose worker writes the file
/// on ext4 under ext4's journal, which the allocating task holds: the same
/// cycle as "[PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-29)
/// describes, with anonymous memory in the dm-bufio shrinker's place.
#[test]
fn nofs_swap_out_through_loop_deadlocks_on_the_journal() {
    let sc = Scenario::from_toml_str(SWAP_ON_LOOP, "swap-on-loop.toml").unwrap();
    match explore(&sim(&sc, "baseline"), 10_000) {
        Verdict::Bad { status, .. } => assert_eq!(status, Status::Deadlock),
        Verdict::Safe { .. } => panic!("swap through loop0 must deadlock on ext4.journal"),
    }
}

/// With swap on a plain disk the swap bio completes by itself: safe, and
/// what reclaim freed is anonymous memory (GFP_NOFS keeps __GFP_IO, which
/// `shrink_folio_list` needs to `add_to_swap`). Under `merged` a NOFS
/// context loses __GFP_IO too, so it cannot swap and, with nothing else
/// to reclaim and no OOM kill for !__GFP_FS, is stuck.
#[test]
fn nofs_swap_out_to_a_disk_is_safe() {
    let src = SWAP_ON_LOOP.replace("swap = \"loop0\"", "swap = \"sda\"");
    let sc = Scenario::from_toml_str(&src, "swap-on-disk.toml").unwrap();
    let base = sim(&sc, "baseline");
    assert!(matches!(explore(&base, 10_000), Verdict::Safe { .. }));
    let r = reclaimscope_sim::run(&base, 0, 1000);
    assert!(
        r.metrics
            .pages_reclaimed
            .iter()
            .any(|p| p.source.starts_with("anonymous") && p.pages > 0),
        "{:?}",
        r.metrics.pages_reclaimed
    );
    match explore(&sim(&sc, "merged"), 10_000) {
        Verdict::Bad { status, .. } => assert_eq!(status, Status::Stuck),
        Verdict::Safe { .. } => panic!("merged: a NOFS context cannot swap"),
    }
}

/// GFP_NOIO may not swap at all (add_to_swap needs __GFP_IO), and anonymous
/// memory is all there is: the allocation loops without an OOM kill
/// (out_of_memory skips !__GFP_FS), so the world is stuck, not deadlocked.
#[test]
fn noio_with_only_anon_memory_is_stuck() {
    let src = SWAP_ON_LOOP.replace("gfp=GFP_NOFS", "gfp=GFP_NOIO");
    let sc = Scenario::from_toml_str(&src, "noio.toml").unwrap();
    match explore(&sim(&sc, "baseline"), 10_000) {
        Verdict::Bad { status, .. } => assert_eq!(status, Status::Stuck),
        Verdict::Safe { .. } => panic!("GFP_NOIO cannot swap: nothing is reclaimable"),
    }
}
