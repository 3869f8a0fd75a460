//! The compare report as a browser sees it: headless Chromium loads the
//! page, must log no console error, and its DOM must hold the verdict
//! matrix and a sequence diagram; a screenshot is kept under
//! `target/report/` for a person to look at.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it and sets
//! `RECLAIMSCOPE_REQUIRE_CHROMIUM=1`, so CI fails rather than skips when
//! it is missing).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    })
}

/// Run headless Chromium on `page` with a fresh profile; stdout and stderr.
fn headless(bin: &Path, profile: &Path, extra: &[&str], page: &Path) -> (String, String) {
    // Files, not pipes: a pipe nobody drains would stall a big --dump-dom.
    let out_file = profile.with_extension("stdout");
    let err_file = profile.with_extension("stderr");
    let mut out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .expect("start chromium");
    // A browser that hangs must fail the test, not stall CI.
    let deadline = Instant::now() + Duration::from_secs(120);
    while out.try_wait().expect("wait for chromium").is_none() {
        if Instant::now() > deadline {
            let _ = out.kill();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read = |f: &Path| String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
    (read(&out_file), read(&err_file))
}

/// Console messages and uncaught exceptions. Chromium logs every console
/// message (`console.error` included) as `INFO:CONSOLE`; the report has no
/// scripts, so any console line at all means something went wrong (a
/// failed resource load also lands there).
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

/// The detector itself: a page that logs an error and throws is caught.
#[test]
fn console_errors_are_detected() {
    let Some(bin) = chromium() else {
        assert!(std::env::var_os("RECLAIMSCOPE_REQUIRE_CHROMIUM").is_none());
        return;
    };
    let dir = common::repo_root().join("target/report-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let page = dir.join("bad.html");
    std::fs::write(
        &page,
        "<!doctype html><html><body><script>console.error('boom'); undefinedFn();</script></body></html>",
    )
    .unwrap();
    let profile = dir.join("chromium-profile");
    let _ = std::fs::remove_dir_all(&profile);
    let (_, log) = headless(&bin, &profile, &["--dump-dom"], &page);
    let errors = console_errors(&log);
    assert!(errors.iter().any(|l| l.contains("boom")), "{log}");
    assert!(errors.iter().any(|l| l.contains("Uncaught")), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_report_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        assert!(
            std::env::var_os("RECLAIMSCOPE_REQUIRE_CHROMIUM").is_none(),
            "chromium is required (RECLAIMSCOPE_REQUIRE_CHROMIUM is set) but not installed"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let dir = common::repo_root().join("target/report");
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let page = dir.join("compare.html");
    // S1 (dm-bufio on loop, "[PATCH 0/6] Overhaul memalloc_no*") and S4 (vmalloc's GFP_KERNEL page
    // tables under a NOFS caller): both deadlock under baseline (S1 in 10 steps, S4 in 4).
    let (code, _, err) = common::run(
        "compare",
        &[
            &common::scenario("s1-loop-bufio.toml"),
            &common::scenario("s4-vmalloc-nofs.toml"),
            "--seeds",
            "4",
            "--format",
            "html",
            "-o",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let profile = dir.join("chromium-profile");
    let _ = std::fs::remove_dir_all(&profile);

    let (dom, log) = headless(&bin, &profile, &["--dump-dom"], &page);
    assert!(console_errors(&log).is_empty(), "console errors:\n{log}");
    assert!(
        dom.contains("id=\"matrix\""),
        "no verdict matrix in the DOM"
    );
    // Ten policies, each a row of the matrix with one cell per scenario.
    let matrix = &dom[dom.find("id=\"matrix\"").unwrap()..];
    let matrix = &matrix[..matrix.find("</table>").unwrap()];
    assert_eq!(matrix.matches("<td class=").count(), 20, "{matrix}");
    assert!(
        dom.contains("<svg class=\"seq\""),
        "no sequence diagram in the DOM"
    );
    // S1 baseline: a-task's bio to loop0 is the arrow the diagram exists for.
    assert!(dom.contains("class=\"bio submitted\""), "no bio arrow");

    let shot = dir.join("compare.png");
    let _ = std::fs::remove_file(&shot);
    let (_, log) = headless(
        &bin,
        &profile,
        &[
            "--hide-scrollbars",
            "--window-size=1400,2200",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    assert!(console_errors(&log).is_empty(), "console errors:\n{log}");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "a blank screenshot ({} bytes)",
        png.len()
    );
    let _ = std::fs::remove_dir_all(&profile);
}
