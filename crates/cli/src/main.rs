//! `reclaimscope`: the thin binary. Parses arguments, calls the libraries,
//! renders their results. Exit codes: 0 safe / no findings, 1 deadlock /
//! findings, 2 bad input or usage, 3 inconclusive.

mod cmd;
mod diag;
mod kernels;
mod load;
mod membudget;
mod report;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
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
    /// List the policies (fixes argued over on the mailing lists), one line each.
    Policies,
    /// List the scanner's rules, one line each.
    Rules,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::catalogue::CompletionsArgs),
    /// Print the man page, or write one per command with --dir.
    Man(cmd::catalogue::ManArgs),
}

/// The full command line definition, with the policy and rule lists under
/// `--help`; completions and man pages are generated from it.
fn command() -> clap::Command {
    Cli::command()
        .after_help(cmd::catalogue::after_help())
        // `scan --format` is declared in cmd/scan.rs without a doc comment;
        // give it one here until it carries its own.
        .mut_subcommand("scan", |s| {
            s.mut_arg("format", |a| match a.get_help() {
                Some(_) => a,
                None => {
                    a.help("Output format: text, json, or sarif (SARIF 2.1.0 for code scanning).")
                }
            })
        })
}

fn main() -> ExitCode {
    restore_sigpipe();
    let parsed = command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
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
        Command::Policies => {
            print!("{}", cmd::catalogue::policies());
            Ok(0)
        }
        Command::Rules => {
            print!("{}", cmd::catalogue::rules());
            Ok(0)
        }
        Command::Completions(a) => cmd::catalogue::completions(a, command()),
        Command::Man(a) => cmd::catalogue::man(a, command()),
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

#[cfg(test)]
mod tests {
    /// Every option and positional of every command says what it is for
    /// (`--help`, the man page and completions all show it).
    #[test]
    fn every_argument_has_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {}", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::command(), "reclaimscope", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:?}");
    }
}
