//! `reclaimscope probe`: read the storage stack of this machine (or of a
//! captured tree) into a scenario; `--capture DIR` copies exactly the files
//! read. Also the probe half of `check --system`.

use crate::diag::InputError;
use reclaimscope_probe::{Root, Written, probe, write_scenario};
use reclaimscope_sim::Scenario;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Read /proc and /sys under DIR instead of `/` (a tree from `--capture`).
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Write the scenario to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Copy every file read (and only those) into DIR, for a bug report;
    /// `probe --root DIR` reads it back.
    #[arg(long, value_name = "DIR")]
    capture: Option<PathBuf>,
}

/// Probe `root` and write the scenario; the name is `system` for `/`,
/// else the captured tree's directory name.
fn probe_root(root: &Root) -> Written {
    let t = probe(root);
    let from = root.base().display().to_string();
    let name = if root.base() == Path::new("/") {
        "system".to_string()
    } else {
        root.base()
            .file_name()
            .map_or("captured".into(), |n| n.to_string_lossy().into_owned())
    };
    write_scenario(&t, &name, &from)
}

fn print_notes(w: &Written) {
    for n in &w.notes {
        eprintln!("probe: note: {n}");
    }
}

pub fn run(args: Args) -> Result<u8, InputError> {
    if !args.root.is_dir() {
        return Err(InputError(format!(
            "{}: error: --root is not a directory",
            args.root.display()
        )));
    }
    if let Some(dir) = &args.capture
        && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
    {
        return Err(InputError(format!(
            "{}: error: --capture directory is not empty",
            dir.display()
        )));
    }
    let root = Root::new(&args.root);
    let w = probe_root(&root);
    print_notes(&w);
    match &args.output {
        Some(path) => std::fs::write(path, &w.toml)
            .map_err(|e| InputError(format!("{}: error: cannot write: {e}", path.display())))?,
        None => print!("{}", w.toml),
    }
    if let Some(dir) = &args.capture {
        let n = root
            .capture(dir)
            .map_err(|e| InputError(format!("{}: error: capture: {e}", dir.display())))?;
        eprintln!("probe: captured {n} paths into {}", dir.display());
    }
    Ok(0)
}

/// `check --system`: probe `/` into a scenario with no release applied, and the running
/// kernel's release if /proc said it.
pub fn system_base() -> Result<(Scenario, Option<String>), InputError> {
    let root = Root::new("/");
    let w = probe_root(&root);
    print_notes(&w);
    let origin = "<probed system>";
    let sc = Scenario::from_toml_str(&w.toml, origin)
        .map_err(|e| crate::load::scenario_error(&w.toml, &e))?;
    Ok((sc, w.kernel.clone()))
}

/// Apply release `k` (if known) then every `--set` to a probed scenario.
pub fn at_kernel(
    mut sc: Scenario,
    k: Option<String>,
    sets: &[String],
) -> Result<Scenario, InputError> {
    if let Some(k) = &k {
        sc.apply_overrides(Some(k), &[])
            .map_err(|e| crate::load::scenario_error(k, &e))?;
        eprintln!("probe: {} (kernel {k})", sc.description);
    } else {
        eprintln!(
            "probe: {} (kernel unknown: no --kernel applied)",
            sc.description
        );
    }
    for kv in sets {
        sc.apply_overrides(None, std::slice::from_ref(kv))
            .map_err(|e| crate::load::scenario_error(kv, &e))?;
    }
    Ok(sc)
}
