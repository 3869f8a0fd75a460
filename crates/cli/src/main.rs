//! `reclaimscope`: the thin binary. Parses arguments, calls the libraries,
//! renders their results. Exit codes: 0 safe / no findings, 1 deadlock /
//! findings, 2 bad input or usage, 3 inconclusive.

mod cmd;
mod diag;
mod load;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "reclaimscope",
    version,
    about = "Find and prevent memory-reclaim recursion deadlocks in Linux storage stacks."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// What a gfp mask means under a given scope.
    Explain(cmd::explain::Args),
    /// Simulate a storage-stack scenario with a seeded scheduler.
    Run(cmd::run::Args),
    /// Explore every interleaving of a scenario: prove it safe or print the shortest deadlock.
    Check(cmd::check::Args),
    /// Run scenarios under every policy and tabulate verdicts and reclaim reach.
    Compare(cmd::compare::Args),
    /// Print a scenario's storage stack as Graphviz DOT.
    Graph(cmd::graph::Args),
    /// Scan kernel C source for allocation-context bugs.
    Scan(cmd::scan::Args),
    /// Read this machine's storage stack from /proc and /sys into a scenario.
    Probe(cmd::probe::Args),
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Explain(a) => cmd::explain::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Check(a) => cmd::check::run(a),
        Command::Compare(a) => cmd::compare::run(a),
        Command::Graph(a) => cmd::graph::run(a),
        Command::Scan(a) => cmd::scan::run(a),
        Command::Probe(a) => cmd::probe::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// Rust ignores SIGPIPE, so `reclaimscope ... | head` would panic on a
/// closed pipe; restore the default so it exits quietly like other tools.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
