//! Dining philosophers, forever hungry: think, take first fork, take second
//! fork, eat and put both down, and again. Symmetric (everyone left first)
//! deadlocks; asymmetric (the last one right first) is safe with a cyclic,
//! fully explorable state space.

use reclaimscope_check::{Model, Terminal};

pub struct Philosophers {
    pub n: usize,
    pub asymmetric: bool,
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
pub struct Table {
    pc: [u8; 16],
    fork: [u8; 16], // 0 free, p+1 held by p
}

impl Philosophers {
    fn fork(&self, p: usize, pc: u8) -> usize {
        let (left, right) = (p, (p + 1) % self.n);
        let right_first = self.asymmetric && p == self.n - 1;
        if (pc == 1) != right_first {
            left
        } else {
            right
        }
    }
}

impl Model for Philosophers {
    type State = Table;
    type Action = u8;
    fn init_states(&self) -> Vec<Table> {
        vec![Table {
            pc: [0; 16],
            fork: [0; 16],
        }]
    }
    fn actions(&self, s: &Table, out: &mut Vec<u8>) {
        for p in 0..self.n {
            let ok = match s.pc[p] {
                1 | 2 => s.fork[self.fork(p, s.pc[p])] == 0,
                _ => true,
            };
            if ok {
                out.push(p as u8);
            }
        }
    }
    fn next_state(&self, s: &Table, a: u8) -> Table {
        let p = a as usize;
        let mut t = s.clone();
        match s.pc[p] {
            0 => t.pc[p] = 1,
            1 | 2 => {
                t.fork[self.fork(p, s.pc[p])] = a + 1;
                t.pc[p] += 1;
            }
            _ => {
                t.fork[p] = 0;
                t.fork[(p + 1) % self.n] = 0;
                t.pc[p] = 0;
            }
        }
        t
    }
    fn terminal(&self, _: &Table) -> Terminal {
        Terminal::Deadlock
    }
    fn is_local(&self, s: &Table, a: u8) -> bool {
        s.pc[a as usize] == 0
    }
}

impl crate::Deadlocked for Philosophers {
    /// Everyone holds one fork and waits for the next: nobody can move.
    fn deadlocked(&self, s: &Table) -> bool {
        (0..self.n).all(|p| s.pc[p] == 2 && s.fork[self.fork(p, 2)] != 0)
    }
}
