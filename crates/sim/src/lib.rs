//! A storage stack under memory pressure as a value: scenario files, the
//! world, one deterministic step function, deadlock detection and `run`.
//!
//! The simulator never decides what an allocation may do or what reclaim
//! may touch: it asks `reclaimscope_model` (`current_gfp_context`, the
//! policy, the slow path, `Policy::touch`) and carries out the answers.

pub mod dot;
pub mod pack;
pub mod program;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod story;
pub mod subtree;
pub mod symmetry;
pub mod world;

pub use run::{Metrics, MetricsAcc, Outcome, Rng, RunReport, run, run_quiet, run_with};
pub use scenario::{Scenario, ScenarioError};
pub use sim::{Choice, ChoiceKind, EvKind, Event, Events, Sim, Status};
pub use story::{Resource, WaitEdge};
pub use world::World;
#[cfg(test)]
mod census;
