//! Shared by the CLI integration tests: run the built binary, find a
//! shipped scenario, make a scratch directory.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::Command;

/// The repository root (scenarios/, tests/ and docs/ live there).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `reclaimscope SUB ARGS...` from the repository root: exit code, stdout, stderr.
pub fn run(sub: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reclaimscope"))
        .current_dir(repo_root())
        .arg(sub)
        .args(args)
        .output()
        .expect("run reclaimscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Absolute path of the shipped scenario whose file name starts with `prefix`.
pub fn scenario(prefix: &str) -> String {
    let dir = repo_root().join("scenarios");
    let hit = std::fs::read_dir(&dir)
        .expect("scenarios directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(prefix) && f.ends_with(".toml"))
        });
    hit.unwrap_or_else(|| panic!("no scenario {prefix}*.toml"))
        .display()
        .to_string()
}

/// The built binary, to run with arguments of the test's choosing.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reclaimscope"))
}

/// Lossy text of a process's output.
pub fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// An empty scratch directory for test `name`, unique to this test binary
/// and process so binaries running side by side never share one.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "reclaimscope-{}-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}
