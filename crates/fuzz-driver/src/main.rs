//! Stable-toolchain fuzz driver: runs each target over mutated seed inputs
//! and reports executions per second and crashes.
//!
//! ```text
//! reclaimscope-fuzz-driver [--target NAME]... [--execs N] [--seed S] [--crashes DIR]
//! ```
//!
//! The work runs in child processes of this binary (chunks of at most
//! 100,000 executions): a panic is caught in the child, but an abort, a
//! stack overflow or running out of memory kills it. The child's address
//! space is limited (`CHILD_MEMORY`, like libFuzzer's `-rss_limit_mb`), so
//! an input that makes a target grow without bound aborts the child
//! instead of bringing the machine to the OOM killer. The parent then
//! reruns the chunk with each index traced to find the input, rebuilds it
//! (inputs are a pure function of seed and index), saves it under
//! `--crashes` and goes on after it.

use reclaimscope_fuzz_driver::{TARGETS, Target, mutate, target};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const CHUNK: u64 = 100_000;

/// Address-space limit of a child: far above what one 64 KiB input
/// needs (tens of MB), far below the machine.
const CHILD_MEMORY: u64 = 4 << 30;

struct Opts {
    targets: Vec<&'static Target>,
    execs: u64,
    seed: u64,
    crashes: PathBuf,
    root: PathBuf,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child") => return child(&args[1..], false),
        Some("--child-trace") => return child(&args[1..], true),
        _ => {}
    }
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "error: {e}\nusage: reclaimscope-fuzz-driver [--target gfp_expr|scenario|scan_file|kernel_version|unified_diff]... [--execs N] [--seed S] [--crashes DIR]"
            );
            return ExitCode::from(2);
        }
    };
    println!(
        "{:<14} {:>10} {:>9} {:>10} {:>8}",
        "target", "execs", "seconds", "execs/s", "crashes"
    );
    let mut total_crashes = 0;
    for t in &opts.targets {
        let start = Instant::now();
        let crashes = run_target(t, &opts);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{:<14} {:>10} {:>9.1} {:>10.0} {:>8}",
            t.name,
            opts.execs,
            secs,
            opts.execs as f64 / secs.max(1e-9),
            crashes
        );
        total_crashes += crashes;
    }
    if total_crashes > 0 {
        println!("crashing inputs saved under {}", opts.crashes.display());
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut targets = Vec::new();
    let mut execs = 10_000;
    let mut seed = 1;
    let mut crashes = PathBuf::from("target/fuzz-crashes");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--target" => {
                let n = val()?;
                targets.push(target(&n).ok_or(format!("unknown target `{n}`"))?);
            }
            "--execs" => execs = val()?.parse().map_err(|e| format!("--execs: {e}"))?,
            "--seed" => seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--crashes" => crashes = PathBuf::from(val()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().collect();
    }
    Ok(Opts {
        targets,
        execs,
        seed,
        crashes,
        root: repo_root(),
    })
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run `t` for `opts.execs` inputs in child processes; returns crashes.
fn run_target(t: &Target, opts: &Opts) -> u64 {
    let mut crashes = 0;
    let mut from = 0;
    while from < opts.execs {
        let to = (from + CHUNK).min(opts.execs);
        let (ok, panics) = spawn(t, opts, from, to);
        crashes += panics;
        if ok {
            from = to;
            continue;
        }
        // The child died: find the input, save it, go on after it. The
        // panics it caught before dying were lost with its output.
        let (bad, before) = find_fatal(t, opts, from, to);
        crashes += before;
        match bad {
            Some(bad) => {
                crashes += 1;
                save(t, opts, bad, "abort");
                from = bad + 1;
            }
            None => {
                eprintln!(
                    "{}: a child died on [{from}, {to}) but not when rerun; counted as a crash",
                    t.name
                );
                crashes += 1;
                from = to;
            }
        }
    }
    crashes
}

/// Run `[from, to)` in a child: (exited normally, panics it caught).
fn spawn(t: &Target, opts: &Opts, from: u64, to: u64) -> (bool, u64) {
    let out = child_output(t, opts, from, to, false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let panics = stdout
        .lines()
        .find_map(|l| l.strip_prefix("panics "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    (out.status.success(), panics)
}

fn child_output(t: &Target, opts: &Opts, from: u64, to: u64, trace: bool) -> std::process::Output {
    Command::new(std::env::current_exe().expect("own path"))
        .args([if trace { "--child-trace" } else { "--child" }, t.name])
        .args([from.to_string(), to.to_string(), opts.seed.to_string()])
        .arg(&opts.crashes)
        .output()
        .expect("spawn the driver")
}

/// Rerun `[from, to)` printing each index before running it: the last
/// index printed by a child that dies is the fatal input. Returns it (if
/// the rerun dies too) and the panics caught before it.
fn find_fatal(t: &Target, opts: &Opts, from: u64, to: u64) -> (Option<u64>, u64) {
    let out = child_output(t, opts, from, to, true);
    let err = String::from_utf8_lossy(&out.stderr);
    let panics = err
        .lines()
        .filter(|l| l.contains(": panic on input"))
        .count() as u64;
    if out.status.success() {
        return (None, panics);
    }
    let last = err
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("at "))
        .find_map(|n| n.trim().parse().ok());
    (last, panics)
}

fn save(t: &Target, opts: &Opts, i: u64, kind: &str) {
    let seeds = mutate::load_seeds(&opts.root, t);
    let data = mutate::input(&seeds, mutate::dictionary(t.name), opts.seed, i, t.max_len);
    write_crash(&opts.crashes, t.name, opts.seed, i, kind, &data);
}

fn write_crash(dir: &Path, name: &str, seed: u64, i: u64, kind: &str, data: &[u8]) {
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(format!("{name}-seed{seed}-{i}-{kind}"));
    if std::fs::write(&path, data).is_ok() {
        eprintln!("{name}: {kind} on input {i}, saved as {}", path.display());
    }
}

/// `--child[-trace] NAME FROM TO SEED CRASHDIR`: run the inputs, catch
/// panics; with `-trace`, print `at I` to stderr before input `I`.
fn child(args: &[String], trace: bool) -> ExitCode {
    let [name, from, to, seed, dir] = args else {
        return ExitCode::from(2);
    };
    let (Some(t), Ok(from), Ok(to), Ok(seed)) = (
        target(name),
        from.parse::<u64>(),
        to.parse::<u64>(),
        seed.parse::<u64>(),
    ) else {
        return ExitCode::from(2);
    };
    // Panics are counted and saved, not printed one by one.
    std::panic::set_hook(Box::new(|_| {}));
    limit_memory(CHILD_MEMORY);
    let seeds = mutate::load_seeds(&repo_root(), t);
    let dict = mutate::dictionary(t.name);
    let mut panics = 0u64;
    for i in from..to {
        let data = mutate::input(&seeds, dict, seed, i, t.max_len);
        if trace {
            eprintln!("at {i}");
        }
        if std::panic::catch_unwind(|| (t.run)(&data)).is_err() {
            panics += 1;
            write_crash(Path::new(dir), t.name, seed, i, "panic", &data);
        }
    }
    println!("panics {panics}");
    ExitCode::SUCCESS
}

/// Cap this process's address space: an allocation past it fails and the
/// child aborts (caught by the parent) instead of exhausting the machine.
fn limit_memory(bytes: u64) {
    #[cfg(unix)]
    {
        let lim = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: bytes as libc::rlim_t,
        };
        // SAFETY: setrlimit reads the struct we pass; no other effect.
        unsafe {
            libc::setrlimit(libc::RLIMIT_AS, &lim);
        }
    }
}
