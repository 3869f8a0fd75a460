//! Helpers shared by the checker's reduction tests (`reductions.rs`,
//! `symmetry.rs`): the shipped scenarios and the scale families of
//! `bench/check-scale`, generated from the same templates as its `gen.sh`.

#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};

use reclaimscope_sim::Scenario;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every shipped scenario file, sorted by name.
pub fn shipped() -> Vec<PathBuf> {
    let dir = root().join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// A shipped scenario by file name.
pub fn load_shipped(name: &str) -> Scenario {
    let path = root().join("scenarios").join(name);
    Scenario::load(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"))
}

/// The text of `bench/check-scale/gen.sh <kind> <n>`: the template
/// `bench/check-scale/<kind>.toml.in`, its lines before `# each writer`
/// once (comment lines dropped) with `{n}` = `n`, the lines after it once
/// per `i` in `1..=n` with `{i}` = `i`.
pub fn family_text(kind: &str, n: usize) -> String {
    let path = root().join(format!("bench/check-scale/{kind}.toml.in"));
    let tpl = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (head, each) = tpl
        .split_once("\n# each writer\n")
        .unwrap_or_else(|| panic!("{}: no '# each writer' line", path.display()));
    let mut out: String = head
        .lines()
        .filter(|l| !l.starts_with("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    out = out.replace("{n}", &n.to_string());
    for i in 1..=n {
        out.push('\n');
        out.push_str(
            &each
                .replace("{i}", &i.to_string())
                .replace("{n}", &n.to_string()),
        );
    }
    out
}

/// A scale-family scenario (`kind` is `ublk` or `loop`), as `gen.sh` prints it.
pub fn family(kind: &str, n: usize) -> Scenario {
    Scenario::from_toml_str(&family_text(kind, n), &format!("{kind}-family"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// XFS on a ublk device with queue depth `n` and `n` identical writers
/// (write + fsync twice each): `gen.sh ublk n`.
pub fn ublk_family(n: usize) -> Scenario {
    family("ublk", n)
}

/// Replay a counterexample on `model` explored without any reduction (the
/// caller passes a model that lists every action) and check that it is
/// what it claims: it starts from an initial state; each step is one the model lists in the state it is
/// taken from; a deadlock ends in a state with no action that the model
/// calls a deadlock; a livelock's steps from `loop_start` on are taken in
/// spinning states (some action, none of them progress) and come back to
/// the state they started from, or (with symmetry) to one with the same
/// representative.
pub fn replay_unreduced<M: reclaimscope_check::Model>(
    model: &M,
    verdict: reclaimscope_check::Verdict,
    trace: &reclaimscope_check::Trace<M>,
    what: &str,
) where
    M::Action: PartialEq,
    M::State: PartialEq + std::fmt::Debug,
{
    use reclaimscope_check::{Terminal, Verdict};
    let key = |s: &M::State| {
        let rep = model.representative(s);
        model.fingerprint(rep.as_ref().unwrap_or(s))
    };
    assert!(
        model.init_states().contains(&trace.init),
        "{what}: the trace starts from no initial state"
    );
    let mut s = trace.init.clone();
    let mut buf = Vec::new();
    let mut at_start: Option<M::State> = None;
    for (i, step) in trace.steps.iter().enumerate() {
        buf.clear();
        model.actions(&s, &mut buf);
        assert!(
            buf.contains(&step.action),
            "{what}: step {} ({:?}) is not enabled in the unreduced model",
            i + 1,
            step.action
        );
        if trace.loop_start == Some(i) {
            at_start = Some(s.clone());
        }
        if trace.loop_start.is_some_and(|l| i >= l) {
            assert!(
                buf.iter().all(|&a| !model.is_progress(&s, a)),
                "{what}: step {} is taken where progress is possible",
                i + 1
            );
        }
        s = model.next_state(&s, step.action);
    }
    assert_eq!(s, trace.last, "{what}: replay ends elsewhere");
    buf.clear();
    model.actions(&s, &mut buf);
    match verdict {
        Verdict::Deadlock => {
            assert!(buf.is_empty(), "{what}: the last state still moves");
            assert_eq!(model.terminal(&s), Terminal::Deadlock, "{what}");
        }
        Verdict::Livelock => {
            let start = trace.loop_start.expect("a livelock has a loop start");
            assert!(start < trace.steps.len(), "{what}: empty cycle");
            let start = at_start.expect("the loop start is a step");
            assert!(
                start == s || key(&start) == key(&s),
                "{what}: the cycle does not close"
            );
        }
        v => panic!("{what}: {v:?} has no trace"),
    }
}
