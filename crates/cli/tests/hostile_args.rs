//! Hostile command-line values and side inputs: every one is an error that
//! names where it is (`--kernel:1:COL`, `<stdin>:LINE:COL`), exit 2, and
//! never a panic. Kernel version strings follow the top-level Makefile
//! (`VERSION.PATCHLEVEL.SUBLEVEL`, each a small number) plus a `uname -r`
//! suffix (`EXTRAVERSION`/`LOCALVERSION`, e.g. `-18-amd64`).

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

fn no_panic(err: &str) {
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

/// `reclaimscope SUB ARGS` must fail with exit 2 and an error starting
/// with `prefix`, without a panic; returns the error text.
fn rejected(sub: &str, args: &[&str], prefix: &str) -> String {
    let (code, _, err) = common::run(sub, args);
    no_panic(&err);
    assert_eq!(code, 2, "{sub} {args:?}: {err}");
    assert!(err.starts_with(prefix), "{sub} {args:?}: {err}");
    err
}

#[test]
fn check_rejects_kernel_versions_that_are_not_releases_at_their_column() {
    let s1 = common::scenario("s1-");
    for (k, col) in [
        ("99999999999999999999.1", 1), // past u16
        ("4294967296.0", 1),
        ("6.99999999999", 1),
        ("6.", 1), // no PATCHLEVEL
        ("", 1),
        ("6", 1),
        (".1", 1),
        ("6.1.2.3", 1), // a fourth component
        ("6.1.x", 1),
        ("é.1", 1),
        ("\u{7}6.1", 1),
        ("6.1,,5.4", 5), // the empty element of a list
        ("5.4,banana", 5),
    ] {
        let err = rejected(
            "check",
            &[&s1, "--kernel", k],
            &format!("--kernel:1:{col}: error: "),
        );
        assert!(err.contains("is not a kernel version"), "{err}");
    }
}

#[test]
fn explain_takes_the_same_kernel_strings_as_check() {
    for k in ["99999999999999999999.1", "6.", "", "6.1.x", "6.1.2.3"] {
        let args = ["GFP_KERNEL", "--kernel", k];
        let err = rejected("explain", &args, "--kernel:1:1: error: ");
        assert!(err.contains("is not a kernel version"), "{k:?}: {err}");
    }
    // Before v4.4 (__GFP_WAIT) explain has no model: also an error there.
    let args = ["GFP_KERNEL", "--kernel", "4.3"];
    rejected("explain", &args, "--kernel:1:1: error: 4.3 predates");
    // A uname -r string works in both.
    let (code, out, err) = common::run("explain", &["GFP_KERNEL", "--kernel", "6.1.0-18-amd64"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty());
}

#[test]
fn set_values_out_of_range_are_errors_at_the_value() {
    let s1 = common::scenario("s1-");
    for (set, col) in [
        ("memory.free=99999999999999999999", 13), // past u16
        ("memory.free=-1", 13),
        ("a-task.repeat=300", 15), // past u8
        ("a-task.repeat=0", 15),   // below the program counters' 1..=100
        ("memory.min=65535", 12),  // min above low
        ("", 1),
        ("=", 1),
    ] {
        rejected(
            "check",
            &[&s1, "--set", set],
            &format!("--set:1:{col}: error: "),
        );
    }
}

#[test]
fn max_memory_garbage_is_an_error() {
    let s1 = common::scenario("s1-");
    for m in ["", "lots", "1X", "G", "-1", "nan", "inf"] {
        let arg = format!("--max-memory={m}");
        rejected("check", &[&s1, &arg], "error: --max-memory: ");
    }
}

/// `scan . --diff -` with `patch` on stdin, in a scratch tree with one file.
fn scan_diff(patch: &[u8]) -> (i32, String) {
    let dir =
        std::env::temp_dir().join(format!("reclaimscope-hostile-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.c"), "int f(void)\n{\n\treturn 0;\n}\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_reclaimscope"))
        .args(["scan", ".", "--diff", "-"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(patch).unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn malformed_diffs_are_errors_at_their_line() {
    let max = usize::MAX;
    for (patch, at) in [
        // A new range ending past usize: counting its lines would overflow.
        (format!("+++ b/a.c\n@@ -1 +{max},2 @@\n+x\n+y\n"), "2:1"),
        (
            "+++ b/a.c\n@@ -1,99999999999999999999 +1 @@\n".to_string(),
            "2:1",
        ),
        ("@@ -1 +1 @@\n+x\n".to_string(), "1:1"), // hunk before a file header
        ("+++ b/a.c\n@@  @@\n".to_string(), "2:1"),
        ("+++ b/a.c\n@@ -1 +1 @@\n+x\n+y\n".to_string(), "4:1"), // more than counted
        ("+++ b/a.c\n@@ -1,3 +1,3 @@\n x\n".to_string(), "3:1"), // truncated
        ("hello\nworld\n".to_string(), "1:1"),
    ] {
        let (code, err) = scan_diff(patch.as_bytes());
        no_panic(&err);
        assert_eq!(code, 2, "{patch:?}: {err}");
        assert!(
            err.starts_with(&format!("<stdin>:{at}: error: ")),
            "{patch:?}: {err}"
        );
    }
    // Not UTF-8: the line and column of the first bad byte.
    let (code, err) = scan_diff(b"+++ b/a.c\n@@ -1 +1 @@\n+x\xff\n");
    no_panic(&err);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("<stdin>:3:3: error: not valid UTF-8"),
        "{err}"
    );
}
