//! `reclaimscope scan` end to end: exit codes, output formats, --diff,
//! --summary, suppression, skipped files, and determinism.

mod common;
use common::bin;

use std::path::{Path, PathBuf};
use std::process::Output;

fn run(args: &[&str], cwd: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("binary runs")
}

/// A scratch tree with one buggy file (mm/bad.c), one clean file, a
/// non-UTF-8 file and a binary file, all under a fresh directory.
fn tree(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "reclaimscope-scan-cli-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("mm")).unwrap();
    std::fs::create_dir_all(dir.join("fs")).unwrap();
    // kmalloc with __GFP_NORETRY whose failure only returns -ENOMEM: the
    // slow path gives up after one reclaim round (mm/page_alloc.c), so
    // this fails at random under pressure with no fallback.
    std::fs::write(
        dir.join("mm/bad.c"),
        "static int f(struct s *s)\n{\n\ts->p = kmalloc(64, GFP_KERNEL | __GFP_NORETRY);\n\tif (!s->p)\n\t\treturn -ENOMEM;\n\treturn 0;\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("fs/ok.c"),
        "static void *g(void)\n{\n\treturn kmalloc(8, GFP_KERNEL);\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("fs/latin1.c"),
        b"/* caf\xe9 */ int x = __GFP_NORETRY;\n",
    )
    .unwrap();
    std::fs::write(dir.join("fs/blob.h"), b"\x00\x01__GFP_NORETRY\x00").unwrap();
    dir
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn text_output_and_exit_code() {
    let dir = tree("text");
    let o = run(&["scan", "."], &dir);
    assert_eq!(
        o.status.code(),
        Some(1),
        "findings exit 1: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert!(
        out.starts_with("mm/bad.c:3:9: warning: f(): `kmalloc(64, GFP_KERNEL | __GFP_NORETRY)`"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("[noretry-no-fallback]"), "{out}");
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn clean_tree_exits_zero() {
    let dir = tree("clean");
    let o = run(&["scan", "fs/ok.c"], &dir);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).is_empty());
}

#[test]
fn bad_input_exits_two() {
    let dir = tree("bad");
    let o = run(&["scan", "no/such/dir"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/dir"));
    let o = run(&["scan", ".", "--rule", "noretry"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown rule `noretry`"));
    let o = run(&["scan", ".", "--kernel-version", "six"], &dir);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn json_has_findings_and_skip_counts() {
    let dir = tree("json");
    let o = run(&["scan", ".", "--format", "json"], &dir);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "noretry-no-fallback");
    assert_eq!(f["file"], "mm/bad.c");
    assert_eq!(f["line"], 3);
    assert_eq!(f["function"], "f");
    assert_eq!(f["mask"], "GFP_KERNEL | __GFP_NORETRY");
    assert_eq!(v["stats"]["skipped_non_utf8"], 1);
    assert_eq!(v["stats"]["skipped_binary"], 1);
}

#[test]
fn sarif_is_2_1_0_with_locations_and_fingerprints() {
    let dir = tree("sarif");
    let o = run(&["scan", ".", "--format", "sarif"], &dir);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid SARIF JSON");
    assert_eq!(v["version"], "2.1.0");
    let run0 = &v["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "reclaimscope");
    assert!(run0["tool"]["driver"]["rules"].as_array().unwrap().len() >= 9);
    let r = &run0["results"][0];
    assert_eq!(r["ruleId"], "noretry-no-fallback");
    assert!(!r["message"]["text"].as_str().unwrap().is_empty());
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "mm/bad.c");
    assert_eq!(loc["region"]["startLine"], 3);
    assert!(
        r["partialFingerprints"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
    );
}

#[test]
fn diff_keeps_only_added_lines() {
    let dir = tree("diff");
    let touches = "--- a/mm/bad.c\n+++ b/mm/bad.c\n@@ -2,2 +2,2 @@\n {\n-\ts->p = kmalloc(64, GFP_KERNEL);\n+\ts->p = kmalloc(64, GFP_KERNEL | __GFP_NORETRY);\n";
    let elsewhere =
        "--- a/mm/bad.c\n+++ b/mm/bad.c\n@@ -6,1 +6,2 @@\n \treturn 0;\n+\t/* tail */\n";
    std::fs::write(dir.join("touch.patch"), touches).unwrap();
    std::fs::write(dir.join("other.patch"), elsewhere).unwrap();
    let o = run(&["scan", ".", "--diff", "touch.patch"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("mm/bad.c:3:"));
    let o = run(&["scan", ".", "--diff", "other.patch"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = run(&["scan", ".", "--diff", "missing.patch"], &dir);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn summary_counts_per_rule_and_directory() {
    let dir = tree("summary");
    let out = stdout(&run(&["scan", ".", "--summary"], &dir));
    assert!(out.contains("     1  noretry-no-fallback"), "{out}");
    assert!(out.contains("     1  mm  (noretry-no-fallback 1)"), "{out}");
    assert!(out.contains("1 binary, 1 non-UTF-8"), "{out}");
}

#[test]
fn suppression_comment_silences_the_rule() {
    let dir = tree("suppress");
    let src = std::fs::read_to_string(dir.join("mm/bad.c")).unwrap();
    let src = src.replacen(
        "\ts->p",
        "\t/* reclaimscope: ignore noretry-no-fallback */\n\ts->p",
        1,
    );
    std::fs::write(dir.join("mm/bad.c"), src).unwrap();
    let o = run(&["scan", "."], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn rule_and_exclude_filters() {
    let dir = tree("filters");
    let o = run(&["scan", ".", "--rule", "scope-unbalanced"], &dir);
    assert_eq!(o.status.code(), Some(0));
    let o = run(&["scan", ".", "--exclude", "mm/**"], &dir);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn output_is_deterministic() {
    let dir = tree("determinism");
    for i in 0..20 {
        std::fs::write(
            dir.join(format!("mm/copy{i:02}.c")),
            std::fs::read(dir.join("mm/bad.c")).unwrap(),
        )
        .unwrap();
    }
    let a = run(&["scan", ".", "--format", "json"], &dir);
    let b = bin()
        .args(["scan", ".", "--format", "json"])
        .current_dir(&dir)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert_eq!(stdout(&a), stdout(&b));
    let files: Vec<String> =
        serde_json::from_str::<serde_json::Value>(&stdout(&a)).unwrap()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["file"].as_str().unwrap().to_string())
            .collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
}

/// Inside a tree, binary and non-UTF-8 files are skipped and counted; a
/// file the user names on the command line is bad input: exit 2 with the
/// file (and line and column for bad UTF-8).
#[test]
fn named_binary_or_non_utf8_file_is_an_error() {
    let dir = tree("named");
    let o = run(&["scan", "fs/latin1.c"], &dir);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("fs/latin1.c:1:7: error: not valid UTF-8"),
        "{err}"
    );
    let o = run(&["scan", "fs/blob.h"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("fs/blob.h: error: binary file"));
    // The same files inside a scanned directory are only counted.
    let o = run(&["scan", "fs"], &dir);
    assert_eq!(o.status.code(), Some(0));
}
