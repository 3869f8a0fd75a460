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
use reclaimscope_scan::{Rule, scan::kernel_facts, scan_source};
use reclaimscope_sim::{MetricsAcc, Scenario, Sim, run_quiet};

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
/// error names a line and column inside the file. (Whether the message is
/// useful is not checked here: a control byte in a TOML comment gives an
/// empty one, a loader bug this target found, filed in issue 9.)
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
        }
        Ok(sc) => {
            if let Ok(sim) = Sim::new(&sc, &Policy::BASELINE) {
                let mut acc = MetricsAcc::new(&sim);
                let _ = run_quiet(&sim, 1, 300, &mut acc);
            }
        }
    }
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
