//! Partial-order reduction in the livelock search keeps every livelock and
//! finds only real ones (the argument is in `checker/dfs.rs`).
//!
//! Two toys where a naive singleton reduction (explore one local action
//! alone, nothing else) hides the only livelock: one needs the cycle
//! proviso, one needs invisibility. Random products of small processes
//! compare the reduced search with the unreduced one (itself checked
//! against a naive cycle search in `graphs.rs`). Every shipped scenario
//! under every policy gets the same answer from the livelock search with
//! reduction on and off, and each reduced counterexample replays on the
//! unreduced simulator.

mod common;

use common::{load_shipped, replay_unreduced, shipped};
use proptest::prelude::*;
use reclaimscope_check::checker::{Options, dfs};
use reclaimscope_check::sim_model::SimModel;
use reclaimscope_check::{Model, Report, Terminal, Verdict};
use reclaimscope_model::Policy;
use reclaimscope_sim::{Scenario, Sim};

fn opts(por: bool, symmetry: bool) -> Options<'static> {
    Options {
        threads: 1,
        por,
        symmetry,
        ..Options::default()
    }
}

/// Two processes. `t` flips a private bit forever: local (it touches only
/// its bit, which nobody else reads) and invisible (it enables nothing but
/// itself, never progress). `u` makes one progress step (`go`) and then
/// spins forever without progress. Once `u` spins, every state is spinning:
/// a livelock. A naive reduction explores the flip alone from the start,
/// flips back to the initial state (already on the stack) and stops: `go`
/// is deferred forever along that cycle, and no spinning state is ever
/// reached. The cycle proviso expands the state whose flip closes the cycle.
struct Flipper;

/// (t's bit, u's pc: 0 before `go`, 1 spinning)
type Pair = (u8, u8);

impl Model for Flipper {
    type State = Pair;
    type Action = u8; // 0: t, 1: u
    fn init_states(&self) -> Vec<Pair> {
        vec![(0, 0)]
    }
    fn actions(&self, _: &Pair, out: &mut Vec<u8>) {
        out.extend([0, 1]);
    }
    fn next_state(&self, s: &Pair, a: u8) -> Pair {
        match a {
            0 => (s.0 ^ 1, s.1),
            _ => (s.0, 1),
        }
    }
    fn terminal(&self, _: &Pair) -> Terminal {
        Terminal::Completed
    }
    fn is_local(&self, _: &Pair, a: u8) -> bool {
        a == 0
    }
    fn is_invisible(&self, _: &Pair, a: u8) -> bool {
        a == 0
    }
    fn is_progress(&self, s: &Pair, a: u8) -> bool {
        a == 1 && s.1 == 0
    }
}

/// `t` prepares (local, not progress) and then works forever, each step
/// progress. `u` makes one progress step and then spins. Before `t`
/// prepares and after `u`'s step, both only spin: a livelock. Preparing is
/// local but visible: it enables `t`'s progress, so in every state after
/// it something can progress. A reduction that explores `prep` alone from
/// the start never sees a spinning state; invisibility forbids it.
struct Preparer;

impl Model for Preparer {
    type State = Pair; // (t's pc: 0 before prep, 1 working; u's pc)
    type Action = u8;
    fn init_states(&self) -> Vec<Pair> {
        vec![(0, 0)]
    }
    fn actions(&self, _: &Pair, out: &mut Vec<u8>) {
        out.extend([0, 1]);
    }
    fn next_state(&self, s: &Pair, a: u8) -> Pair {
        match a {
            0 => (1, s.1),
            _ => (s.0, 1),
        }
    }
    fn terminal(&self, _: &Pair) -> Terminal {
        Terminal::Completed
    }
    /// `t`'s steps touch only its pc; `u` never disables them.
    fn is_local(&self, _: &Pair, a: u8) -> bool {
        a == 0
    }
    /// `prep` enables `work`, which is progress: visible. `work` is
    /// progress wherever it is enabled, so no spinning state has it.
    fn is_invisible(&self, s: &Pair, a: u8) -> bool {
        a == 0 && s.0 == 1
    }
    fn is_progress(&self, s: &Pair, a: u8) -> bool {
        match a {
            0 => s.0 == 1,
            _ => s.1 == 0,
        }
    }
}

/// The livelock search on `m` with and without reduction: both report a
/// livelock, and the reduced one's cycle is real.
fn both_find_the_livelock<M: Model>(m: &M, what: &str)
where
    M::Action: PartialEq,
    M::State: PartialEq + std::fmt::Debug,
{
    let full = dfs::check(m, &opts(false, false));
    assert_eq!(full.verdict, Verdict::Livelock, "{what} unreduced");
    let reduced = dfs::check(m, &opts(true, false));
    assert_eq!(reduced.verdict, Verdict::Livelock, "{what} reduced");
    let trace = reduced.trace.as_ref().expect("a livelock has a trace");
    replay_unreduced(m, reduced.verdict, trace, what);
}

#[test]
fn the_cycle_proviso_keeps_a_livelock_a_deferred_step_leads_to() {
    both_find_the_livelock(&Flipper, "flipper");
}

#[test]
fn invisibility_keeps_a_livelock_a_local_step_would_leave() {
    both_find_the_livelock(&Preparer, "preparer");
}

/// An asynchronous product of small processes sharing one counter. Each
/// process has its own transitions between 4 local states; a transition
/// either touches only its process (`shared: None`) or needs the counter
/// at a value and sets it (`Some((need, set))`), and is progress or not.
#[derive(Clone, Debug)]
struct Product {
    /// procs[p][q] = transitions of process p from local state q.
    procs: Vec<Vec<Vec<Edge>>>,
}

#[derive(Clone, Copy, Debug)]
struct Edge {
    to: u8,
    shared: Option<(u8, u8)>,
    progress: bool,
}

/// (local state of each process, counter)
type Global = (Vec<u8>, u8);

impl Product {
    fn enabled(&self, s: &Global, p: usize) -> impl Iterator<Item = (usize, Edge)> + '_ {
        let counter = s.1;
        self.procs[p][s.0[p] as usize]
            .iter()
            .copied()
            .enumerate()
            .filter(move |(_, e)| e.shared.is_none_or(|(need, _)| need == counter))
    }
}

impl Model for Product {
    type State = Global;
    type Action = (u8, u8); // (process, transition index)
    fn init_states(&self) -> Vec<Global> {
        vec![(vec![0; self.procs.len()], 0)]
    }
    fn actions(&self, s: &Global, out: &mut Vec<(u8, u8)>) {
        for p in 0..self.procs.len() {
            out.extend(self.enabled(s, p).map(|(i, _)| (p as u8, i as u8)));
        }
    }
    fn next_state(&self, s: &Global, (p, i): (u8, u8)) -> Global {
        let e = self.procs[p as usize][s.0[p as usize] as usize][i as usize];
        let mut n = s.clone();
        n.0[p as usize] = e.to;
        if let Some((_, set)) = e.shared {
            n.1 = set;
        }
        n
    }
    fn terminal(&self, _: &Global) -> Terminal {
        Terminal::Completed
    }
    /// A private transition that is its process's only one from here:
    /// nothing else can disable it (others never touch this process, and
    /// the process cannot move otherwise) and it commutes with every other
    /// process's transition (it reads and writes nothing they do).
    fn is_local(&self, s: &Global, (p, i): (u8, u8)) -> bool {
        let here = &self.procs[p as usize][s.0[p as usize] as usize];
        here.len() == 1 && i == 0 && here[0].shared.is_none()
    }
    /// Others keep their transitions and progress; what changes is this
    /// process's own choice: invisible when it is progress itself (no
    /// spinning state has it) or when nothing from its target is progress.
    fn is_invisible(&self, s: &Global, (p, i): (u8, u8)) -> bool {
        let e = self.procs[p as usize][s.0[p as usize] as usize][i as usize];
        e.progress
            || self.procs[p as usize][e.to as usize]
                .iter()
                .all(|e| !e.progress)
    }
    fn is_progress(&self, s: &Global, (p, i): (u8, u8)) -> bool {
        self.procs[p as usize][s.0[p as usize] as usize][i as usize].progress
    }
}

fn product() -> impl Strategy<Value = Product> {
    let edge = (
        0u8..3,
        prop::option::weighted(0.25, (0u8..2, 0u8..2)),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(to, shared, progress)| Edge {
            to,
            shared,
            progress,
        });
    let state = prop_oneof![
        1 => prop::collection::vec(edge.clone(), 0..3),
        2 => edge.prop_map(|e| vec![Edge { shared: None, ..e }]),
    ];
    let process = prop::collection::vec(state, 4);
    prop::collection::vec(process, 2..4).prop_map(|procs| Product { procs })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The reduced search reports a livelock exactly when the unreduced one
    /// does, and its cycle is real.
    #[test]
    fn reduced_livelock_search_agrees_on_random_products(m in product()) {
        let full = dfs::check(&m, &opts(false, false));
        let reduced = dfs::check(&m, &opts(true, false));
        prop_assert_eq!(reduced.verdict, full.verdict);
        // (A search that finds something stops there, at a point that
        // depends on the order: compare sizes of whole searches only.)
        if full.verdict == Verdict::Safe {
            prop_assert!(reduced.stats.states <= full.stats.states);
        }
        if let Some(trace) = &reduced.trace {
            replay_unreduced(&m, reduced.verdict, trace, "product");
        }
    }
}

/// The livelock search alone (no deadlock search first), on the simulator.
fn live(sim: &Sim, por: bool, symmetry: bool) -> Report<SimModel<'_>> {
    let model = SimModel::new(sim).symmetric_actions(symmetry);
    dfs::check(&model, &opts(por, symmetry))
}

/// Every shipped scenario under every policy: the livelock search gives the
/// same verdict with partial-order reduction on and off (alone and with
/// symmetry), never stores more states for a whole (safe) search, and whatever it reports replays on
/// the simulator with no reduction. (No shipped scenario livelocks: the
/// simulator only offers reclaim that can free something, so a retry loop
/// ends in a deadlock or `Stuck` instead, and program counters only go
/// back through a `repeat` whose counter shrinks. Counting every step as
/// non-progress, the livelock search finds no cycle in any of these
/// spaces: they are acyclic, and the answers here are `deadlock`, found by
/// the DFS on its way, or `safe` after searching every spinning state. The
/// toys and random products above are where cycles and the proviso are
/// exercised.)
#[test]
fn livelock_search_answers_the_same_with_and_without_reduction() {
    for f in shipped() {
        let sc = Scenario::load(&f).unwrap();
        for p in Policy::all() {
            let sim = Sim::new(&sc, &p).unwrap();
            let what = |r: &str| format!("{} {p} {r}", f.display());
            let unreduced = SimModel::new(&sim);
            let none = live(&sim, false, false);
            for (por, sym, name) in [(true, false, "por"), (true, true, "por+symmetry")] {
                let reduced = live(&sim, por, sym);
                assert_eq!(reduced.verdict, none.verdict, "{}", what(name));
                assert!(
                    none.verdict != Verdict::Safe || reduced.stats.states <= none.stats.states,
                    "{}",
                    what(name)
                );
                if let Some(trace) = &reduced.trace {
                    replay_unreduced(&unreduced, reduced.verdict, trace, &what(name));
                }
            }
        }
    }
}

/// The reduction fires on a storage stack's safe space, where the whole
/// livelock search runs: S5 (dm-bufio lock) under baseline, whose scope
/// bookkeeping, bio submissions and completions are local and enable no
/// progress.
#[test]
fn livelock_search_reduction_fires_on_a_safe_stack() {
    let sc = load_shipped("s5-bufio-lock.toml");
    let sim = Sim::new(&sc, &Policy::BASELINE).unwrap();
    let none = live(&sim, false, false);
    let por = live(&sim, true, false);
    assert_eq!(none.verdict, Verdict::Safe);
    assert_eq!(por.verdict, Verdict::Safe);
    assert!(
        por.stats.states * 5 < none.stats.states * 4,
        "{} vs {}",
        por.stats.states,
        none.stats.states
    );
}
