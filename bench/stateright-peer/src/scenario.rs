//! A shipped scenario under one policy, as both checkers see it: our
//! `SimModel` adapter (the simulator's step function, nothing else).

use reclaimscope_check::sim_model::SimModel;
use reclaimscope_model::Policy;
use reclaimscope_sim::{Scenario, Sim, Status, World};

impl crate::Deadlocked for SimModel<'static> {
    /// The simulator's own verdict on a world (what `check` calls at a final
    /// world): Deadlock or Stuck.
    fn deadlocked(&self, w: &World) -> bool {
        matches!(self.sim().status(w), Status::Deadlock | Status::Stuck)
    }
}

/// The scenario text with every `[[task]]` block repeated `copies` times
/// (copy i renamed `NAME-i`): the same stack, more concurrent work, a state
/// space big enough to time.
pub fn scale_tasks(src: &str, copies: usize) -> String {
    let mut out = String::new();
    let mut block: Option<String> = None;
    let flush = |block: &mut Option<String>, out: &mut String| {
        if let Some(b) = block.take() {
            out.push_str(&b);
            for i in 2..=copies {
                let mut renamed = String::new();
                for line in b.lines() {
                    let t = line.trim_start();
                    if let Some(rest) = t.strip_prefix("name") {
                        let value = rest.trim_start().trim_start_matches('=').trim();
                        let name = value.trim_matches('"');
                        renamed.push_str(&format!("name = \"{name}-{i}\"\n"));
                    } else {
                        renamed.push_str(line);
                        renamed.push('\n');
                    }
                }
                out.push_str(&renamed);
            }
        }
    };
    for line in src.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            flush(&mut block, &mut out);
            if t.starts_with("[[task]]") {
                block = Some(String::new());
            }
        }
        match &mut block {
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    flush(&mut block, &mut out);
    out
}

/// Compile `path` (tasks repeated `copies` times) under `policy` with
/// `KEY=VALUE` overrides; the Sim is leaked because stateright's checker
/// threads need a `'static` model.
pub fn load(
    path: &str,
    copies: usize,
    policy: &str,
    sets: &[String],
) -> Result<&'static Sim, String> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let src = scale_tasks(&src, copies.max(1));
    let mut sc = Scenario::from_toml_str(&src, path).map_err(|e| e.to_string())?;
    for kv in sets {
        let (k, v) = kv.split_once('=').ok_or(format!("bad override {kv}"))?;
        sc.set(k, v).map_err(|e| e.to_string())?;
    }
    let policy = Policy::parse(policy)?;
    let sim = Sim::new(&sc, &policy).map_err(|e| e.to_string())?;
    Ok(Box::leak(Box::new(sim)))
}
