//! kswapd: woken when an allocation drops below the low watermark,
//! reclaims until the high watermark, then sleeps.

use super::*;

impl Sim {
    /// Nothing (more) to reclaim or above the high watermark: back to sleep.
    pub(super) fn kswapd_sleep(&self, n: &mut World) {
        n.kswapd_awake = false;
    }

    pub(crate) fn is_kswapd(&self, t: usize) -> bool {
        self.tasks[t].kind == Kind::Kswapd
    }
}
