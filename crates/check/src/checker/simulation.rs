//! Seeded random walks: a cheap look for deadlocks in spaces too big to
//! exhaust. Finding none proves nothing, so the verdict is then
//! `inconclusive`; a deadlock found is real but not necessarily shortest.

use super::{Limits, Options, replay_actions};
use crate::model::{Model, Terminal};
use crate::report::{BoundHit, Report, Stats, Verdict};

/// How many walks, how deep, from which seed.
#[derive(Clone, Copy, Debug)]
pub struct Walks {
    /// Number of walks.
    pub walks: u64,
    /// Steps per walk at most.
    pub max_depth: u32,
    /// Seed of the walk scheduler (same seed, same walks).
    pub seed: u64,
}

/// splitmix64: a tiny, well-mixed, deterministic generator.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Random walks looking for a deadlock.
pub fn check<M: Model>(model: &M, walks: &Walks, opts: &Options<'_>) -> Report<M> {
    let limits = Limits::new(opts.bounds);
    let inits = model.init_states();
    let mut rng = walks.seed;
    let mut stats = Stats::default();
    let mut buf = Vec::new();
    let mut taken = Vec::new();
    let mut verdict = Verdict::Inconclusive(BoundHit::Samples);
    'walks: for _ in 0..walks.walks {
        if inits.is_empty() {
            break;
        }
        if let Some(hit) = limits.check_time() {
            verdict = Verdict::Inconclusive(hit);
            break;
        }
        let init = (next_random(&mut rng) % inits.len() as u64) as usize;
        let mut state = inits[init].clone();
        taken.clear();
        for _ in 0..walks.max_depth {
            buf.clear();
            model.actions(&state, &mut buf);
            if buf.is_empty() {
                if model.terminal(&state) == Terminal::Deadlock {
                    let trace = replay_actions(model, init, &taken, None);
                    stats.depth = taken.len() as u32;
                    return Report {
                        verdict: Verdict::Deadlock,
                        stats,
                        elapsed: limits.elapsed(),
                        trace: Some(trace),
                    };
                }
                continue 'walks;
            }
            let action = buf[(next_random(&mut rng) % buf.len() as u64) as usize];
            taken.push(action);
            state = model.next_state(&state, action);
            stats.transitions += 1;
            stats.depth = stats.depth.max(taken.len() as u32);
        }
    }
    Report {
        verdict,
        stats,
        elapsed: limits.elapsed(),
        trace: None,
    }
}
