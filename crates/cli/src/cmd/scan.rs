//! `reclaimscope scan`: run the kernel C rules over files and trees.

use crate::diag::InputError;
use indicatif::{ProgressBar, ProgressStyle};
use reclaimscope_model::history::KernelVersion;
use reclaimscope_scan::diff::AddedLines;
use reclaimscope_scan::{Rule, ScanOptions, output, scan_paths};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files or directories to scan (only .c and .h files are read).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Run only this rule (repeatable); `all` adds the inventory rule nofs-outside-scope.
    #[arg(long = "rule", value_name = "R")]
    pub rules: Vec<String>,
    /// Skip files whose path matches this glob (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
    /// Report only findings the unified diff PATCH adds: the patch adds at
    /// least one of the finding's evidence lines. `-` reads standard input
    /// (`git diff | reclaimscope scan --diff - .`).
    #[arg(long, value_name = "PATCH")]
    pub diff: Option<PathBuf>,
    /// Print counts per rule and per top-level directory instead of findings.
    #[arg(long)]
    pub summary: bool,
    /// Judge every function alone: no whole-tree index, no call chains.
    #[arg(long)]
    pub no_interprocedural: bool,
    /// Target kernel (e.g. 5.10); default: read from the tree's Makefile.
    #[arg(long, value_name = "X.Y")]
    pub kernel_version: Option<String>,
}

/// A file named on the command line must be C text: inside a tree such
/// files are skipped and counted, but one the user asked for by name is bad
/// input and gets an error naming it (line and column for bad UTF-8).
fn check_named_file(p: &std::path::Path) -> Result<(), InputError> {
    if !p.is_file() {
        return Ok(());
    }
    let bytes = std::fs::read(p)
        .map_err(|e| InputError(format!("{}: error: cannot read: {e}", p.display())))?;
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return Err(InputError(format!(
            "{}: error: binary file (NUL bytes), not C source",
            p.display()
        )));
    }
    utf8_text(&p.display().to_string(), bytes).map(drop)
}

/// `bytes` as text, or an error at the line and column of the first byte
/// that is not UTF-8.
fn utf8_text(name: &str, bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(bytes);
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(&bytes[line_start..at])
            .chars()
            .count()
            + 1;
        let shown = text.lines().nth(line - 1).unwrap_or("");
        InputError(format!(
            "{name}:{line}:{col}: error: not valid UTF-8\n  |\n  | {shown}\n  | {}^",
            " ".repeat(col - 1)
        ))
    })
}

pub fn run(args: Args) -> Result<u8, InputError> {
    for p in &args.paths {
        check_named_file(p)?;
    }
    let rules = parse_rules(&args.rules)?;
    let kernel_version = match &args.kernel_version {
        Some(v) => Some(
            KernelVersion::parse(v)
                .map_err(|e| InputError(format!("--kernel-version {v}: error: {e}")))?,
        ),
        None => None,
    };
    let added = match &args.diff {
        Some(p) => {
            let (name, bytes) = if p.as_os_str() == "-" {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                    .map_err(|e| InputError(format!("<stdin>: error: cannot read patch: {e}")))?;
                ("<stdin>".to_string(), bytes)
            } else {
                let bytes = std::fs::read(p).map_err(|e| {
                    InputError(format!("{}: error: cannot read patch: {e}", p.display()))
                })?;
                (p.display().to_string(), bytes)
            };
            let text = utf8_text(&name, bytes)?;
            Some(
                AddedLines::parse(&text).map_err(|e| {
                    InputError(format!("{name}:{}:1: error: {}", e.line, e.message))
                })?,
            )
        }
        None => None,
    };
    let opts = ScanOptions {
        rules,
        kernel_version,
        excludes: args.excludes.clone(),
        interprocedural: !args.no_interprocedural,
        ..ScanOptions::default()
    };
    let bar = progress_bar();
    let tick = |n: usize| {
        if let Some(b) = &bar {
            b.set_position(n as u64);
        }
    };
    let report = scan_paths(&args.paths, &opts, &tick).map_err(|e| InputError(e.to_string()));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let mut report = report?;
    report_skipped(&report.skipped);
    if let Some(a) = &added {
        report.findings.retain(|f| a.contains(f));
    }
    let out = if args.summary {
        output::summary(&report, &args.paths)
    } else {
        match args.format {
            Format::Text => output::text(&report.findings),
            Format::Json => output::json(&report) + "\n",
            Format::Sarif => output::sarif(&report.findings, env!("CARGO_PKG_VERSION")) + "\n",
        }
    };
    print!("{out}");
    Ok(if report.findings.is_empty() { 0 } else { 1 })
}

/// One stderr line per skipped file, so nothing is dropped silently; a
/// tree with many (a kernel's non-UTF-8 files) gets the first few and a
/// count, the rest is in `--summary` and the JSON `skipped` list.
fn report_skipped(skipped: &[reclaimscope_scan::scan::Skipped]) {
    const SHOWN: usize = 20;
    for s in skipped.iter().take(SHOWN) {
        eprintln!("{}: note: skipped: {}", s.file, s.reason.describe());
    }
    if skipped.len() > SHOWN {
        eprintln!(
            "note: {} more files skipped (see --summary or the JSON `skipped` list)",
            skipped.len() - SHOWN
        );
    }
}

fn parse_rules(names: &[String]) -> Result<Vec<Rule>, InputError> {
    if names.is_empty() {
        return Ok(Rule::defaults());
    }
    let mut rules = Vec::new();
    for n in names.iter().flat_map(|n| n.split(',')) {
        if n == "all" {
            rules.extend(Rule::ALL);
        } else {
            rules.push(
                n.parse::<Rule>()
                    .map_err(|e| InputError(format!("--rule: error: {e}")))?,
            );
        }
    }
    rules.sort();
    rules.dedup();
    Ok(rules)
}

/// A spinner with a file count, only when stderr is a terminal.
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = ProgressBar::new_spinner();
    b.set_style(
        ProgressStyle::with_template("{spinner} scanning: {pos} files walked, {elapsed}").ok()?,
    );
    b.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(b)
}
