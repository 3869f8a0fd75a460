//! `reclaimscope run` end to end: outcomes, exit codes, JSON, determinism,
//! input errors.
use std::process::{Command, Output};

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reclaimscope"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Seed 000's story from the S1 baseline: exit 1, the five steps, the cycle.
#[test]
fn s1_deadlock_story_and_exit_code() {
    let o = bin(&["run", "scenarios/s1-loop-bufio.toml", "--runs", "20"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("outcome: deadlock"), "{out}");
    assert!(
        out.contains("wait-for cycle: a-task -> bio@loop0 -> loop0 worker -> a.journal -> a-task"),
        "{out}"
    );
    assert!(
        out.contains("loop0 worker waits for a.journal, held by a-task"),
        "{out}"
    );
}

#[test]
fn safe_variant_exits_zero() {
    let o = bin(&[
        "run",
        "scenarios/s1-loop-bufio.toml",
        "--runs",
        "50",
        "--set",
        "bufio.gate=fs",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = bin(&[
        "run",
        "scenarios/s1-loop-bufio.toml",
        "--runs",
        "50",
        "--kernel",
        "6.1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = bin(&[
        "run",
        "scenarios/s1-loop-bufio.toml",
        "--runs",
        "50",
        "--policy",
        "dependency-aware",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn json_has_outcome_and_metrics() {
    let o = bin(&[
        "run",
        "scenarios/s5-bufio-lock.toml",
        "--runs",
        "30",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outcome"], "completed");
    assert_eq!(v["outcomes"]["completed"], 30);
    let m = &v["metrics"];
    for k in [
        "allocations",
        "alloc_failures",
        "enomem",
        "direct_reclaim_rounds",
        "reach_pages",
        "reclaimable_pages",
        "oom_kills",
    ] {
        assert!(m[k].is_u64(), "{k}");
    }
    assert!(m["alloc_latency"]["p99"].is_u64());
    assert!(
        m["lock_wait"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["lock"] == "bufio.lock")
    );
    let o = bin(&[
        "run",
        "scenarios/s2-tcmu-zoned.toml",
        "--runs",
        "30",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outcome"], "deadlock");
    assert!(v["first_failure"]["trace"].as_array().unwrap().len() > 2);
    assert_eq!(
        v["first_failure"]["cycle_text"],
        "tcmu-runner -> bio@tcmu0 -> tcmu-runner"
    );
}

/// Same scenario + seed = byte-identical output.
#[test]
fn byte_identical_output() {
    for args in [
        &[
            "run",
            "scenarios/s2-tcmu-zoned.toml",
            "--seed",
            "3",
            "--runs",
            "40",
        ][..],
        &[
            "run",
            "scenarios/s6-many-filesystems.toml",
            "--seed",
            "9",
            "--runs",
            "40",
            "--json",
        ],
    ] {
        let a = bin(args);
        let b = bin(args);
        assert_eq!(a.stdout, b.stdout);
        assert!(!a.stdout.is_empty());
    }
}

#[test]
fn dot_of_the_cycle() {
    let o = bin(&[
        "run",
        "scenarios/s4-vmalloc-nofs.toml",
        "--runs",
        "30",
        "--dot",
    ]);
    let out = stdout(&o);
    assert!(out.starts_with("digraph waitfor {"), "{out}");
    assert!(out.contains("\"fs-task\" -> \"x.journal\""), "{out}");
}

#[test]
fn bad_input_exits_two_with_position() {
    let dir = std::env::temp_dir().join(format!("rs-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.toml");
    std::fs::write(
        &f,
        "[memory]\nfree = 1\nmin = 1\n[[fs]]\nname = \"a\"\ndev = \"nope\"\n",
    )
    .unwrap();
    let o = bin(&["run", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml:6:7: error: unknown device `nope`"),
        "{err}"
    );
    let o = bin(&[
        "run",
        "scenarios/s1-loop-bufio.toml",
        "--set",
        "bufio.gate=sometimes",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--set:1:12: error"));
    let o = bin(&[
        "run",
        "scenarios/s1-loop-bufio.toml",
        "--policy",
        "nofs-everywhere",
    ]);
    assert_eq!(o.status.code(), Some(2));
}
