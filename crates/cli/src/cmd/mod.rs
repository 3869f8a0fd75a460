//! One module per subcommand; each owns its `Args` and its `run`.
pub mod catalogue;
pub mod check;
pub mod compare;
pub mod explain;
pub mod graph;
pub mod probe;
pub mod run;
pub mod scan;
