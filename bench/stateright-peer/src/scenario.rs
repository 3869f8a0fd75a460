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

/// Compile `path` under `policy` with `KEY=VALUE` overrides; the Sim is
/// leaked because stateright's checker threads need a `'static` model.
pub fn load(path: &str, policy: &str, sets: &[String]) -> Result<&'static Sim, String> {
    let mut sc = Scenario::load(std::path::Path::new(path)).map_err(|e| e.to_string())?;
    for kv in sets {
        let (k, v) = kv.split_once('=').ok_or(format!("bad override {kv}"))?;
        sc.set(k, v).map_err(|e| e.to_string())?;
    }
    let policy = Policy::parse(policy)?;
    let sim = Sim::new(&sc, &policy).map_err(|e| e.to_string())?;
    Ok(Box::leak(Box::new(sim)))
}
