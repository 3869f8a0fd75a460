//! Component behaviours that changed over kernel history, so a user can ask
//! "could this stack deadlock on the kernel I run?" (`--kernel X.Y`).
//! Release numbers marked unverified in kernel-semantics.md are best
//! estimates of the merge window.

use crate::reclaim::BufioGate;
use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
pub struct KernelVersion {
    pub major: u16,
    pub minor: u16,
}

impl KernelVersion {
    pub const fn new(major: u16, minor: u16) -> KernelVersion {
        KernelVersion { major, minor }
    }

    /// `5.3`, `6.1.192`, `v5.17`, `6.1-rc3`: the patch level is ignored.
    pub fn parse(s: &str) -> Result<KernelVersion, String> {
        let t = s.trim().trim_start_matches('v');
        let t = t.split(['-', '+']).next().unwrap_or("");
        let mut it = t.split('.');
        let num = |p: Option<&str>| p.and_then(|x| x.parse::<u16>().ok());
        match (num(it.next()), num(it.next())) {
            (Some(major), Some(minor)) if (2..=9).contains(&major) => {
                Ok(KernelVersion { major, minor })
            }
            _ => Err(format!("`{s}` is not a kernel version like 5.3 or 6.1.192")),
        }
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// How `__vmalloc` allocates page tables.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VmallocMode {
    /// Before v5.17: page tables always GFP_KERNEL, whatever the caller passed.
    Legacy,
    /// v5.17 (451769ebb7e7): page tables inside memalloc_nofs/noio_save.
    Modern,
}

/// How dm-bufio allocates a buffer while holding `dm_bufio_lock`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BufioAlloc {
    /// v3.2: `GFP_NOIO | __GFP_NORETRY | ...` under the lock.
    NoioUnderLock,
    /// v4.10 (9ea61cac0b1a): GFP_NOWAIT under the lock, then drop it for GFP_NOIO.
    NowaitThenNoio,
}

/// What one release did, for each history-dependent component.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct KernelParams {
    pub version: KernelVersion,
    pub bufio_gate: BufioGate,
    /// The loop worker runs under PF_MEMALLOC_NOIO (d0a255e795ab, v5.3).
    pub loop_noio: bool,
    pub vmalloc: VmallocMode,
    /// `kvmalloc` falls back to vmalloc for GFP_NOFS/GFP_NOIO (a421ef303008,
    /// v5.17); before, a non-GFP_KERNEL mask meant kmalloc only.
    pub kvmalloc_any_gfp: bool,
    pub bufio_alloc: BufioAlloc,
    /// `PR_SET_IO_FLUSHER` exists (v5.6).
    pub io_flusher_prctl: bool,
}

impl KernelParams {
    pub fn for_version(v: KernelVersion) -> KernelParams {
        let at = |major, minor| v >= KernelVersion::new(major, minor);
        let bufio_gate = if at(5, 8) {
            BufioGate::Workqueue
        } else if at(5, 3) {
            BufioGate::Trylock
        } else if at(3, 17) {
            BufioGate::Fs
        } else {
            BufioGate::Io
        };
        KernelParams {
            version: v,
            bufio_gate,
            loop_noio: at(5, 3),
            vmalloc: if vmalloc_honours_gfp(v) {
                VmallocMode::Modern
            } else {
                VmallocMode::Legacy
            },
            kvmalloc_any_gfp: vmalloc_honours_gfp(v),
            bufio_alloc: if at(4, 10) {
                BufioAlloc::NowaitThenNoio
            } else {
                BufioAlloc::NoioUnderLock
            },
            io_flusher_prctl: at(5, 6),
        }
    }
}

/// `__vmalloc(GFP_NOFS/GFP_NOIO)` honours the mask for page tables from v5.17.
pub fn vmalloc_honours_gfp(v: KernelVersion) -> bool {
    v >= KernelVersion::new(5, 17)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            KernelVersion::parse("6.1.192"),
            Ok(KernelVersion::new(6, 1))
        );
        assert_eq!(
            KernelVersion::parse("v5.17-rc1"),
            Ok(KernelVersion::new(5, 17))
        );
        assert!(KernelVersion::parse("banana").is_err());
        assert!(KernelVersion::parse("5").is_err());
    }

    #[test]
    fn eras() {
        let p = |s| KernelParams::for_version(KernelVersion::parse(s).unwrap());
        assert_eq!(p("3.2").bufio_gate, BufioGate::Io);
        assert_eq!(p("4.19").bufio_gate, BufioGate::Fs);
        assert_eq!(p("5.4").bufio_gate, BufioGate::Trylock);
        assert_eq!(p("6.1").bufio_gate, BufioGate::Workqueue);
        assert!(!p("5.2").loop_noio && p("5.3").loop_noio);
        assert_eq!(p("5.16").vmalloc, VmallocMode::Legacy);
        assert_eq!(p("5.17").vmalloc, VmallocMode::Modern);
        assert!(!p("5.16").kvmalloc_any_gfp && p("5.17").kvmalloc_any_gfp);
        assert_eq!(p("4.9").bufio_alloc, BufioAlloc::NoioUnderLock);
        assert_eq!(p("4.10").bufio_alloc, BufioAlloc::NowaitThenNoio);
        assert!(!p("5.5").io_flusher_prctl && p("5.6").io_flusher_prctl);
    }
}
