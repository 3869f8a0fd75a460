//! `reclaimscope compare` end to end.

mod common;

fn scenario(name: &str) -> String {
    common::scenario(name)
}

fn compare(args: &[&str]) -> (i32, String, String) {
    common::run("compare", args)
}

fn cells(out: &str) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(out)
        .expect("valid JSON")
        .as_array()
        .expect("an array of cells")
        .clone()
}

fn cell<'a>(cells: &'a [serde_json::Value], policy: &str) -> &'a serde_json::Value {
    cells
        .iter()
        .find(|c| c["policy"] == policy)
        .unwrap_or_else(|| panic!("no cell for {policy}"))
}

/// Seed 000: under baseline the io-gated dm-bufio shrinker writes back to
/// loop0 from the GFP_NOFS context, and loop0's worker needs the journal
/// that context holds: deadlock. `merged` takes __GFP_IO from NOFS
/// contexts, so the shrinker only trylocks and evicts clean buffers: safe.
#[test]
fn s1_baseline_deadlocks_merged_does_not() {
    let (code, out, _) = compare(&[
        &scenario("s1-loop-bufio.toml"),
        "--policy",
        "baseline,merged",
        "--format",
        "json",
        "--seeds",
        "8",
    ]);
    assert_eq!(code, 0);
    let cells = cells(&out);
    assert_eq!(cells.len(), 2);
    assert_eq!(cell(&cells, "baseline")["verdict"], "deadlock");
    assert_eq!(cell(&cells, "merged")["verdict"], "safe");
    assert_eq!(cell(&cells, "merged")["runs_blocked"], 0);
}

/// Seed 003 (S6): from NOFS contexts, dependency-aware and sb-context may
/// prune the other filesystems' superblocks at the same depth, baseline
/// may not; swap-only-io keeps swap so it matches baseline here; merged
/// also loses swap. DESIGN: dependency-aware >= sb-context > baseline >=
/// swap-only-io > merged.
#[test]
fn s6_reclaim_reach_is_ordered() {
    let (code, out, _) = compare(&[
        &scenario("s6-many-filesystems.toml"),
        "--policy",
        "baseline,merged,swap-only-io,sb-context,dependency-aware",
        "--format",
        "json",
        "--seeds",
        "8",
    ]);
    assert_eq!(code, 0);
    let cells = cells(&out);
    let reach = |p: &str| cell(&cells, p)["metrics"]["reach_mean"].as_f64().unwrap();
    for c in &cells {
        assert_eq!(c["verdict"], "safe", "{}", c["policy"]);
    }
    assert!(reach("dependency-aware") >= reach("sb-context"));
    assert!(reach("sb-context") > reach("baseline"));
    assert!(reach("baseline") >= reach("swap-only-io"));
    assert!(reach("swap-only-io") > reach("merged"));
}

#[test]
fn markdown_and_html_render() {
    let s1 = scenario("s1-loop-bufio.toml");
    let (code, md, _) = compare(&[&s1, "--policy", "baseline", "--seeds", "2"]);
    assert_eq!(code, 0);
    assert!(md.contains("## s1-loop-bufio"));
    assert!(md.contains("| baseline | **deadlock**"));
    let (_, html, _) = compare(&[&s1, "--format", "html", "--seeds", "2"]);
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<svg"));
}

#[test]
fn bad_input_exits_2() {
    let s1 = scenario("s1-loop-bufio.toml");
    assert_eq!(compare(&[&s1, "--policy", "nofs-everywhere"]).0, 2);
    assert_eq!(compare(&["/nonexistent.toml"]).0, 2);
    let (code, _, err) = compare(&[&s1, "--set", "bufio.gate=banana"]);
    assert_eq!(code, 2);
    assert!(err.contains("banana"), "{err}");
}
