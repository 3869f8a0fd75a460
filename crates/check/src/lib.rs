//! Explicit-state model checking: prove a transition system deadlock-free or
//! find its shortest deadlock, and look for livelocks.
//!
//! A [`Model`] says what states and actions exist; a strategy in [`checker`]
//! explores them ([`checker::bfs`] for shortest deadlocks, [`checker::dfs`] for
//! non-progress cycles, [`checker::simulation`] for random walks). Visited
//! states are 64-bit fingerprints in a compact table ([`table`]), about
//! 14–16 bytes per state with the parent log that rebuilds traces.
//!
//! Two tasks that take two locks in opposite orders deadlock after two steps:
//!
//! ```
//! use reclaimscope_check::checker::{Options, bfs};
//! use reclaimscope_check::{Model, Terminal, Verdict};
//!
//! /// Task 0 locks A then B, task 1 locks B then A; each then unlocks both.
//! struct Embrace;
//!
//! #[derive(Clone, Hash)]
//! struct State {
//!     pc: [u8; 2],               // 0: first lock, 1: second lock, 2: unlock, 3: done
//!     owner: [Option<usize>; 2], // who holds lock A and lock B
//! }
//!
//! impl Embrace {
//!     fn wants(task: usize, pc: u8) -> usize {
//!         if (task == 0) == (pc == 0) { 0 } else { 1 }
//!     }
//! }
//!
//! impl Model for Embrace {
//!     type State = State;
//!     type Action = usize; // which task runs
//!     fn init_states(&self) -> Vec<State> {
//!         vec![State { pc: [0, 0], owner: [None, None] }]
//!     }
//!     fn actions(&self, s: &State, out: &mut Vec<usize>) {
//!         for t in 0..2 {
//!             let runnable = match s.pc[t] {
//!                 0 | 1 => s.owner[Self::wants(t, s.pc[t])].is_none(),
//!                 2 => true,
//!                 _ => false,
//!             };
//!             if runnable {
//!                 out.push(t);
//!             }
//!         }
//!     }
//!     fn next_state(&self, s: &State, t: usize) -> State {
//!         let mut n = s.clone();
//!         match s.pc[t] {
//!             0 | 1 => n.owner[Self::wants(t, s.pc[t])] = Some(t),
//!             _ => n.owner = [None, None],
//!         }
//!         n.pc[t] += 1;
//!         n
//!     }
//!     fn terminal(&self, s: &State) -> Terminal {
//!         if s.pc == [3, 3] { Terminal::Completed } else { Terminal::Deadlock }
//!     }
//! }
//!
//! let report = bfs::check(&Embrace, &Options::default());
//! assert_eq!(report.verdict, Verdict::Deadlock);
//! let trace = report.trace.unwrap();
//! assert_eq!(trace.steps.iter().map(|s| s.action).collect::<Vec<_>>(), [0, 1]);
//! ```
//!
//! [`sim_model`] adapts the storage-stack simulator (`reclaimscope_sim::Sim`)
//! to this trait: the checker calls the simulator's step function and never
//! re-implements its semantics.

pub mod checker;
pub mod fingerprint;
pub mod model;
pub mod report;
pub mod sim_model;
pub mod table;

pub use checker::{Bounds, Options, Progress, parse_size};
pub use model::{Model, Terminal};
pub use report::{BoundHit, Report, Stats, Step, Trace, Verdict};
