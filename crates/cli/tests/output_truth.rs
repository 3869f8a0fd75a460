//! Output that tells the truth: `check`, `run` and `compare` JSON record
//! `--kernel`, every `--set` and the tool version; `run` names the tasks
//! and resources of its wait-for cycle exactly as `check` does; counts are
//! labelled with what they count.

mod common;

use serde_json::{Value, json};

fn json_of(sub: &str, args: &[&str]) -> Value {
    let (_, out, err) = common::run(sub, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"))
}

const VERSION: &str = concat!("reclaimscope ", env!("CARGO_PKG_VERSION"));

#[test]
fn check_json_records_kernel_sets_and_version() {
    let s1 = common::scenario("s1");
    let v = json_of(
        "check",
        &[
            &s1,
            "--policy",
            "baseline",
            "--kernel",
            "4.19",
            "--set",
            "loop0.noio=false",
            "--set",
            "bufio.gate=io",
            "--json",
        ],
    );
    assert_eq!(v["kernel"], "4.19");
    assert_eq!(v["set"], json!(["loop0.noio=false", "bufio.gate=io"]));
    assert_eq!(v["tool_version"], VERSION);
    // Without either, the record says so rather than leaving them out.
    let v = json_of("check", &[&s1, "--policy", "baseline", "--json"]);
    assert_eq!(v["kernel"], Value::Null);
    assert_eq!(v["set"], json!([]));
}

#[test]
fn run_json_records_kernel_sets_and_version() {
    let s1 = common::scenario("s1");
    let v = json_of(
        "run",
        &[&s1, "--kernel", "6.1", "--set", "bufio.gate=fs", "--json"],
    );
    assert_eq!(v["kernel"], "6.1");
    assert_eq!(v["set"], json!(["bufio.gate=fs"]));
    assert_eq!(v["tool_version"], VERSION);
}

/// S1 under baseline deadlocks in every schedule that reaches the shrinker
/// (seed 0 does: a-task holds a.journal, its GFP_NOFS reclaim writes a
/// dm-bufio buffer to loop0 and waits; loop0's worker needs a.journal).
/// `run` and `check` must describe that cycle with the same fields.
#[test]
fn run_and_check_name_the_cycle_the_same_way() {
    let s1 = common::scenario("s1");
    let check = json_of("check", &[&s1, "--policy", "baseline", "--json"]);
    let run = json_of(
        "run",
        &[&s1, "--policy", "baseline", "--seed", "0", "--json"],
    );
    let fail = &run["first_failure"];
    assert_eq!(fail["outcome"], "deadlock", "{run}");
    for field in ["wait_for_cycle", "cycle_edges"] {
        let (a, b) = (&check[field], &fail[field]);
        assert!(
            a.is_array() && !a.as_array().unwrap().is_empty(),
            "check {field}: {a}"
        );
        // The same cycle may start at another task; compare as sets.
        let mut a: Vec<String> = a
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.to_string())
            .collect();
        let mut b: Vec<String> = b
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.to_string())
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{field}");
    }
    let edge = &check["cycle_edges"][0];
    for key in ["task", "kind", "resource", "held_by"] {
        assert!(edge[key].is_string(), "{key}: {edge}");
    }
    assert!(
        fail["wait_for_cycle"]
            .as_array()
            .unwrap()
            .contains(&json!("loop0 worker -> a.journal -> a-task"))
    );
}

/// `direct_reclaim_successes` counts rounds that freed at least one page
/// (the sim's `ReclaimDone` with pages > 0), not pages: the text must say
/// rounds, and the pages freed are listed per source below it.
#[test]
fn run_text_labels_reclaim_successes_as_rounds() {
    let s6 = common::scenario("s6");
    let (_, out, _) = common::run("run", &[&s6, "--runs", "4"]);
    let v = json_of("run", &[&s6, "--runs", "4", "--json"]);
    let (rounds, ok) = (
        &v["metrics"]["direct_reclaim_rounds"],
        &v["metrics"]["direct_reclaim_successes"],
    );
    let line = out
        .lines()
        .find(|l| l.contains("direct-reclaim rounds"))
        .expect("a direct-reclaim line");
    assert!(
        line.contains(&format!("{rounds} ({ok} freed at least one page: ")),
        "{line}"
    );
    assert!(!out.contains("freed pages"), "{out}");
}
