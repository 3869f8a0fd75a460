//! Property test: on random graphs, BFS finds a deadlock exactly when a naive
//! search does, at the same shortest distance, and DFS finds a non-progress
//! cycle exactly when one is reachable.

use proptest::prelude::*;
use reclaimscope_check::checker::{Options, bfs, dfs};
use reclaimscope_check::{Model, Terminal, Verdict};
use std::collections::VecDeque;

#[derive(Debug, Clone)]
struct Graph {
    /// edges[v] = (target, is_progress)
    edges: Vec<Vec<(u8, bool)>>,
    /// Final nodes (no edges) that count as completed rather than deadlocked.
    completed: Vec<bool>,
}

impl Model for Graph {
    type State = u8;
    type Action = (u8, bool);
    fn init_states(&self) -> Vec<u8> {
        vec![0]
    }
    fn actions(&self, s: &u8, out: &mut Vec<(u8, bool)>) {
        out.extend_from_slice(&self.edges[*s as usize]);
    }
    fn next_state(&self, _: &u8, a: (u8, bool)) -> u8 {
        a.0
    }
    fn terminal(&self, s: &u8) -> Terminal {
        if self.completed[*s as usize] {
            Terminal::Completed
        } else {
            Terminal::Deadlock
        }
    }
    fn is_progress(&self, _: &u8, a: (u8, bool)) -> bool {
        a.1
    }
}

fn graph() -> impl Strategy<Value = Graph> {
    (2usize..24).prop_flat_map(|n| {
        let edges =
            prop::collection::vec(prop::collection::vec((0..n as u8, any::<bool>()), 0..3), n);
        let completed = prop::collection::vec(any::<bool>(), n);
        (edges, completed).prop_map(|(edges, completed)| Graph { edges, completed })
    })
}

/// Distance to the nearest deadlocked node, by a plain BFS over node ids.
fn nearest_deadlock(g: &Graph) -> Option<usize> {
    let mut dist = vec![usize::MAX; g.edges.len()];
    let mut queue = VecDeque::from([0usize]);
    dist[0] = 0;
    while let Some(v) = queue.pop_front() {
        if g.edges[v].is_empty() && !g.completed[v] {
            return Some(dist[v]);
        }
        for &(w, _) in &g.edges[v] {
            if dist[w as usize] == usize::MAX {
                dist[w as usize] = dist[v] + 1;
                queue.push_back(w as usize);
            }
        }
    }
    None
}

/// Is some reachable node on a cycle of spinning nodes (edges, none of them
/// progress)? Reachable nodes, then repeated removal of nodes that do not spin
/// or have no surviving successor.
fn has_non_progress_cycle(g: &Graph) -> bool {
    let n = g.edges.len();
    let mut reach = vec![false; n];
    let mut stack = vec![0usize];
    reach[0] = true;
    while let Some(v) = stack.pop() {
        for &(w, _) in &g.edges[v] {
            if !reach[w as usize] {
                reach[w as usize] = true;
                stack.push(w as usize);
            }
        }
    }
    // Nodes reachable from a reachable node by non-progress edges.
    let mut alive: Vec<bool> = reach.clone();
    loop {
        let mut changed = false;
        for v in 0..n {
            let spinning = g.edges[v].iter().all(|&(_, p)| !p);
            if alive[v] && !(spinning && g.edges[v].iter().any(|&(w, _)| alive[w as usize])) {
                alive[v] = false;
                changed = true;
            }
        }
        if !changed {
            return alive.iter().any(|&a| a);
        }
    }
}

proptest! {
    #[test]
    fn bfs_matches_naive_shortest_deadlock(g in graph()) {
        for threads in [1, 2] {
            let r = bfs::check(&g, &Options { threads, ..Options::default() });
            match nearest_deadlock(&g) {
                Some(d) => {
                    prop_assert_eq!(r.verdict, Verdict::Deadlock);
                    prop_assert_eq!(r.trace.unwrap().steps.len(), d);
                }
                None => prop_assert_eq!(r.verdict, Verdict::Safe),
            }
        }
    }

    #[test]
    fn dfs_finds_non_progress_cycles_exactly(g in graph()) {
        // Make every final node completed so only livelocks remain to find.
        let g = Graph { completed: vec![true; g.edges.len()], ..g };
        let r = dfs::check(&g, &Options::default());
        prop_assert_eq!(r.verdict == Verdict::Livelock, has_non_progress_cycle(&g));
        if let Some(t) = r.trace {
            let start = t.loop_start.unwrap();
            let mut node = 0u8;
            let mut at_start = 0u8;
            for (i, s) in t.steps.iter().enumerate() {
                if i == start { at_start = node; }
                if i >= start { prop_assert!(!s.action.1); }
                node = s.action.0;
            }
            prop_assert_eq!(node, at_start);
        }
    }
}
