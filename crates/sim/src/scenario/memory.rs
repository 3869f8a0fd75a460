//! `[memory]`: pages, watermarks, kswapd, the OOM killer, anonymous memory
//! and swap.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMemory {
    pages: Option<u16>,
    pub free: Spanned<u16>,
    pub min: Spanned<u16>,
    low: Option<Spanned<u16>>,
    high: Option<Spanned<u16>>,
    batch: Option<u16>,
    #[serde(default)]
    kswapd: bool,
    #[serde(default)]
    oom_killer: bool,
    #[serde(default)]
    anon: u16,
    swap: Option<Spanned<String>>,
    #[serde(default)]
    swap_pages: u16,
}

/// Memory: pages, watermarks, kswapd, the OOM killer, anonymous memory and swap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    pub pages: u16,
    pub free: u16,
    pub min: u16,
    pub low: u16,
    pub high: u16,
    /// Pages one reclaim pass frees from one source (SWAP_CLUSTER_MAX, scaled down).
    pub batch: u16,
    pub kswapd: bool,
    pub oom_killer: bool,
    pub anon: u16,
    pub swap_dev: Option<usize>,
    pub swap_pages: u16,
}

impl RawMemory {
    /// Unset watermarks are spaced `min/4` apart, the floor of the gap
    /// `__setup_per_zone_wmarks` (mm/page_alloc.c) puts between them.
    pub fn build(&self, names: &Names) -> Result<Memory, ScenarioError> {
        let m = self;
        let swap_dev = match &m.swap {
            None => None,
            Some(s) => Some(names.get(s, &["device"])?.1),
        };
        let min = *m.min.get_ref();
        let low = m
            .low
            .as_ref()
            .map_or(min.saturating_add(min / 4), |l| *l.get_ref());
        let high = m
            .high
            .as_ref()
            .map_or(low.saturating_add(min / 4), |h| *h.get_ref());
        Ok(Memory {
            pages: m.pages.unwrap_or(0),
            free: *m.free.get_ref(),
            min,
            low,
            high,
            batch: m.batch.unwrap_or(2).max(1),
            kswapd: m.kswapd,
            oom_killer: m.oom_killer,
            anon: m.anon,
            swap_dev,
            swap_pages: m.swap_pages,
        })
    }

    /// Where a watermark-order error points: the first key out of order.
    pub fn watermark_span(&self, built: &Memory) -> Range<usize> {
        let (min, low) = (built.min, built.low);
        match (&self.low, &self.high) {
            (Some(l), _) if min > low => l.span(),
            (_, Some(h)) => h.span(),
            (Some(l), None) => l.span(),
            (None, None) => self.min.span(),
        }
    }
}
