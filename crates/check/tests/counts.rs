//! Exact state and transition counts on a model whose paths meet again
//! everywhere, so the expansion tasks' local deduplication and the in-order
//! merge both see many duplicates.

use reclaimscope_check::checker::{Options, bfs};
use reclaimscope_check::{Model, Terminal, Verdict};

/// `k` counters, each counting up to `n`: every interleaving of increments
/// reaches the same states.
struct Counters {
    k: usize,
    n: u8,
}

impl Model for Counters {
    type State = Vec<u8>;
    type Action = usize;
    fn init_states(&self) -> Vec<Vec<u8>> {
        vec![vec![0; self.k]]
    }
    fn actions(&self, s: &Vec<u8>, out: &mut Vec<usize>) {
        out.extend((0..self.k).filter(|&i| s[i] < self.n));
    }
    fn next_state(&self, s: &Vec<u8>, i: usize) -> Vec<u8> {
        let mut t = s.clone();
        t[i] += 1;
        t
    }
    fn terminal(&self, _: &Vec<u8>) -> Terminal {
        Terminal::Completed
    }
}

#[test]
fn every_state_and_transition_is_counted_once() {
    // (n+1)^k states; each state has one transition per counter below n:
    // k * n * (n+1)^(k-1) transitions.
    let m = Counters { k: 4, n: 9 };
    for threads in [1, 2] {
        let opts = Options {
            threads,
            por: false,
            symmetry: false,
            ..Options::default()
        };
        let r = bfs::check(&m, &opts);
        assert_eq!(r.verdict, Verdict::Safe);
        assert_eq!(r.stats.states, 10_000);
        assert_eq!(r.stats.transitions, 4 * 9 * 1000);
        assert_eq!(r.stats.depth, 4 * 9 + 1);
    }
}
