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

/// "[PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-29): under baseline the io-gated dm-bufio shrinker writes back to
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

/// Dave Chinner's reply in "[PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-29) (S6): from NOFS contexts, dependency-aware and sb-context may
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

/// The mailing-list form: the matrix before any per-scenario table, and
/// no line past 80 columns (long story lines and paths are wrapped).
#[test]
fn markdown_is_matrix_first_and_fits_80_columns() {
    let s1 = scenario("s1-loop-bufio.toml");
    let s4 = scenario("s4-vmalloc-nofs.toml");
    let (code, md, _) = compare(&[&s1, &s4, "--seeds", "2"]);
    assert_eq!(code, 0);
    for line in md.lines() {
        assert!(line.chars().count() <= 80, "{} columns: {line}", line.len());
    }
    let matrix = md.find("## Verdicts").expect("a verdict matrix");
    let first_table = md.find("## s1-loop-bufio").expect("s1's table");
    assert!(matrix < first_table, "the matrix comes first");
    // baseline on S1: deadlock, shortest trace 10 steps (dm-bufio's io-gated
    // shrinker writes back to loop0 under a.journal; loop0's worker grabs
    // its page-cache page first, as ext4_write_begin() does, then needs
    // a.journal to start the handle; the deadlock is final once the flusher
    // has written back what it can).
    let row = md[matrix..]
        .lines()
        .find(|l| l.starts_with("baseline "))
        .expect("baseline row");
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["baseline", "D10", "D4"]
    );
    assert!(md.contains("wait-for cycle: a-task -> bio@loop0 -> loop0 worker"));
}

/// The page a developer forwards: provenance, the matrix linking to each
/// cell, and a sequence diagram per deadlocking cell.
#[test]
fn html_has_matrix_diagrams_and_provenance() {
    let s1 = scenario("s1-loop-bufio.toml");
    let (code, html, _) = compare(&[
        &s1,
        "--policy",
        "baseline,merged",
        "--set",
        "loop0.noio=false",
        "--format",
        "html",
        "--seeds",
        "2",
    ]);
    assert_eq!(code, 0);
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("id=\"matrix\""));
    assert!(html.contains("<code>loop0.noio=false</code>"));
    assert!(html.contains(concat!("reclaimscope ", env!("CARGO_PKG_VERSION"))));
    assert!(
        html.contains("--policy baseline,merged"),
        "the command line"
    );
    // Every matrix link has a target.
    for (i, _) in html.match_indices("href=\"#cell-") {
        let id = &html[i + 7..];
        let id = &id[..id.find('"').unwrap()];
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "no target for #{id}"
        );
    }
    // baseline deadlocks (one diagram), merged is safe (none).
    assert_eq!(html.matches("<svg class=\"seq\"").count(), 1);
    // The diagram's lanes are the tasks of the story; the bio goes from
    // a-task to loop0 worker (the loop device's worker serves it).
    assert!(html.contains(">a-task</text>") && html.contains(">loop0 worker</text>"));
    assert!(html.contains("class=\"bio submitted\""));
    assert!(html.contains("class=\"bio taken\""));
    // Charts say what they show; the legend says what the words mean.
    assert!(html.contains("pages per direct-reclaim round"));
    assert!(html.contains("<b>Reach</b>:") && html.contains("<b>Reclaim success</b>:"));
    for metric in [
        "runs blocked",
        "-ENOMEM",
        "alloc failures",
        "OOM kills",
        "lock wait",
    ] {
        assert!(html.contains(metric), "{metric}");
    }
    // Self-contained: nothing fetched.
    for external in [
        "<script",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(http",
    ] {
        assert!(!html.contains(external), "{external}");
    }
}

/// A seeded run that reaches a deadlock is a counterexample even when the
/// exhaustive check stops at a bound first: S1 needs 8 states to reach its
/// deadlock, so `--max-states 3` stops the check; seed 0's run takes
/// a.journal, enters reclaim from GFP_NOFS, and the io-gated dm-bufio
/// shrinker submits to loop0 whose worker needs a.journal.
#[test]
fn a_run_that_deadlocks_makes_the_cell_a_deadlock() {
    let (code, out, _) = compare(&[
        &scenario("s1-loop-bufio.toml"),
        "--policy",
        "baseline",
        "--max-states",
        "3",
        "--format",
        "json",
        "--seeds",
        "8",
    ]);
    assert_eq!(code, 0);
    let cells = cells(&out);
    let c = cell(&cells, "baseline");
    assert_eq!(c["verdict"], "deadlock", "{c}");
    assert_eq!(c["found_by"], "run");
    assert_eq!(c["bound"], "--max-states");
    assert!(c["seed"].is_u64());
    let trace = c["trace"].as_array().unwrap();
    assert!(!trace.is_empty());
    assert!(trace.iter().any(|l| {
        l["bios"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["event"] == "submitted" && b["server"] == "loop0 worker")
    }));
    let edges = c["cycle_edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
}

/// JSON records what produced it.
#[test]
fn json_records_kernel_sets_and_version() {
    let (code, out, _) = compare(&[
        &scenario("s1-loop-bufio.toml"),
        "--policy",
        "baseline",
        "--kernel",
        "6.1",
        "--set",
        "bufio.gate=fs",
        "--format",
        "json",
        "--seeds",
        "1",
    ]);
    assert_eq!(code, 0);
    let cells = cells(&out);
    let c = cell(&cells, "baseline");
    assert_eq!(c["kernel"], "6.1");
    assert_eq!(c["set"], serde_json::json!(["bufio.gate=fs"]));
    assert_eq!(
        c["tool_version"],
        concat!("reclaimscope ", env!("CARGO_PKG_VERSION"))
    );
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

/// Same input, same bytes: the page names no time, host or path beyond
/// the command line, and the check's trace does not depend on threads.
#[test]
fn report_is_deterministic() {
    let args = [
        scenario("s1-loop-bufio.toml"),
        scenario("s2-tcmu-zoned.toml"),
        "--policy".into(),
        "baseline,sb-context".into(),
        "--seeds".into(),
        "3".into(),
        "--format".into(),
        "html".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, a, _) = compare(&args);
    let (_, b, _) = compare(&args);
    assert!(a.len() > 1000);
    assert_eq!(a, b);
}
