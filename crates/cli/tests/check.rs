//! `reclaimscope check` end to end on the shipped scenarios: verdicts and
//! exit codes, the numbered story, JSON, determinism across thread counts,
//! bounds that end in `inconclusive`, and the bad-input contract.

mod common;

fn scenario(name: &str) -> String {
    common::scenario(name)
}

fn check(args: &[&str]) -> (i32, String, String) {
    common::run("check", args)
}

/// Seed 000: the GFP_NOFS allocation reaches the dm-bufio shrinker, which
/// writes to loop0 because __GFP_IO is set; loop0's worker needs the journal
/// the allocating task holds. Exit 1, a numbered story, the wait-for cycle.
#[test]
fn s1_baseline_prints_the_numbered_story_and_exits_1() {
    let (code, out, err) = check(&[&scenario("s1"), "--policy", "baseline"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(": deadlock (shortest trace"), "{out}");
    assert!(out.contains("\n   1. ") || out.contains("\n  1. "), "{out}");
    assert!(out.contains("wait-for cycle:"), "{out}");
    assert!(out.contains("GFP_NOFS"), "{out}");
    assert!(out.contains("loop0"), "{out}");
}

/// The 2014 fix (gate on __GFP_FS): dm_bufio_shrink_scan returns SHRINK_STOP
/// for a NOFS caller, so reclaim takes the clean cache elsewhere. Exit 0.
#[test]
fn s1_gate_fs_is_safe_and_exits_0() {
    let (code, out, err) = check(&[&scenario("s1"), "--set", "bufio.gate=fs"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": safe ("), "{out}");
    assert!(out.contains(" states, "), "{out}");
}

#[test]
fn json_is_identical_with_one_or_two_threads() {
    let s1 = scenario("s1");
    let (c1, one, _) = check(&[&s1, "--json", "--threads", "1"]);
    let (c2, two, _) = check(&[&s1, "--json", "--threads", "2"]);
    assert_eq!((c1, c2), (1, 1));
    assert_eq!(one, two);
    let v: serde_json::Value = serde_json::from_str(&one).expect("valid JSON");
    assert_eq!(v["verdict"], "deadlock");
    assert!(v["states"].as_u64().unwrap() > 0);
    assert_eq!(v["policy"], "baseline");
    let trace = v["trace"].as_array().unwrap();
    assert!(!trace.is_empty());
    assert_eq!(trace[0]["step"], 1);
    assert!(!v["wait_for_cycle"].as_array().unwrap().is_empty());
}

/// A 4 KiB memory budget cannot hold even the visited set's first buckets:
/// the search must stop with `inconclusive` (exit 3), not abort.
#[test]
fn tiny_memory_budget_is_inconclusive_not_a_crash() {
    let (code, out, err) = check(&[&scenario("s6"), "--max-memory", "4K"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("inconclusive"), "{out}");
    assert!(out.contains("--max-memory"), "{out}");
    let (code, out, _) = check(&[&scenario("s1"), "--max-states", "2", "--json"]);
    assert_eq!(code, 3);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "inconclusive");
    assert_eq!(v["bound"], "--max-states");
    assert_eq!(v["states"], 2);
}

/// Seed 001's loop variant on the kernel you run: loop_worker runs under
/// memalloc_noio_save() since v5.3, so 5.4 cannot recurse into XFS from the
/// loop worker's ext4 write; 4.19 can.
#[test]
fn kernel_option_picks_the_loop_workers_history() {
    let s3 = scenario("s3");
    let (code, out, _) = check(&[&s3, "--kernel", "5.4"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = check(&[&s3, "--kernel", "4.19"]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn time_limit_zero_is_inconclusive() {
    let (code, out, _) = check(&[&scenario("s6"), "--time-limit", "0"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("--time-limit"), "{out}");
}

#[test]
fn policy_all_json_is_an_array_with_one_object_per_policy() {
    let (code, out, _) = check(&[&scenario("s1"), "--policy", "all", "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cells = v.as_array().unwrap();
    assert_eq!(cells.len(), reclaimscope_model::Policy::all().len());
    assert!(cells.iter().all(|c| c["scenario"] == "s1-loop-bufio"));
}

#[test]
fn policy_all_prints_one_line_per_policy() {
    let (code, out, err) = check(&[&scenario("s1"), "--policy", "all"]);
    // Baseline deadlocks, so the worst verdict decides: exit 1.
    assert_eq!(code, 1, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        reclaimscope_model::Policy::all().len(),
        "{out}"
    );
    assert!(lines[0].contains("[baseline]: deadlock"), "{out}");
    assert!(lines.iter().any(|l| l.contains("[merged]: safe")), "{out}");
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let (code, _, err) = check(&["/nonexistent/scenario.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/scenario.toml"), "{err}");
    let s1 = scenario("s1");
    let (code, _, err) = check(&[&s1, "--set", "no.such.key=1"]);
    assert_eq!(code, 2);
    assert!(err.contains("no.such.key"), "{err}");
    let (code, _, err) = check(&[&s1, "--max-memory", "lots"]);
    assert_eq!(code, 2);
    assert!(err.contains("--max-memory"), "{err}");
    let (code, _, err) = check(&[&s1, "--policy", "nonsense"]);
    assert_eq!(code, 2);
    assert!(err.contains("nonsense"), "{err}");
    let dir = std::env::temp_dir().join(format!("rs-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\n[memory\n").unwrap();
    let (code, _, err) = check(&[bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml:2:"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// GFP_NOIO may not swap (add_to_swap needs __GFP_IO) and anonymous memory
/// is all there is; out_of_memory() kills nobody for !__GFP_FS, so the
/// allocation loops forever: a deadlock verdict that says it is stuck.
#[test]
fn stuck_allocation_is_a_deadlock_that_says_stuck() {
    let dir = std::env::temp_dir().join(format!("reclaimscope-stuck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stuck.toml");
    std::fs::write(
        &path,
        "name = \"stuck\"\n[memory]\nfree = 4\nmin = 4\nanon = 4\nswap = \"sda\"\nswap_pages = 8\n\
         [[disk]]\nname = \"sda\"\n[[task]]\nname = \"t\"\nprogram = [\"alloc gfp=GFP_NOIO pages=1\"]\n",
    )
    .unwrap();
    let (code, out, err) = check(&[path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(": deadlock (stuck: an allocation loops"),
        "{out}"
    );
    let (_, json, _) = check(&[path.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["status"], "stuck");
    let _ = std::fs::remove_dir_all(&dir);
}
