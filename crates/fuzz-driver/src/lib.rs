//! The fuzz targets, shared by the cargo-fuzz harness in `fuzz/` (nightly,
//! libFuzzer) and by the stable driver in this crate (`src/main.rs`, run
//! briefly by `cargo test` and at length by `bench/fuzz`).
//!
//! A target takes arbitrary bytes and must return: no panic, no abort, no
//! stack overflow, whatever the input. Each also checks a property of the
//! answer, so a wrong result on odd input is a crash too.

pub mod mutate;

use reclaimscope_model::Policy;
use reclaimscope_model::gfp::{Gfp, parse_expr};
use reclaimscope_model::history::{FACTS, KernelParams, KernelVersion, Release, facts_between};
use reclaimscope_scan::diff::AddedLines;
use reclaimscope_scan::finding::{Evidence, Finding};
use reclaimscope_scan::{Rule, scan::kernel_facts, scan_source};
use reclaimscope_sim::{MetricsAcc, Scenario, Sim, run_quiet};
use std::sync::OnceLock;

/// A named target.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    /// Seed files under the repository root: (directory, file suffix).
    pub seeds: &'static [(&'static str, &'static str)],
    /// Inputs past this size are cut: the targets are linear, so longer
    /// inputs only cost executions.
    pub max_len: usize,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "gfp_expr",
        run: gfp_expr,
        seeds: &[],
        max_len: 64 << 10,
    },
    Target {
        name: "scenario",
        run: scenario,
        seeds: &[("scenarios", ".toml")],
        max_len: 64 << 10,
    },
    Target {
        name: "scan_file",
        run: scan_file,
        seeds: &[("crates/scan/tests/fixtures", ".c"), ("docs", ".md")],
        max_len: 64 << 10,
    },
    Target {
        name: "kernel_version",
        run: kernel_version,
        seeds: &[],
        max_len: 4 << 10,
    },
    Target {
        name: "unified_diff",
        run: unified_diff,
        seeds: &[],
        max_len: 64 << 10,
    },
];

pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// gfp expressions built in (the docs' and scenarios' masks are added by
/// the driver from the seed files).
pub const GFP_SEEDS: &[&str] = &[
    "GFP_KERNEL",
    "GFP_NOFS | __GFP_NORETRY | __GFP_NOWARN",
    "(GFP_KERNEL & ~__GFP_FS)",
    "GFP_KERNEL & ~(__GFP_IO | __GFP_FS)",
    "(__force gfp_t)0x400u | (gfp_t)__GFP_IO",
    "gfp | __GFP_NOMEMALLOC",
    "GFP_NOWAIT ^ __GFP_NOWARN",
    "~0",
    "GFP_TRANSHUGE_LIGHT | __GFP_THISNODE",
];

/// `--kernel` arguments built in (the history facts' releases are added
/// by the driver): upstream, stable, release candidates, distribution
/// `uname -r` strings, and the shapes that once reached an unwrap.
pub const KERNEL_SEEDS: &[&str] = &[
    "5.3",
    "6.1.76",
    "v5.17-rc1",
    "6.1.0-18-amd64",
    "5.14.0-362.el9.x86_64",
    "4.19.0+",
    "6.8.0-45-generic",
    "99999999999999999999.1",
    "6.",
    "",
    ".1",
    "6.1.2.3",
];

/// Unified diffs built in: `diff -u`, `git diff` with a new file and a
/// deletion, a mailed patch with its commit message and signature, a
/// hunk without counts and one with "\ No newline at end of file".
pub const DIFF_SEEDS: &[&str] = &[
    "--- a/fs/ext4/inode.c\n+++ b/fs/ext4/inode.c\n@@ -10,3 +10,4 @@ static int f(void)\n \tint a;\n+\tp = kmalloc(n, GFP_KERNEL);\n \tint b;\n-\tint c;\n+\tint d;\n",
    "diff --git a/drivers/md/dm-bufio.c b/drivers/md/dm-bufio.c\nindex 1111111..2222222 100644\n--- a/drivers/md/dm-bufio.c\n+++ b/drivers/md/dm-bufio.c\n@@ -1 +1 @@\n-old\n+new\n\\ No newline at end of file\ndiff --git a/new.c b/new.c\nnew file mode 100644\n--- /dev/null\n+++ b/new.c\n@@ -0,0 +1,2 @@\n+int x;\n+int y;\ndiff --git a/gone.c b/gone.c\n--- a/gone.c\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-int x;\n-int y;\n",
    "From: A <a@example.org>\nSubject: [PATCH] loop: use GFP_NOIO\n\nThe worker may recurse into the fs.\n---\n drivers/block/loop.c | 2 +-\n\n--- a/drivers/block/loop.c\n+++ b/drivers/block/loop.c\t2019-07-30 00:00:00\n@@ -5,2 +5,2 @@\n-\tgfp = GFP_KERNEL;\n+\tgfp = GFP_NOIO;\n\n-- \n2.20.1\n",
];

/// The gfp expression parser: a parse error has a span inside the input;
/// an exact value prints in kernel form and parses back to itself.
pub fn gfp_expr(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    match parse_expr(&src) {
        Err(e) => {
            assert!(
                e.span.start <= src.len() + 1,
                "span {:?} past input",
                e.span
            );
            assert!(!e.message.is_empty());
        }
        Ok(expr) => {
            let v = expr.value();
            assert!(
                v.may.contains(v.must),
                "must {:?} not within may {:?}",
                v.must,
                v.may
            );
            if let Some(g) = v.is_exact() {
                let printed = g.to_string();
                let back = parse_expr(&printed).expect("printed mask parses");
                assert_eq!(back.value().is_exact(), Some(Gfp(g.0)), "{printed}");
            }
            let _ = expr.unknown_idents();
        }
    }
}

/// The scenario loader, then a short seeded run of what it accepted: an
/// error names a line and column inside the file and says something (a
/// control byte in a TOML comment once gave an empty message; the loader
/// now names the character).
pub fn scenario(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return; // the CLI reports bad UTF-8 before the loader sees it
    };
    match Scenario::from_toml_str(src, "fuzz.toml") {
        Err(e) => {
            let lines = src.lines().count().max(1);
            assert!(
                e.line >= 1 && e.line <= lines + 1,
                "line {} of {lines}: {e}",
                e.line
            );
            assert!(e.col >= 1, "{e}");
            assert!(!e.message.trim().is_empty(), "empty message at {e}");
        }
        Ok(sc) => match Sim::new(&sc, &Policy::BASELINE) {
            Ok(sim) => {
                let mut acc = MetricsAcc::new(&sim);
                let _ = run_quiet(&sim, 1, 300, &mut acc);
            }
            Err(e) => assert!(!e.message.trim().is_empty(), "empty message at {e}"),
        },
    }
}

/// A scenario `--kernel` is applied to (the first shipped one).
fn kernel_scenario() -> &'static Scenario {
    static SC: OnceLock<Scenario> = OnceLock::new();
    SC.get_or_init(|| {
        Scenario::from_toml_str(
            include_str!("../../../scenarios/s1-loop-bufio.toml"),
            "s1-loop-bufio.toml",
        )
        .expect("the shipped scenario loads (crates/sim/tests check it)")
    })
}

/// `--kernel X.Y[.Z]` (`KernelVersion::parse`, `Release::parse`, then
/// `Scenario::apply_overrides`): both parsers agree on what is a version;
/// an error says something; a version prints as text that parses back to
/// itself; a release's vendor suffix, when there is one, is not empty and
/// comes with a note; the parameters and facts of any accepted version
/// can be computed; `explain --kernel` (`gfp_release::Release::parse`)
/// takes the same texts, from v4.4 on.
pub fn kernel_version(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let (v, r) = (KernelVersion::parse(&s), Release::parse(&s));
    let explain = reclaimscope_model::gfp_release::Release::parse(&s);
    match &v {
        Ok(v) if *v >= KernelVersion::new(4, 4) => {
            let g = explain.as_ref().expect("explain takes what check takes");
            assert_eq!((g.major, g.minor), (v.major, v.minor));
        }
        _ => assert!(explain.is_err_and(|e| !e.trim().is_empty()), "{s:?}"),
    }
    match (v, r) {
        (Err(e), Err(e2)) => {
            assert!(!e.trim().is_empty() && e == e2, "{e:?} / {e2:?}");
            let mut sc = kernel_scenario().clone();
            let err = sc
                .apply_overrides(Some(&s), &[])
                .expect_err("a version both parsers reject is rejected");
            assert!(!err.message.trim().is_empty());
            assert_eq!(err.origin, "--kernel");
        }
        (Ok(v), Ok(r)) => {
            assert_eq!(r.version, v);
            assert!((2..=9).contains(&v.major), "{v}");
            assert_eq!(KernelVersion::parse(&v.to_string()), Ok(v), "{v}");
            assert_eq!(r.text, s.trim());
            if let Some(vendor) = &r.vendor {
                assert!(!vendor.is_empty());
                assert!(r.note().is_some_and(|n| n.contains(vendor.as_str())));
            } else {
                assert!(r.note().is_none());
            }
            let p = KernelParams::for_version(v);
            assert_eq!(p.version, v);
            // Every fact is in exactly one of v and a release before all of them.
            let before_all = KernelVersion::new(2, 6);
            assert_eq!(
                facts_between(before_all, v).len(),
                FACTS.iter().filter(|f| f.in_release(v)).count()
            );
            let mut sc = kernel_scenario().clone();
            sc.apply_overrides(Some(&s), &[])
                .expect("an accepted version applies");
            assert_eq!(sc.kernel, Some(v));
        }
        (v, r) => panic!("parsers disagree: {v:?} / {r:?}"),
    }
}

/// `scan --diff` (`AddedLines::parse`): an error names a line of the
/// patch and says something; text with no added line adds nothing; and
/// when the patch opens with a file header and a hunk whose first body
/// line is added, that line is found.
pub fn unified_diff(data: &[u8]) {
    let patch = String::from_utf8_lossy(data);
    let lines: Vec<&str> = patch.lines().collect();
    match AddedLines::parse(&patch) {
        Err(e) => {
            assert!(
                e.line >= 1 && e.line <= lines.len().max(1),
                "line {} of {}: {}",
                e.line,
                lines.len(),
                e.message
            );
            assert!(
                !e.message.trim().is_empty(),
                "empty message at line {}",
                e.line
            );
        }
        Ok(added) => {
            if !lines.iter().any(|l| l.starts_with('+')) {
                assert!(added.is_empty(), "nothing added, yet lines recorded");
            }
            if let Some((file, line)) = first_added(&lines) {
                let f = Finding {
                    rule: Rule::NoretryNoFallback,
                    file: file.to_string(),
                    line,
                    column: 1,
                    function: "f".into(),
                    call: String::new(),
                    mask: String::new(),
                    reason: String::new(),
                    chain: Vec::new(),
                    evidence: vec![Evidence {
                        line,
                        role: "allocation",
                    }],
                };
                assert!(added.contains(&f), "{file}:{line} added but not found");
            }
        }
    }
}

/// `--- a/F`, `+++ b/F`, `@@ -a,b +N,M @@`, `+...` at the top of a patch:
/// (F, N). Only this unambiguous opening is recognised (anywhere later, a
/// `+++` line may be an added line of an earlier hunk).
fn first_added<'a>(lines: &[&'a str]) -> Option<(&'a str, usize)> {
    let rest = match lines {
        [old, new, hunk, body, ..] if old.starts_with("--- ") => [*new, *hunk, *body],
        [new, hunk, body, ..] => [*new, *hunk, *body],
        _ => return None,
    };
    let path = rest[0].strip_prefix("+++ b/")?;
    if path.is_empty()
        || !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-/".contains(&b) || b == b'.')
        || path.starts_with('.')
        || path.contains("//")
        || path.ends_with('/')
    {
        return None;
    }
    let mut w = rest[1].strip_prefix("@@ -")?.split(' ');
    let (old, new) = (w.next()?, w.next()?.strip_prefix('+')?);
    if w.next() != Some("@@") || !rest[2].starts_with('+') {
        return None;
    }
    let count = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    count(old)?;
    let (start, n) = count(new)?;
    (n >= 1).then_some((path, start))
}

/// The scanner on one file, every rule: findings point inside the file.
pub fn scan_file(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    let findings = scan_source("fuzz.c", &src, &Rule::ALL, kernel_facts(None));
    let lines = src.lines().count().max(1);
    for f in findings {
        assert!(f.line >= 1 && f.line <= lines, "line {} of {lines}", f.line);
        for e in &f.evidence {
            assert!(
                e.line >= 1 && e.line <= lines,
                "evidence line {} of {lines}",
                e.line
            );
        }
    }
}
