//! The memory bound of `check` and `compare`: `--max-memory`, or by default
//! half of the memory available when the command starts, so a state space
//! larger than the machine ends `inconclusive` (exit 3) instead of in the
//! OOM killer.
//!
//! The searches account their own tables, logs and queues against
//! [`SEARCH_SHARE`] of the bound, split evenly across the searches that run
//! at the same time; the rest is headroom for the process itself.
//! Between searches the allocator returns freed memory to the system, so
//! one policy's leftovers do not stack on the next one's tables.

use crate::diag::InputError;
use reclaimscope_check::checker::parse_size;

/// The default bound: this fraction of `MemAvailable` (and of the room
/// left under the cgroup's `memory.max`, when there is one). Half leaves
/// the rest of the machine usable while the search runs.
pub const DEFAULT_FRACTION: (u64, u64) = (1, 2);

/// The share of the bound the searches' accounted bytes may use; the rest
/// is headroom for what the process holds besides them (the binary, the
/// scenario, and allocator slack, which grows with the search: with the
/// BFS queue packed into many small buffers, a 7/8 share let an unreduced
/// search at `--max-memory 4G` peak at 4,227 MiB resident). A fixed share,
/// not the measured resident size, so where a bounded search stops does
/// not vary from run to run.
pub const SEARCH_SHARE: (u64, u64) = (3, 4);

/// Where the bound came from, for the headline when it is hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    /// Half of this many available bytes.
    Default {
        available: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    pub total: u64,
    pub source: Source,
}

impl MemoryBudget {
    /// `--max-memory` if given, else the default from /proc; `None` when
    /// neither is known (not Linux): then only the other bounds apply.
    pub fn resolve(flag: Option<&str>) -> Result<Option<MemoryBudget>, InputError> {
        if let Some(s) = flag {
            let total =
                parse_size(s).map_err(|e| InputError(format!("error: --max-memory: {e}")))?;
            return Ok(Some(MemoryBudget {
                total,
                source: Source::Flag,
            }));
        }
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
        let available = meminfo.as_deref().and_then(mem_available);
        let cgroup_room = cgroup_room();
        Ok(default_budget(available, cgroup_room))
    }

    /// Bytes one search may account when `concurrent` searches run at
    /// once: their share of [`SEARCH_SHARE`] of the bound. Never zero.
    pub fn per_search(&self, concurrent: usize) -> u64 {
        let searches = self.total / SEARCH_SHARE.1 * SEARCH_SHARE.0
            + self.total % SEARCH_SHARE.1 * SEARCH_SHARE.0 / SEARCH_SHARE.1;
        (searches / concurrent.max(1) as u64).max(1)
    }

    /// How the headline names this bound when it is hit.
    pub fn describe(&self) -> String {
        match self.source {
            Source::Flag => format!("--max-memory {}", human(self.total)),
            Source::Default { .. } => format!(
                "the default memory bound ({}, half of available memory; set --max-memory)",
                human(self.total)
            ),
        }
    }
}

/// The default from `MemAvailable` and the cgroup's room, whichever is
/// smaller.
pub fn default_budget(available: Option<u64>, cgroup_room: Option<u64>) -> Option<MemoryBudget> {
    let available = match (available, cgroup_room) {
        (Some(a), Some(c)) => a.min(c),
        (a, c) => a.or(c)?,
    };
    Some(MemoryBudget {
        total: available / DEFAULT_FRACTION.1 * DEFAULT_FRACTION.0,
        source: Source::Default { available },
    })
}

/// `MemAvailable` of /proc/meminfo, in bytes. A line that does not parse,
/// or a count past `u64` bytes, is no answer (the bound then comes from
/// the cgroup, or there is none), never a panic.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix("MemAvailable:")?;
        let kb: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        kb.checked_mul(1024)
    })
}

/// Room left under this process's cgroup memory limit (v2 `memory.max`,
/// or v1 `memory.limit_in_bytes`), if there is a limit.
fn cgroup_room() -> Option<u64> {
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_room_in(std::path::Path::new("/sys/fs/cgroup"), &cg)
}

/// [`cgroup_room`] for the cgroup hierarchy mounted at `root`, given the
/// text of `/proc/self/cgroup`. Text that does not parse means no limit.
fn cgroup_room_in(root: &std::path::Path, cg: &str) -> Option<u64> {
    let read = |p: std::path::PathBuf| -> Option<u64> {
        std::fs::read_to_string(p).ok()?.trim().parse().ok()
    };
    // v1: a `memory` controller line; v2: the unified `0::` line.
    let (dir, max, current) = match cg.lines().find_map(|l| l.split_once(":memory:")) {
        Some((_, path)) => (
            root.join("memory").join(path.trim_start_matches('/')),
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
        ),
        None => (
            root.join(
                cg.lines()
                    .find_map(|l| l.strip_prefix("0::"))?
                    .trim_start_matches('/'),
            ),
            "memory.max",
            "memory.current",
        ),
    };
    // v2 writes "max" (no parse) and v1 a huge number for "no limit".
    let max = read(dir.join(max)).filter(|&m| m < 1 << 60)?;
    Some(max.saturating_sub(read(dir.join(current)).unwrap_or(0)))
}

/// Give memory the previous search freed back to the system. glibc keeps
/// freed memory in per-thread arenas: without this, a ten-policy `check`
/// with a 256M bound grew to 516 MB resident (each policy's search reused
/// a different worker's arena).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub fn human(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}

/// The headline of an outcome stopped by the memory bound names the bound
/// and where it came from.
pub fn name_bound_in(text: &str, budget: Option<&MemoryBudget>) -> String {
    match budget {
        Some(b) => text.replacen("--max-memory hit", &format!("{} hit", b.describe()), 1),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str =
        "MemTotal:       24684092 kB\nMemFree:         1000000 kB\nMemAvailable:   23804036 kB\n";

    #[test]
    fn default_is_half_of_mem_available_or_of_the_cgroup_room() {
        let avail = mem_available(MEMINFO).unwrap();
        assert_eq!(avail, 23_804_036 * 1024);
        let b = default_budget(Some(avail), None).unwrap();
        assert_eq!(b.total, avail / 2);
        assert_eq!(b.source, Source::Default { available: avail });
        // A cgroup limit tighter than the machine wins.
        let b = default_budget(Some(avail), Some(1 << 30)).unwrap();
        assert_eq!(b.total, 1 << 29);
        assert_eq!(default_budget(None, None), None);
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
    }

    /// /proc/meminfo is the kernel's (`meminfo_proc_show`, fs/proc/meminfo.c:
    /// `MemAvailable:` then the count in kB), but a container or a test
    /// harness can bind anything over it: garbage is no answer, never a
    /// panic or a wrapped-around bound.
    #[test]
    fn garbage_meminfo_gives_no_default() {
        for text in [
            "",
            "\0\0\0",
            "MemAvailable:",
            "MemAvailable: kB",
            "MemAvailable: -5 kB",
            "MemAvailable: 12 MB",
            "MemAvailable: 1.5 kB",
            "MemAvailable: 99999999999999999999 kB",
            // Parses as u64 but overflows once turned into bytes.
            "MemAvailable: 18446744073709551615 kB",
        ] {
            assert_eq!(mem_available(text), None, "{text:?}");
        }
        // The largest count that fits in bytes is kept exactly.
        let max_kb = u64::MAX / 1024;
        assert_eq!(
            mem_available(&format!("MemAvailable: {max_kb} kB")),
            Some(max_kb * 1024)
        );
    }

    /// The cgroup files (`memory.max`, `memory.current` in cgroup v2;
    /// `memory.limit_in_bytes` in v1) as a scratch hierarchy: "max" or an
    /// unparseable value is no limit, usage above the limit is no room.
    #[test]
    fn garbage_cgroup_files_are_no_limit() {
        let root = std::env::temp_dir().join(format!("rs-cgroup-{}", std::process::id()));
        let dir = root.join("user.slice");
        std::fs::create_dir_all(&dir).unwrap();
        let cg = "0::/user.slice\n";
        let write = |max: &str, cur: &str| {
            std::fs::write(dir.join("memory.max"), max).unwrap();
            std::fs::write(dir.join("memory.current"), cur).unwrap();
        };
        write("1073741824\n", "1048576\n");
        assert_eq!(cgroup_room_in(&root, cg), Some((1 << 30) - (1 << 20)));
        write("max\n", "5\n");
        assert_eq!(cgroup_room_in(&root, cg), None);
        write("\u{0}garbage", "5");
        assert_eq!(cgroup_room_in(&root, cg), None);
        write("1024", "999999999999999999999");
        assert_eq!(cgroup_room_in(&root, cg), Some(1024));
        write("1024", "4096");
        assert_eq!(cgroup_room_in(&root, cg), Some(0));
        // No v2 line and no memory controller: nothing to read.
        assert_eq!(cgroup_room_in(&root, "garbage\n\n:::\n"), None);
        assert_eq!(cgroup_room_in(&root, ""), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_bound_is_split_across_concurrent_searches() {
        let b = MemoryBudget::resolve(Some("256M")).unwrap().unwrap();
        assert_eq!(b.total, 256 << 20);
        // One search at a time gets 3/4 of it; four at once a quarter each.
        assert_eq!(b.per_search(1), 192 << 20);
        assert_eq!(b.per_search(4), 48 << 20);
        assert_eq!(b.per_search(0), 192 << 20);
        // The shares never add up to more than the bound.
        for n in 1..=12 {
            assert!(b.per_search(n) * n as u64 <= b.total);
        }
        let tiny = MemoryBudget::resolve(Some("3")).unwrap().unwrap();
        assert_eq!(tiny.per_search(10), 1);
        assert!(MemoryBudget::resolve(Some("lots")).is_err());
    }

    #[test]
    fn the_headline_names_the_bound_that_was_hit() {
        let line = "s [baseline]: inconclusive (--max-memory hit in the deadlock search; ...)";
        let flag = MemoryBudget {
            total: 256 << 20,
            source: Source::Flag,
        };
        assert!(name_bound_in(line, Some(&flag)).contains("(--max-memory 256.0 MiB hit in"));
        let dflt = MemoryBudget {
            total: 4 << 30,
            source: Source::Default { available: 8 << 30 },
        };
        let out = name_bound_in(line, Some(&dflt));
        assert!(
            out.contains("the default memory bound (4.0 GiB, half of available memory"),
            "{out}"
        );
    }
}
