//! `scan` over odd and hostile files: every skipped file is counted under
//! its reason and named on stderr, the scan goes on, K&R definitions are
//! analysed and `#if 0` code is not.

mod common;
use common::{scratch, text};

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reclaimscope"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("binary runs")
}

/// kmalloc with __GFP_NORETRY whose failure only returns -ENOMEM: the slow
/// path in mm/page_alloc.c (`__alloc_pages_slowpath`) gives up after one
/// reclaim round, so under pressure this fails with no fallback.
const BODY: &str = "{\n\tp = kmalloc(n, GFP_KERNEL | __GFP_NORETRY);\n\tif (!p)\n\t\treturn -ENOMEM;\n\treturn 0;\n}\n";

#[test]
fn k_and_r_definitions_are_analysed() {
    let dir = scratch("kr");
    // Ten K&R heads; f1 (no return type) and f9 (pointer return) used to
    // parse as a declaration followed by a loose block, and were missed.
    let heads = [
        "f1(n)\nint n;\n",
        "int f2(n, p)\nint n;\nchar *p;\n",
        "static int f3(n, p)\n\tint n, *p;\n",
        "int f4(n, fn)\nint n;\nint (*fn)(int);\n",
        "long\nf5(n)\nregister int n;\n",
        "int f6(n, p)\nunsigned n;\nstruct s *p;\n",
        "int f7(n)\nint n; /* count */\n",
        "int f8(n, p)\nint n;\nconst char **p;\n",
        "int *f9(n)\nint n;\n",
        "STATIC int f10(n)\nint n;\n",
    ];
    let src: Vec<String> = heads.iter().map(|h| format!("{h}{BODY}")).collect();
    std::fs::write(dir.join("kr.c"), src.join("\n")).unwrap();
    let o = run(&["scan", "kr.c", "--format", "json"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut fns: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["function"].as_str().unwrap().to_string())
        .collect();
    fns.sort_by_key(|f| f[1..].parse::<u32>().unwrap_or(0));
    let want: Vec<String> = (1..=10).map(|i| format!("f{i}")).collect();
    assert_eq!(fns, want);
}

#[test]
fn if_0_code_is_not_reported_but_its_else_is() {
    let dir = scratch("if0");
    let src = format!(
        "static int g(void)\n{{\n#if 0\n\tp = kmalloc(n, GFP_KERNEL | __GFP_NORETRY);\n\tif (!p)\n\t\treturn -ENOMEM;\n#else\n\tq = kmalloc(n, GFP_KERNEL | __GFP_NORETRY);\n\tif (!q)\n\t\treturn -ENOMEM;\n#endif\n\treturn 0;\n}}\n#if 0\nint dead(void)\n{BODY}#endif\n"
    );
    std::fs::write(dir.join("if0.c"), src).unwrap();
    let o = run(&["scan", "if0.c"], &dir);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("if0.c:8:"), "{out}");
}

#[test]
fn skipped_files_are_named_and_counted_and_the_scan_goes_on() {
    let dir = scratch("skip");
    std::fs::create_dir_all(dir.join("t")).unwrap();
    std::fs::write(dir.join("t/bad.c"), format!("int f(void)\n{BODY}")).unwrap();
    std::fs::write(dir.join("t/empty.c"), "").unwrap();
    std::fs::write(dir.join("t/blank.c"), "\n\n  \n").unwrap();
    // A truncated file with the rule's token but nothing that parses as
    // a function.
    std::fs::write(dir.join("t/garbage.c"), "))) __GFP_NORETRY ((( { ] ;;").unwrap();
    std::fs::write(dir.join("t/blob.c"), b"\x00\x01__GFP_NORETRY").unwrap();
    std::fs::write(
        dir.join("t/latin1.c"),
        b"/* caf\xe9 */ int x = __GFP_NORETRY;\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("loop.c", dir.join("t/loop.c")).unwrap();
    let fifo = Command::new("mkfifo").arg(dir.join("t/pipe.c")).status();
    std::fs::write(dir.join("s.toml"), "[memory]\n").unwrap();

    let o = run(&["scan", "t", "s.toml", "--format", "json"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    let st = &v["stats"];
    assert_eq!(st["skipped_empty"], 2);
    assert_eq!(st["skipped_unparsable"], 1);
    assert_eq!(st["skipped_binary"], 1);
    assert_eq!(st["skipped_non_utf8"], 1);
    assert_eq!(st["skipped_not_c"], 1);
    let special = if fifo.is_ok_and(|s| s.success()) {
        2
    } else {
        1
    };
    assert_eq!(st["skipped_special"], special);
    let reasons: Vec<(String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["file"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&("t/garbage.c".into(), "unparsable".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("s.toml".into(), "not-c".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("t/loop.c".into(), "special".into())),
        "{reasons:?}"
    );
    let err = text(&o.stderr);
    assert!(err.contains("t/empty.c: note: skipped: empty"), "{err}");
    assert!(
        err.contains("s.toml: note: skipped: not a .c or .h file"),
        "{err}"
    );

    let o = run(&["scan", "t", "s.toml", "--summary"], &dir);
    let out = text(&o.stdout);
    assert!(out.contains("2 empty, 1 unparsable, 1 not C"), "{out}");
}

#[test]
fn summary_says_which_rules_did_not_run() {
    let dir = scratch("notrun");
    std::fs::write(dir.join("a.c"), format!("int f(void)\n{BODY}")).unwrap();
    let o = run(
        &["scan", "a.c", "--summary", "--rule", "noretry-no-fallback"],
        &dir,
    );
    let out = text(&o.stdout);
    assert!(out.contains("     1  noretry-no-fallback\n"), "{out}");
    assert!(out.contains("-  scope-unbalanced (not run)"), "{out}");
    assert!(!out.contains("     0  scope-unbalanced"), "{out}");
}

#[test]
fn a_function_nested_100k_blocks_deep_is_skipped_and_counted() {
    let dir = scratch("deep");
    let deep = format!(
        "int f(void)\n{{\n{}p = kmalloc(8, GFP_KERNEL | __GFP_NORETRY); if (!p) return -ENOMEM;{}\n}}\n",
        "{".repeat(100_000),
        "}".repeat(100_000)
    );
    std::fs::write(dir.join("deep.c"), deep).unwrap();
    std::fs::write(dir.join("bad.c"), format!("int g(void)\n{BODY}")).unwrap();
    let o = run(&["scan", ".", "--format", "json"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["stats"]["skipped_deep_functions"], 1);
    assert_eq!(v["findings"][0]["function"], "g");
}

/// Found by the fuzz driver: an unterminated string before thousands of
/// unclosed calls sent tree-sitter's error recovery to 23 GB and the OOM
/// killer. The region's parse is now abandoned past a step budget,
/// counted, and the rest of the tree is scanned.
#[test]
fn a_parse_that_explodes_is_abandoned_and_counted() {
    let dir = scratch("costly");
    // The fuzzer's input, its runs of `vmalloc(` written as counts.
    let calls = |n: usize| "vmalloc(".repeat(n);
    let hostile = [
        "ptr = __vmalloc(ARN, order);\nif (!page)\n\tpage = alloc_pages(gfp, 0);\nsiz e, GF\"P_NOFS);".to_string(),
        calls(1862),
        "vmalmoc(".into(),
        calls(1662),
        "vmallocock_group_kobjs[index]) {\n\tspin_unlock(&space_info->lock);\n\tkobject_put(&rkobj->kobj);\n\treturn;                         /* PF_MEMALLOC_NOFS still set */\n}\n(".into(),
        calls(1891),
        "vmallkc(".into(),
        calls(1172),
        "\n".into(),
    ]
    .concat();
    std::fs::write(
        dir.join("hostile.c"),
        format!("int x = GFP_NOFS;\n{hostile}"),
    )
    .unwrap();
    std::fs::write(dir.join("bad.c"), format!("int g(void)\n{BODY}")).unwrap();
    let o = run(&["scan", ".", "--format", "json"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["stats"]["skipped_costly_regions"], 1);
    assert_eq!(v["findings"][0]["file"], "bad.c");
}
