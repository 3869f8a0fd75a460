//! The structure behind the compare report's sequence diagrams: who acted
//! in each step and which bios changed hands, read from the worlds around
//! the step (never from story text).

use reclaimscope_check::checker::Options;
use reclaimscope_check::sim_model::{BioMove, Outcome, Plan, check_sim, run_trace};
use reclaimscope_model::Policy;
use reclaimscope_sim::{Scenario, Sim};
use std::path::PathBuf;

fn sim(prefix: &str) -> Sim {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .unwrap();
    let sc = Scenario::load(&path).unwrap();
    Sim::new(&sc, &Policy::BASELINE).unwrap()
}

fn check(sim: &Sim) -> Outcome {
    let opts = Options {
        threads: 1,
        ..Options::default()
    };
    check_sim(sim, "t", "baseline", &opts, Plan { livelock: false })
}

fn moved(o: &Outcome, step: usize) -> &[BioMove] {
    &o.trace[step - 1].bios
}

/// S1 (dm-bufio on loop, "[PATCH 0/6] Overhaul memalloc_no*", dm-devel,
/// 2020-06-29): step 3 is a-task's direct reclaim in which the io-gated
/// dm-bufio shrinker writes a dirty buffer to loop0 and waits (the
/// shrinker's `__write_dirty_buffer` submits, then it waits for the write);
/// step 4 is loop0's worker taking that bio (`loop_queue_work` hands it to
/// the one worker). The cycle names both tasks and the journal. The trace
/// goes on to step 10: the worker grabs its page-cache page before it needs
/// the journal (as `ext4_write_begin()` does), and the flusher writes back
/// what it can before the world is final.
#[test]
fn s1_bio_goes_from_a_task_to_the_loop_worker() {
    let o = check(&sim("s1"));
    assert_eq!(o.verdict, "deadlock");
    assert_eq!(o.trace.len(), 10);
    assert_eq!(o.trace[2].actor, "a-task");
    let sub = moved(&o, 3);
    assert_eq!(sub.len(), 1, "{sub:?}");
    assert_eq!(sub[0].event, "submitted");
    assert_eq!(sub[0].device, "loop0");
    assert_eq!(sub[0].owner, "a-task");
    assert_eq!(sub[0].server.as_deref(), Some("loop0 worker"));
    assert_eq!(o.trace[3].actor, "loop0 worker");
    let take = moved(&o, 4);
    assert_eq!(take[0].event, "taken");
    assert_eq!(take[0].server.as_deref(), Some("loop0 worker"));
    // Steps 1 and 2 (take the journal, enter reclaim) move no bio.
    assert!(moved(&o, 1).is_empty() && moved(&o, 2).is_empty());
    let names: Vec<(&str, &str, &str)> = o
        .cycle_edges
        .iter()
        .map(|e| (e.task.as_str(), e.kind, e.held_by.as_str()))
        .collect();
    assert!(
        names.contains(&("a-task", "bio", "loop0 worker")),
        "{names:?}"
    );
    assert!(
        names.contains(&("loop0 worker", "lock", "a-task")),
        "{names:?}"
    );
}

/// ublk with two server threads: a bio queued on ublkb0 may be taken by
/// either, so its submit names no server; the thread that takes it is
/// named when it does.
#[test]
fn a_queue_with_two_servers_names_no_server_until_one_takes_it() {
    let o = check(&sim("ublk-qd2"));
    assert_eq!(o.verdict, "deadlock");
    let all: Vec<&BioMove> = o.trace.iter().flat_map(|l| &l.bios).collect();
    let submits: Vec<&&BioMove> = all.iter().filter(|b| b.event == "submitted").collect();
    assert!(!submits.is_empty());
    assert!(submits.iter().all(|b| b.server.is_none()), "{submits:?}");
    assert!(all.iter().any(|b| {
        b.event == "taken"
            && b.server
                .as_deref()
                .is_some_and(|s| s.starts_with("ublk-server/"))
    }));
}

/// A seeded run replayed for its steps ends in the world the run itself
/// reached (same walk), so the report can trust the steps it shows.
#[test]
fn run_trace_replays_the_seeded_run() {
    let s = sim("s1");
    for seed in 0..8 {
        let r = reclaimscope_sim::run(&s, seed, 10_000);
        let (lines, end) = run_trace(&s, seed, 10_000, &[], usize::MAX);
        assert_eq!(end, r.final_world, "seed {seed}");
        assert_eq!(lines.len() as u64, r.steps, "seed {seed}");
    }
}
