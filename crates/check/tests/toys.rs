//! The generic checkers on small models whose answers are known by hand.

use reclaimscope_check::checker::simulation::{self, Walks};
use reclaimscope_check::checker::{bfs, dfs};
use reclaimscope_check::{BoundHit, Bounds, Model, Options, Report, Terminal, Verdict};
use std::time::Duration;

/// Dining philosophers: each thinks (a private step), takes the left fork,
/// the right fork, eats and puts both down, `meals` times.
struct Philosophers {
    n: usize,
    meals: u8,
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct Table {
    pc: Vec<u8>,           // 0 think, 1 take left, 2 take right, 3 put down
    eaten: Vec<u8>,        // meals done
    fork: Vec<Option<u8>>, // owner of fork i (left of philosopher i)
}

impl Philosophers {
    fn needs(&self, p: usize, pc: u8) -> Option<usize> {
        match pc {
            1 => Some(p),
            2 => Some((p + 1) % self.n),
            _ => None,
        }
    }
}

impl Model for Philosophers {
    type State = Table;
    type Action = u8;
    fn init_states(&self) -> Vec<Table> {
        vec![Table {
            pc: vec![0; self.n],
            eaten: vec![0; self.n],
            fork: vec![None; self.n],
        }]
    }
    fn actions(&self, s: &Table, out: &mut Vec<u8>) {
        for p in 0..self.n {
            if s.eaten[p] == self.meals {
                continue;
            }
            if self.needs(p, s.pc[p]).is_none_or(|f| s.fork[f].is_none()) {
                out.push(p as u8);
            }
        }
    }
    fn next_state(&self, s: &Table, a: u8) -> Table {
        let p = a as usize;
        let mut n = s.clone();
        match s.pc[p] {
            0 => n.pc[p] = 1,
            1 | 2 => {
                n.fork[self.needs(p, s.pc[p]).unwrap()] = Some(a);
                n.pc[p] += 1;
            }
            _ => {
                n.fork[p] = None;
                n.fork[(p + 1) % self.n] = None;
                n.pc[p] = 0;
                n.eaten[p] += 1;
            }
        }
        n
    }
    fn terminal(&self, s: &Table) -> Terminal {
        if s.eaten.iter().all(|&e| e == self.meals) {
            Terminal::Completed
        } else {
            Terminal::Deadlock
        }
    }
    /// Thinking touches only the philosopher's pc, nothing disables it, and it
    /// commutes with every fork operation.
    fn is_local(&self, s: &Table, a: u8) -> bool {
        s.pc[a as usize] == 0
    }
    fn describe(&self, s: &Table, a: u8) -> String {
        let what = [
            "thinks",
            "takes left fork",
            "takes right fork",
            "eats, puts forks down",
        ];
        format!("philosopher {a} {}", what[s.pc[a as usize] as usize])
    }
    fn heap_bytes(&self, _s: &Table) -> usize {
        self.n * 4
    }
}

fn opts(threads: usize, reduce: bool) -> Options<'static> {
    Options {
        threads,
        por: reduce,
        symmetry: reduce,
        ..Options::default()
    }
}

fn descriptions<M: Model>(r: &Report<M>) -> Vec<String> {
    r.trace
        .as_ref()
        .map(|t| t.steps.iter().map(|s| s.description.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn philosophers_deadlock_with_everyone_holding_a_left_fork() {
    for n in 2..=5 {
        let m = Philosophers { n, meals: 1 };
        let r = bfs::check(&m, &opts(1, false));
        assert_eq!(r.verdict, Verdict::Deadlock);
        let t = r.trace.as_ref().unwrap();
        // Shortest: every philosopher thinks and takes its left fork.
        assert_eq!(t.steps.len(), 2 * n);
        assert!(
            t.last
                .fork
                .iter()
                .enumerate()
                .all(|(i, f)| *f == Some(i as u8))
        );
        assert_eq!(m.terminal(&t.last), Terminal::Deadlock);
    }
}

#[test]
fn partial_order_reduction_keeps_verdict_and_shortest_length_with_fewer_states() {
    for n in 2..=5 {
        let m = Philosophers { n, meals: 2 };
        let full = bfs::check(&m, &opts(1, false));
        let reduced = bfs::check(&m, &opts(1, true));
        assert_eq!(full.verdict, reduced.verdict);
        let len = |r: &Report<Philosophers>| r.trace.as_ref().unwrap().steps.len();
        assert_eq!(len(&full), len(&reduced));
        assert!(reduced.stats.states < full.stats.states, "n={n}");
    }
}

#[test]
fn one_or_many_threads_give_identical_results() {
    // n = 7 with two meals has levels wider than one parallel block.
    let m = Philosophers { n: 7, meals: 2 };
    let one = bfs::check(&m, &opts(1, false));
    assert!(one.stats.states > 10_000, "{}", one.stats.states);
    for threads in [2, 4] {
        let many = bfs::check(&m, &opts(threads, false));
        assert_eq!(one.verdict, many.verdict);
        assert_eq!(one.stats, many.stats);
        assert_eq!(descriptions(&one), descriptions(&many));
    }
}

#[test]
fn bounds_give_inconclusive_not_a_crash() {
    let m = Philosophers { n: 6, meals: 3 };
    let bounded = |bounds| {
        bfs::check(
            &m,
            &Options {
                bounds,
                por: false,
                ..Options::default()
            },
        )
    };
    let r = bounded(Bounds {
        max_states: Some(50),
        ..Bounds::default()
    });
    assert_eq!(r.verdict, Verdict::Inconclusive(BoundHit::States));
    assert_eq!(r.stats.states, 50);
    let r = bounded(Bounds {
        max_memory: Some(64 << 10),
        ..Bounds::default()
    });
    assert_eq!(r.verdict, Verdict::Inconclusive(BoundHit::Memory));
    assert!(r.stats.peak_bytes <= 64 << 10, "{}", r.stats.peak_bytes);
    let r = bounded(Bounds {
        time_limit: Some(Duration::ZERO),
        ..Bounds::default()
    });
    assert_eq!(r.verdict, Verdict::Inconclusive(BoundHit::Time));
    let r = dfs::check(
        &m,
        &Options {
            bounds: Bounds {
                max_memory: Some(16 << 10),
                ..Bounds::default()
            },
            ..Options::default()
        },
    );
    assert!(matches!(
        r.verdict,
        Verdict::Inconclusive(_) | Verdict::Deadlock
    ));
}

#[test]
fn random_walks_find_the_deadlock_but_never_claim_safety() {
    let m = Philosophers { n: 3, meals: 1 };
    let walks = Walks {
        walks: 10_000,
        max_depth: 100,
        seed: 7,
    };
    let r = simulation::check(&m, &walks, &Options::default());
    assert_eq!(r.verdict, Verdict::Deadlock);
    assert_eq!(m.terminal(&r.trace.unwrap().last), Terminal::Deadlock);
    let safe = Pipeline {
        items: 3,
        capacity: 1,
    };
    let r = simulation::check(&safe, &walks, &Options::default());
    assert_eq!(r.verdict, Verdict::Inconclusive(BoundHit::Samples));
}

/// A producer puts `items` into a buffer of `capacity`; a consumer takes them.
struct Pipeline {
    items: u8,
    capacity: u8,
}

impl Model for Pipeline {
    type State = (u8, u8); // (produced, consumed)
    type Action = bool; // true: produce
    fn init_states(&self) -> Vec<(u8, u8)> {
        vec![(0, 0)]
    }
    fn actions(&self, &(p, c): &(u8, u8), out: &mut Vec<bool>) {
        if p < self.items && p - c < self.capacity {
            out.push(true);
        }
        if c < p {
            out.push(false);
        }
    }
    fn next_state(&self, &(p, c): &(u8, u8), produce: bool) -> (u8, u8) {
        if produce { (p + 1, c) } else { (p, c + 1) }
    }
    fn terminal(&self, &(_, c): &(u8, u8)) -> Terminal {
        if c == self.items {
            Terminal::Completed
        } else {
            Terminal::Deadlock
        }
    }
}

#[test]
fn pipeline_is_safe_and_every_state_is_counted() {
    for (items, capacity) in [(1, 1), (5, 2), (20, 3), (30, 30)] {
        let m = Pipeline { items, capacity };
        // Reachable: 0 <= c <= p <= items with p - c <= capacity.
        let (mut states, mut transitions) = (0, 0);
        for p in 0..=items {
            for c in 0..=p {
                if p - c <= capacity {
                    states += 1;
                    transitions += u64::from(p < items && p - c < capacity) + u64::from(c < p);
                }
            }
        }
        for threads in [1, 2] {
            let r = bfs::check(&m, &opts(threads, true));
            assert_eq!(r.verdict, Verdict::Safe);
            assert_eq!(r.stats.states, states);
            assert_eq!(r.stats.transitions, transitions);
            // Depth: the longest shortest path is 2 * items steps.
            assert_eq!(r.stats.depth, u32::from(items) * 2 + 1);
        }
        assert_eq!(dfs::check(&m, &opts(1, true)).verdict, Verdict::Safe);
    }
}

/// `n` identical idle workers each count to `k` with private steps.
struct Counters {
    n: usize,
    k: u8,
}

impl Model for Counters {
    type State = Vec<u8>;
    type Action = usize;
    fn init_states(&self) -> Vec<Vec<u8>> {
        vec![vec![0; self.n]]
    }
    fn actions(&self, s: &Vec<u8>, out: &mut Vec<usize>) {
        out.extend((0..self.n).filter(|&i| s[i] < self.k));
    }
    fn next_state(&self, s: &Vec<u8>, i: usize) -> Vec<u8> {
        let mut n = s.clone();
        n[i] += 1;
        n
    }
    fn terminal(&self, _: &Vec<u8>) -> Terminal {
        Terminal::Completed
    }
    fn is_local(&self, _: &Vec<u8>, _: usize) -> bool {
        true
    }
    fn representative(&self, s: &Vec<u8>) -> Option<Vec<u8>> {
        let mut sorted = s.clone();
        sorted.sort_unstable();
        Some(sorted)
    }
}

fn binomial(n: u64, k: u64) -> u64 {
    (1..=k).fold(1, |acc, i| acc * (n + 1 - i) / i)
}

#[test]
fn symmetry_and_por_shrink_identical_workers_exactly() {
    let (n, k) = (4usize, 3u8);
    let m = Counters { n, k };
    let run = |por, symmetry| {
        bfs::check(
            &m,
            &Options {
                por,
                symmetry,
                ..Options::default()
            },
        )
    };
    let full = run(false, false);
    assert_eq!(full.stats.states, u64::from(k + 1).pow(n as u32));
    // Multisets of n counters in 0..=k.
    let sym = run(false, true);
    assert_eq!(
        sym.stats.states,
        binomial(n as u64 + u64::from(k), n as u64)
    );
    // All steps local: one order only, a single path of n*k steps.
    let por = run(true, false);
    assert_eq!(por.stats.states, n as u64 * u64::from(k) + 1);
    for r in [&full, &sym, &por] {
        assert_eq!(r.verdict, Verdict::Safe);
    }
}

/// A holder takes a lock and waits for a flag; a worker must set the flag
/// but first needs the lock: it trylocks, fails, backs off and retries.
/// With `holder_waits` false the holder releases instead of waiting.
struct Retry {
    holder_waits: bool,
}

#[derive(Clone, Copy, Hash, Debug, PartialEq, Eq)]
struct RetryState {
    holder: u8, // 0 lock, 1 wait for flag (or release), 2 done
    worker: u8, // 0 start, 1 trylock, 2 back off, 3 set flag, 4 done
    locked: bool,
    flag: bool,
}

impl Model for Retry {
    type State = RetryState;
    type Action = u8; // 0 holder, 1 worker
    fn init_states(&self) -> Vec<RetryState> {
        vec![RetryState {
            holder: 0,
            worker: 0,
            locked: false,
            flag: false,
        }]
    }
    fn actions(&self, s: &RetryState, out: &mut Vec<u8>) {
        let holder = match s.holder {
            0 => !s.locked,
            1 => !self.holder_waits || s.flag,
            _ => false,
        };
        if holder {
            out.push(0);
        }
        if s.worker < 4 {
            out.push(1);
        }
    }
    fn next_state(&self, s: &RetryState, a: u8) -> RetryState {
        let mut n = *s;
        if a == 0 {
            n.locked = s.holder == 0;
            n.holder += 1;
        } else {
            n.worker = match s.worker {
                0 => 1,
                1 if s.locked => 2,
                1 => {
                    n.locked = true;
                    3
                }
                2 => 1,
                _ => {
                    n.flag = true;
                    n.locked = false;
                    4
                }
            };
        }
        n
    }
    fn terminal(&self, s: &RetryState) -> Terminal {
        if s.holder == 2 && s.worker == 4 {
            Terminal::Completed
        } else {
            Terminal::Deadlock
        }
    }
    /// A failed trylock and the back-off change nothing anyone waits for.
    fn is_progress(&self, s: &RetryState, a: u8) -> bool {
        !(a == 1 && (s.worker == 2 || (s.worker == 1 && s.locked)))
    }
    fn describe(&self, s: &RetryState, a: u8) -> String {
        format!(
            "{} at pc {}",
            ["holder", "worker"][a as usize],
            [s.holder, s.worker][a as usize]
        )
    }
}

#[test]
fn retry_loop_behind_a_waiting_holder_is_a_livelock_not_a_deadlock() {
    let m = Retry { holder_waits: true };
    // The worker can always retry, so no state is final: BFS sees no deadlock.
    assert_eq!(bfs::check(&m, &opts(1, true)).verdict, Verdict::Safe);
    let r = dfs::check(&m, &opts(1, true));
    assert_eq!(r.verdict, Verdict::Livelock);
    let t = r.trace.unwrap();
    let start = t.loop_start.unwrap();
    // The cycle is trylock-fails, back-off: both non-progress, returning to
    // the state it started from.
    assert_eq!(t.steps.len() - start, 2);
    let mut s = m.init_states().remove(0);
    let mut at_start = s;
    for (i, step) in t.steps.iter().enumerate() {
        if i == start {
            at_start = s;
        }
        if i >= start {
            assert!(!m.is_progress(&s, step.action));
        }
        s = m.next_state(&s, step.action);
    }
    assert_eq!(s, at_start);
    assert!(s.locked && s.holder == 1);
}

#[test]
fn retry_loop_with_a_releasing_holder_is_safe() {
    let m = Retry {
        holder_waits: false,
    };
    assert_eq!(bfs::check(&m, &opts(1, true)).verdict, Verdict::Safe);
    assert_eq!(dfs::check(&m, &opts(1, true)).verdict, Verdict::Safe);
}

/// A ring counter whose every step is progress: a cycle, but no livelock.
struct Ring;
impl Model for Ring {
    type State = u8;
    type Action = ();
    fn init_states(&self) -> Vec<u8> {
        vec![0]
    }
    fn actions(&self, _: &u8, out: &mut Vec<()>) {
        out.push(());
    }
    fn next_state(&self, s: &u8, _: ()) -> u8 {
        (s + 1) % 3
    }
    fn terminal(&self, _: &u8) -> Terminal {
        Terminal::Completed
    }
}

#[test]
fn a_cycle_of_progress_steps_is_not_a_livelock() {
    let r = dfs::check(&Ring, &opts(1, true));
    assert_eq!(r.verdict, Verdict::Safe);
    assert_eq!(r.stats.states, 3);
}
