//! Loading a scenario with its command-line overrides, shared by `run`,
//! `check`, `compare` and `graph`, so every front-end reports a bad file,
//! `--kernel` or `--set` the same way (file:line:col and a caret, exit 2).

use crate::diag::{InputError, render};
use reclaimscope_check::sim_model::Provenance;
use reclaimscope_sim::{Scenario, ScenarioError};
use std::path::Path;

/// Render a scenario error against the text it points into.
pub fn scenario_error(src: &str, e: &ScenarioError) -> InputError {
    match &e.span {
        Some(span) => InputError(render(&e.origin, src, span.clone(), &e.message)),
        None => InputError(format!(
            "{}:{}:{}: error: {}",
            e.origin, e.line, e.col, e.message
        )),
    }
}

/// Read and validate `path`, then apply `--kernel` and each `--set`.
pub fn scenario(
    path: &Path,
    kernel: Option<&str>,
    sets: &[String],
) -> Result<Scenario, InputError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| InputError(format!("{origin}: error: cannot read scenario: {e}")))?;
    let src = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        InputError(render(
            &origin,
            &text,
            at..at + 1,
            "scenario is not valid UTF-8",
        ))
    })?;
    let mut sc = Scenario::from_toml_str(&src, &origin).map_err(|e| scenario_error(&src, &e))?;
    if let Some(k) = kernel {
        sc.apply_overrides(Some(k), &[])
            .map_err(|e| scenario_error(k, &e))?;
    }
    for kv in sets {
        sc.apply_overrides(None, std::slice::from_ref(kv))
            .map_err(|e| scenario_error(kv, &e))?;
    }
    // What --kernel changed in the scenario's meaning is said, not hidden.
    for n in &sc.notes {
        eprintln!("{origin}: note: {n}");
    }
    Ok(sc)
}

/// What besides the scenario file decided a result: `--kernel`, every
/// `--set`, and this tool's version, for the JSON and HTML reports.
pub fn provenance(kernel: Option<&str>, sets: &[String]) -> Provenance {
    Provenance {
        kernel: kernel.map(str::to_string),
        set: sets.to_vec(),
        tool_version: concat!("reclaimscope ", env!("CARGO_PKG_VERSION")).to_string(),
    }
}
