//! Reductions never change an answer, and what they find is real.
//!
//! Every shipped scenario under every policy, with partial-order reduction
//! alone, symmetry alone and both: the same verdict and the same shortest
//! trace length as the full interleaving space; every reduced
//! counterexample replays step by step on the simulator with no reduction
//! (each step is one of the choices the simulator lists in that world) and
//! ends in a world the simulator itself calls final and not completed.
//! (`verdicts.rs` checks both reductions together against none.)

mod common;

use common::{load_shipped, replay_unreduced, shipped};
use reclaimscope_check::checker::{Options, bfs};
use reclaimscope_check::report::Verdict;
use reclaimscope_check::sim_model::SimModel;
use reclaimscope_model::Policy;
use reclaimscope_sim::{Scenario, Sim};

/// What a run prints, for comparing thread counts: verdict, counts and
/// the trace's story.
fn report_text(r: &reclaimscope_check::Report<SimModel<'_>>) -> String {
    let steps: Vec<&str> = r
        .trace
        .iter()
        .flat_map(|t| t.steps.iter().map(|s| s.description.as_str()))
        .collect();
    format!(
        "{:?} {} {} {steps:?}",
        r.verdict, r.stats.states, r.stats.transitions
    )
}

fn opts(threads: usize, por: bool, symmetry: bool) -> Options<'static> {
    Options {
        threads,
        por,
        symmetry,
        ..Options::default()
    }
}

/// (verdict, trace length, states) of the shortest-deadlock search, after
/// replaying a counterexample on the unreduced simulator.
fn search(sim: &Sim, what: &str, o: &Options<'_>) -> (Verdict, usize, u64) {
    let model = SimModel::new(sim).symmetric_actions(o.symmetry);
    let report = bfs::check(&model, o);
    let len = match &report.trace {
        None => 0,
        Some(trace) => {
            replay_unreduced(&SimModel::new(sim), report.verdict, trace, what);
            trace.steps.len()
        }
    };
    (report.verdict, len, report.stats.states)
}

#[test]
fn each_reduction_keeps_verdicts_and_lengths_and_its_traces_replay() {
    let files = shipped();
    assert!(files.len() >= 6, "{files:?}");
    for f in files {
        let sc = Scenario::load(&f).unwrap();
        for p in Policy::all() {
            let sim = Sim::new(&sc, &p).unwrap();
            let what = |r: &str| format!("{} {p} {r}", f.display());
            let full = search(&sim, &what("none"), &opts(1, false, false));
            for (por, sym, name) in [
                (true, false, "por"),
                (false, true, "symmetry"),
                (true, true, "both"),
            ] {
                let reduced = search(&sim, &what(name), &opts(1, por, sym));
                assert_eq!(reduced.0, full.0, "{}", what(name));
                assert_eq!(reduced.1, full.1, "{}", what(name));
                assert!(reduced.2 <= full.2, "{}", what(name));
            }
        }
    }
}

/// A stack with identical writers and handler threads: the reductions must
/// actually fire (fewer states) and keep the answer; the output is the same
/// with one thread or two.
#[test]
fn identical_writers_reduce_and_agree_across_threads() {
    let mut sc = load_shipped("ublk-qd2.toml");
    // A third writer running the same program as the others.
    let mut third = sc.tasks[0].clone();
    third.name = "writer3".into();
    sc.tasks.push(third);
    let sim = Sim::new(&sc, &Policy::BASELINE).unwrap();
    let full = search(&sim, "ublk+writer3 none", &opts(1, false, false));
    let sym = search(&sim, "ublk+writer3 symmetry", &opts(1, false, true));
    assert_eq!((sym.0, sym.1), (full.0, full.1));
    // Three interchangeable writers and two handler threads: close to
    // 3! * 2! = 12 times fewer states; ask for at least 4.
    assert!(sym.2 * 4 < full.2, "{} vs {}", sym.2, full.2);
    for (por, symmetry) in [(true, true), (false, true), (true, false)] {
        let model = SimModel::new(&sim).symmetric_actions(symmetry);
        let one = bfs::check(&model, &opts(1, por, symmetry));
        let two = bfs::check(&model, &opts(2, por, symmetry));
        assert_eq!(
            report_text(&one),
            report_text(&two),
            "por={por} symmetry={symmetry}"
        );
    }
}

/// Identical device subtrees (`bench/check-scale`'s loop family: loop
/// devices on files of one ext4, each with its own XFS and writer) are
/// merged by the subtree symmetry: fewer states, the same verdict and
/// shortest length, traces that replay, and the same
/// output with one thread or two. A near twin (one XFS with an extra
/// inode) is not merged with the others, and still agrees.
#[test]
fn identical_device_subtrees_reduce_and_agree() {
    for twin in [false, true] {
        let mut sc = common::family("loop", 3);
        if twin {
            let f = sc.fss.iter().position(|f| f.name == "xfs2").unwrap();
            sc.fss[f].inodes += 1;
        }
        // Under the policies that keep a loop worker's writeback out of
        // reclaim the family is safe and its whole space is large; the
        // automorphism itself is checked under every policy in
        // `tests/symmetry.rs`.
        let p = Policy::BASELINE;
        let sim = Sim::new(&sc, &p).unwrap();
        let what = |r: &str| format!("loop-3 twin={twin} {p} {r}");
        let full = search(&sim, &what("none"), &opts(1, false, false));
        let sym = search(&sim, &what("symmetry"), &opts(1, false, true));
        let both = search(&sim, &what("both"), &opts(2, true, true));
        assert_eq!((sym.0, sym.1), (full.0, full.1), "{}", what("symmetry"));
        assert_eq!((both.0, both.1), (full.0, full.1), "{}", what("both"));
        // Three interchangeable subtrees: close to 3! = 6 times fewer
        // states; two of them: about half.
        let factor = if twin { 1 } else { 3 };
        assert!(
            sym.2 * factor < full.2,
            "{}: {} vs {}",
            what("symmetry"),
            sym.2,
            full.2
        );
    }
    let sim = Sim::new(&common::family("loop", 3), &Policy::BASELINE).unwrap();
    let model = SimModel::new(&sim).symmetric_actions(true);
    let one = bfs::check(&model, &opts(1, true, true));
    let two = bfs::check(&model, &opts(2, true, true));
    assert_eq!(report_text(&one), report_text(&two));
}

/// Partial-order reduction fires on the storage stacks, not only on toys:
/// on S3 (XFS on loop on ext4), S5 (dm-bufio lock), S6 (many filesystems)
/// and ublk-qd2 the steps `sim/por.rs` proves independent (scope
/// bookkeeping, releasing a lock no shrinker takes, completing and
/// submitting bios) cut the states (S5 by half, S6 by a third).
#[test]
fn partial_order_reduction_fires_on_storage_stacks() {
    for (name, policy) in [
        // S3 is not listed: since the write path grabs its page before the
        // journal, every S3 step reads or writes the free-page counter, so
        // no step is independent and the reduction rightly does nothing.
        ("s5-bufio-lock.toml", "baseline"),
        ("s6-many-filesystems.toml", "baseline"),
        ("ublk-qd2.toml", "baseline"),
    ] {
        let sc = load_shipped(name);
        let sim = Sim::new(&sc, &Policy::parse(policy).unwrap()).unwrap();
        let full = search(&sim, name, &opts(1, false, false));
        let por = search(&sim, name, &opts(1, true, false));
        assert_eq!((por.0, por.1), (full.0, full.1), "{name}");
        assert!(por.2 < full.2, "{name}: {} vs {}", por.2, full.2);
    }
}
