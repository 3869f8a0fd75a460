//! `reclaimscope policies`, `rules`, `completions SHELL` and `man`: what the
//! tool knows and how to install it, generated from the same definitions
//! the commands use (the policy table, the scanner's rule list, clap).

use crate::diag::InputError;
use reclaimscope_model::policy::POLICIES;
use reclaimscope_scan::Rule;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write reclaimscope.1 and one reclaimscope-COMMAND.1 per command into
    /// this directory instead of printing reclaimscope.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Every policy, one line each: name and what it changes.
pub fn policies() -> String {
    let w = POLICIES.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for p in POLICIES {
        let _ = writeln!(out, "  {:<w$}  {}", p.name, p.rule);
    }
    out
}

/// Every scanner rule, one line each: id and why the pattern is a problem.
pub fn rules() -> String {
    let w = Rule::ALL.iter().map(|r| r.id().len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in Rule::ALL {
        let _ = writeln!(out, "  {:<w$}  {}", r.id(), r.summary());
    }
    out
}

/// The text under `--help`: both lists, so `--help` alone says what
/// `--policy` and `--rule` accept.
pub fn after_help() -> String {
    format!(
        "Policies (--policy NAME, combine with +, e.g. baseline+io-flusher):\n{}\nScanner rules (scan --rule ID):\n{}",
        policies(),
        rules()
    )
}

pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> Result<u8, InputError> {
    clap_complete::generate(args.shell, &mut cmd, "reclaimscope", &mut std::io::stdout());
    Ok(0)
}

pub fn man(args: ManArgs, cmd: clap::Command) -> Result<u8, InputError> {
    let render = |c: clap::Command| -> Result<Vec<u8>, InputError> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c)
            .render(&mut buf)
            .map_err(|e| InputError(format!("error: man page: {e}")))?;
        Ok(buf)
    };
    match args.dir {
        None => {
            use std::io::Write as _;
            let page = render(cmd)?;
            let _ = std::io::stdout().write_all(&page);
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| {
                InputError(format!(
                    "{}: error: cannot create directory: {e}",
                    dir.display()
                ))
            })?;
            let mut pages = vec![("reclaimscope.1".to_string(), cmd.clone())];
            for sub in cmd.get_subcommands() {
                let name = format!("reclaimscope-{}", sub.get_name());
                pages.push((format!("{name}.1"), sub.clone().name(name)));
            }
            for (file, c) in pages {
                let path = dir.join(&file);
                std::fs::write(&path, render(c)?).map_err(|e| {
                    InputError(format!("{}: error: cannot write: {e}", path.display()))
                })?;
                println!("{}", path.display());
            }
        }
    }
    Ok(0)
}
