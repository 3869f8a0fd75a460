//! `/proc`: mounts, swaps, memory, the kernel release and the processes
//! that serve devices. File formats from the kernel: `show_mountinfo`
//! (fs/proc_namespace.c), `swap_show` (mm/swapfile.c), `meminfo_proc_show`
//! (fs/proc/meminfo.c), `zoneinfo_show_print` (mm/vmstat.c),
//! `do_task_stat` (fs/proc/array.c).

use crate::root::{Root, unescape_octal};
use crate::topology::{Memory, Process, Swap};
use reclaimscope_model::history::KernelVersion;
use reclaimscope_model::task::{TaskFlags, pf_values_known, pr_get_io_flusher};
use std::collections::BTreeMap;

/// One line of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountLine {
    pub major: u32,
    pub minor: u32,
    pub root: String,
    pub mount_point: String,
    pub fstype: String,
    pub source: String,
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`:
/// fields 3-5, then after the `-` separator the type and source
/// (Documentation/filesystems/proc.rst, "3.5 /proc/<pid>/mountinfo").
pub fn parse_mountinfo(root: &Root, path: &str, text: &str) -> Vec<MountLine> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-");
        let parsed = (|| {
            let sep = sep?;
            let (maj, min) = f.get(2)?.split_once(':')?;
            Some(MountLine {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                root: unescape_octal(f.get(3)?),
                mount_point: unescape_octal(f.get(4)?),
                fstype: f.get(sep + 1)?.to_string(),
                source: unescape_octal(f.get(sep + 2).copied().unwrap_or("none")),
            })
        })();
        match parsed {
            Some(m) => out.push(m),
            None => root.note_problem(format!(
                "{path}:{}: cannot parse mount line `{line}`; skipped",
                n + 1
            )),
        }
    }
    out
}

/// `/proc/swaps`: a header, then `Filename Type Size Used Priority`,
/// the filename octal-escaped like mountinfo.
pub fn parse_swaps(text: &str) -> Vec<Swap> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let path = unescape_octal(it.next()?);
            let kind = it.next()?.to_string();
            Some(Swap {
                path,
                kind,
                device: None,
            })
        })
        .collect()
}

/// `/proc/meminfo` (kB) and the per-zone `min`/`low`/`high` of
/// `/proc/zoneinfo` (pages), summed over zones as the allocator's
/// per-node reserves are.
pub fn memory(root: &Root) -> Memory {
    let mut m = Memory::default();
    if let Some(t) = root.read_required("/proc/meminfo") {
        let kv: BTreeMap<&str, u64> = t
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((k.trim(), v.split_whitespace().next()?.parse().ok()?))
            })
            .collect();
        m.mem_total_kb = kv.get("MemTotal").copied();
        m.anon_kb = kv.get("AnonPages").copied();
        m.swap_total_kb = kv.get("SwapTotal").copied();
    }
    if let Some(t) = root.read_required("/proc/zoneinfo") {
        for l in t.lines() {
            let mut it = l.split_whitespace();
            // Exactly `min N`: the pagesets' `high:` and `high_min:` lines
            // carry a colon and are per-CPU, not watermarks.
            let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else { continue };
            match k {
                "min" => m.min += v,
                "low" => m.low += v,
                "high" => m.high += v,
                _ => {}
            }
        }
    }
    m
}

/// Who holds which device node open, from `/proc/PID/fd/*`, for the
/// nodes asked about. Links that match are recorded for the capture; the
/// others (every open file on the machine) are not.
pub struct Holders {
    pub by_node: BTreeMap<String, Vec<u32>>,
    /// Processes whose open files could not be listed (EACCES).
    pub hidden: usize,
}

pub fn holders(root: &Root, nodes: &[String]) -> Holders {
    let mut h = Holders {
        by_node: BTreeMap::new(),
        hidden: 0,
    };
    if nodes.is_empty() {
        return h;
    }
    let pids = match root.scan("/proc") {
        Ok(v) => v,
        Err(e) => {
            root.note_problem(format!("cannot list /proc: {e}"));
            return h;
        }
    };
    for pid in pids
        .iter()
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        let dir = format!("/proc/{pid}/fd");
        let fds = match root.scan(&dir) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => {
                h.hidden += 1;
                continue;
            }
        };
        for fd in fds {
            let p = format!("{dir}/{fd}");
            if let Some(t) = root.link_quiet(&p)
                && nodes.contains(&t)
            {
                root.keep_link(&p, &t);
                let v = h.by_node.entry(t).or_default();
                let pid: u32 = pid.parse().unwrap_or(0);
                if !v.contains(&pid) {
                    v.push(pid);
                }
            }
        }
    }
    h
}

/// A serving process: comm, PR_SET_IO_FLUSHER, its regular open files, cwd.
pub fn process(root: &Root, pid: u32, kernel: Option<KernelVersion>) -> Process {
    let comm = root
        .attr(&format!("/proc/{pid}/comm"))
        .unwrap_or_else(|| format!("pid{pid}"));
    // Field 9 of /proc/PID/stat is task->flags (`do_task_stat`); the comm
    // in field 2 may contain spaces and parentheses, so count after the
    // last ')'.
    // The model says which releases' PF_ values it knows.
    let io_flusher = if kernel.as_ref().is_some_and(pf_values_known) {
        root.read(&format!("/proc/{pid}/stat")).and_then(|s| {
            let after = &s[s.rfind(')')? + 1..];
            let flags: u32 = after.split_whitespace().nth(6)?.parse().ok()?;
            Some(pr_get_io_flusher(TaskFlags(flags)))
        })
    } else {
        None
    };
    let mut files = Vec::new();
    let dir = format!("/proc/{pid}/fd");
    if let Ok(fds) = root.scan(&dir) {
        for fd in fds {
            let p = format!("{dir}/{fd}");
            if let Some(t) = root.link_quiet(&p)
                && t.starts_with('/')
                && !t.starts_with("/dev/")
                && !t.starts_with("/proc/")
                && !t.starts_with("/sys/")
                && !t.ends_with(" (deleted)")
            {
                root.keep_link(&p, &t);
                if !files.contains(&t) {
                    files.push(t);
                }
            }
        }
    }
    let cwd = root.link(&format!("/proc/{pid}/cwd"));
    Process {
        pid,
        comm,
        io_flusher,
        files,
        cwd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields_and_optional_tags() {
        let r = Root::new("/nonexistent");
        let t = "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 shared:2 - ext3 /dev/root rw\n\
                 22 1 0:21 / /proc rw - proc proc rw\n\
                 garbage\n";
        let v = parse_mountinfo(&r, "mi", t);
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].major, v[0].minor), (98, 0));
        assert_eq!(v[0].mount_point, "/mnt 2");
        assert_eq!(v[0].root, "/mnt1");
        assert_eq!(v[0].fstype, "ext3");
        assert_eq!(v[1].fstype, "proc");
        assert_eq!(r.problems().len(), 1, "{:?}", r.problems());
        assert!(r.problems()[0].starts_with("mi:3:"));
    }

    #[test]
    fn swaps_skip_the_header() {
        let t = "Filename\tType\tSize\tUsed\tPriority\n/swap\\040file file 1024 0 -2\n";
        assert_eq!(
            parse_swaps(t),
            vec![Swap {
                path: "/swap file".into(),
                kind: "file".into(),
                device: None,
            }]
        );
    }
}
