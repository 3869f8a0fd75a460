//! `reclaimscope graph`: the scenario's storage stack as Graphviz DOT.

use crate::diag::InputError;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Override a scenario parameter (as for `run`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Set every history-dependent parameter as kernel X.Y had it.
    #[arg(long)]
    pub kernel: Option<String>,
}

pub fn run(args: Args) -> Result<u8, InputError> {
    let sc = crate::load::scenario(&args.scenario, args.kernel.as_deref(), &args.sets)?;
    print!("{}", reclaimscope_sim::dot::stack_dot(&sc));
    Ok(0)
}
