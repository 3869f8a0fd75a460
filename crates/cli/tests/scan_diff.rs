//! `scan --diff`: a finding belongs to a patch when the patch adds any of
//! its evidence lines; `--diff -` reads the patch from standard input; a
//! file that is not a unified diff is an error at its line (exit 2).

mod common;
use common::text;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], cwd: &Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reclaimscope"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// After the patch: `memalloc_nofs_save()` at line 5 is unchanged; the
/// patch adds the early `return ret;` at line 8, which leaves the scope
/// without `memalloc_nofs_restore()`: every later allocation of this task
/// runs with PF_MEMALLOC_NOFS set (include/linux/sched/mm.h,
/// memalloc_nofs_save), a scope-unbalanced bug the patch introduces.
const AFTER: &str = "static int f(struct s *s)\n{\n\tunsigned int nofs;\n\tint ret;\n\tnofs = memalloc_nofs_save();\n\tret = g(s);\n\tif (ret)\n\t\treturn ret;\n\tret = h(s);\n\tmemalloc_nofs_restore(nofs);\n\treturn ret;\n}\n";

const PATCH: &str = "diff --git a/fs/x.c b/fs/x.c\n--- a/fs/x.c\n+++ b/fs/x.c\n@@ -5,5 +5,7 @@ static int f(struct s *s)\n \tnofs = memalloc_nofs_save();\n \tret = g(s);\n+\tif (ret)\n+\t\treturn ret;\n \tret = h(s);\n \tmemalloc_nofs_restore(nofs);\n \treturn ret;\n";

fn tree(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "reclaimscope-scan-diff-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("fs")).unwrap();
    std::fs::write(dir.join("fs/x.c"), AFTER).unwrap();
    std::fs::write(dir.join("fix.patch"), PATCH).unwrap();
    dir
}

#[test]
fn a_patch_adding_the_early_return_gets_the_scope_finding() {
    let dir = tree("ret");
    let all = run(&["scan", ".", "--format", "json"], &dir, None);
    let v: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "scope-unbalanced", "{v}");
    assert_eq!(f["line"], 5, "anchored on the unchanged save()");
    let lines: Vec<u64> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [5, 8], "{f}");

    let o = run(&["scan", ".", "--diff", "fix.patch"], &dir, None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("fs/x.c:5:"), "{}", text(&o.stdout));

    // The same patch on standard input.
    let o = run(&["scan", ".", "--diff", "-"], &dir, Some(PATCH));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("[scope-unbalanced]"));

    // A patch touching only other lines does not own the finding.
    let other = PATCH
        .replace(
            "+\tif (ret)\n+\t\treturn ret;\n",
            " \tif (ret)\n \t\treturn ret;\n",
        )
        .replace("@@ -5,5 +5,7 @@", "@@ -5,7 +5,7 @@")
        .replace(" \tret = h(s);\n", "-\tret = k(s);\n+\tret = h(s);\n");
    let o = run(&["scan", ".", "--diff", "-"], &dir, Some(&other));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

#[test]
fn sarif_carries_the_evidence_as_related_locations() {
    let dir = tree("sarif");
    let o = run(&["scan", ".", "--format", "sarif"], &dir, None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let related = &v["runs"][0]["results"][0]["relatedLocations"];
    let lines: Vec<u64> = related
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(lines, [5, 8]);
    assert_eq!(related[1]["message"]["text"], "exit leaving the scope");
}

#[test]
fn garbage_patches_are_errors_naming_file_and_line() {
    let dir = tree("garbage");
    std::fs::write(dir.join("notes.txt"), "hello\nworld\n").unwrap();
    let o = run(&["scan", ".", "--diff", "notes.txt"], &dir, None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).starts_with("notes.txt:1:1: error: not a unified diff"),
        "{}",
        text(&o.stderr)
    );
    let cut = PATCH.replace(" \treturn ret;\n", "GARBAGE\n");
    let o = run(&["scan", ".", "--diff", "-"], &dir, Some(&cut));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).starts_with("<stdin>:11:1: error:"),
        "{}",
        text(&o.stderr)
    );
    let binary = "\u{0}\u{1}\u{2}";
    let o = run(&["scan", ".", "--diff", "-"], &dir, Some(binary));
    assert_eq!(o.status.code(), Some(2));
}
