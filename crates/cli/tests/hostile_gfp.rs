//! Deep and long gfp expressions from all three entry points: `explain`,
//! a scenario's `alloc gfp=` / `write_gfp`, and `scan` (which rewrites a C
//! mask into the same expression language). Each of these aborted the
//! process with a stack overflow (SIGABRT, no message) before the parser
//! got a nesting bound and n-ary, loop-built trees.

mod common;
use common::{bin, scratch, text};

use reclaimscope_sim::scenario::Scenario;
use std::path::PathBuf;

fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

#[test]
fn explain_a_7000_deep_parenthesis_is_an_error_at_its_column() {
    let expr = format!("{}GFP_NOFS{}", "(".repeat(7_000), ")".repeat(7_000));
    let o = bin().args(["explain", &expr]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    // The 257th `(` is the first one past the bound.
    assert!(err.contains("<command line>:1:257: error:"), "{err}");
    assert!(err.contains("deeper than 256"), "{err}");
}

#[test]
fn explain_a_120k_term_or_chain_and_21k_tildes() {
    // A command-line argument is at most 128 KiB: pass the chain as five
    // arguments, which explain joins with spaces.
    let chunk = vec!["0x80"; 24_000].join("|");
    let mut args = vec!["explain".to_string(), "GFP_NOIO".to_string()];
    for _ in 0..5 {
        args.push(format!("|{chunk}"));
    }
    let o = bin().args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // GFP_NOIO | __GFP_FS (0x80): reclaim and fs but not io, no composite.
    assert!(text(&o.stdout).contains("__GFP_FS"), "{}", text(&o.stdout));

    let tildes = format!("GFP_KERNEL & {}__GFP_FS", "~".repeat(21_001));
    let o = bin().args(["explain", &tildes]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("GFP_NOFS"), "{}", text(&o.stdout));
}

/// Replace the first occurrence of `from` in a shipped scenario.
fn scenario_with(file: &str, from: &str, to: &str) -> String {
    let src = std::fs::read_to_string(scenarios().join(file)).unwrap();
    assert!(src.contains(from), "{file} lacks {from}");
    src.replacen(from, to, 1)
}

#[test]
fn scenario_alloc_gfp_nested_7000_deep_is_an_error_at_line_and_column() {
    let deep = format!("{}GFP_NOFS{}", "(".repeat(7_000), ")".repeat(7_000));
    let src = scenario_with(
        "s1-loop-bufio.toml",
        "\"alloc gfp=GFP_NOFS pages=1\"",
        &format!("\"alloc gfp={deep} pages=1\""),
    );
    let err = Scenario::from_toml_str(&src, "deep.toml").unwrap_err();
    let line = src
        .lines()
        .position(|l| l.contains("alloc gfp=((("))
        .unwrap()
        + 1;
    assert_eq!(err.line, line, "{err}");
    assert!(err.message.contains("deeper than 256"), "{err}");

    // The same through the binary: exit 2 with file:line:col.
    let dir = scratch("scenario");
    let path = dir.join("deep.toml");
    std::fs::write(&path, &src).unwrap();
    let o = bin().arg("check").arg(&path).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!("deep.toml:{line}:")),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn scenario_write_gfp_with_22000_tildes_loads() {
    // An even number of `~` is the identity: the fs writes back GFP_NOFS.
    let src = scenario_with(
        "s3-loop-xfs-on-ext4.toml",
        "write_locks = [\"ext4.journal\"]",
        &format!(
            "write_locks = [\"ext4.journal\"]\nwrite_gfp = \"{}GFP_NOFS\"",
            "~".repeat(22_000)
        ),
    );
    let s = Scenario::from_toml_str(&src, "tildes.toml").unwrap();
    assert!(
        format!("{s:?}").contains("write_gfp: Gfp(GFP_NOFS)"),
        "write_gfp not GFP_NOFS"
    );
}

#[test]
fn scan_survives_hostile_masks_and_still_reports_the_real_bug() {
    let dir = scratch("scan");
    // The real finding: a __GFP_NORETRY allocation whose failure only
    // returns -ENOMEM (the slow path in mm/page_alloc.c gives up after one
    // reclaim round, so this fails under pressure with no fallback).
    std::fs::write(
        dir.join("bad.c"),
        "static int f(struct s *s)\n{\n\ts->p = kmalloc(64, GFP_KERNEL | __GFP_NORETRY);\n\tif (!s->p)\n\t\treturn -ENOMEM;\n\treturn 0;\n}\n",
    )
    .unwrap();
    let wrap = |mask: &str| {
        format!(
            "static int g(struct s *s)\n{{\n\ts->p = kmalloc(64, {mask});\n\tif (!s->p)\n\t\treturn -ENOMEM;\n\treturn 0;\n}}\n"
        )
    };
    // 800 terms: deep for the old recursive evaluator once the scanner
    // parenthesised every `|`, within the scanner's function nesting bound.
    let chain = format!("GFP_KERNEL{}", " | __GFP_NORETRY".repeat(800));
    std::fs::write(dir.join("chain.c"), wrap(&chain)).unwrap();
    // Past the nesting bound (1,000 syntax levels): the function is
    // skipped and counted, the rest of the tree still scanned.
    let chain7k = format!("GFP_KERNEL{}", " | __GFP_NORETRY".repeat(7_000));
    std::fs::write(dir.join("chain7k.c"), wrap(&chain7k)).unwrap();
    let parens = format!(
        "{}GFP_KERNEL | __GFP_NORETRY{}",
        "(".repeat(7_000),
        ")".repeat(7_000)
    );
    std::fs::write(dir.join("parens.c"), wrap(&parens)).unwrap();
    let tildes = format!("GFP_KERNEL | {}__GFP_NORETRY", "~~".repeat(2_600));
    std::fs::write(dir.join("tildes.c"), wrap(&tildes)).unwrap();
    let tildes_few = format!("GFP_KERNEL | {}__GFP_NORETRY", "~~".repeat(300));
    std::fs::write(dir.join("tildes600.c"), wrap(&tildes_few)).unwrap();

    let o = bin()
        .args(["scan", ".", "--format", "json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut files: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    files.sort();
    // The chain and the tildes evaluate exactly (GFP_KERNEL | __GFP_NORETRY):
    // the same bug as bad.c.
    assert_eq!(files, ["bad.c", "chain.c", "tildes600.c"], "{out}");
    assert_eq!(v["stats"]["skipped_deep_functions"], 3, "{out}");
}
