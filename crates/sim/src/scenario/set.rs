//! `--kernel X.Y` and `--set KEY=VALUE`: overriding a loaded scenario.
//! An override goes through the same value checks as the file
//! ([`Scenario::validate`]); a rejected one leaves the scenario unchanged.

use super::*;

impl Scenario {
    /// `--kernel X.Y[.Z]`: every history-dependent parameter as that release
    /// had it. What changes the scenario's meaning rather than a parameter
    /// (a prctl the release does not have, a vendor kernel) is said in
    /// [`Scenario::notes`], never silently.
    pub fn apply_kernel(&mut self, r: &Release) {
        if let Some(n) = r.note() {
            self.notes.push(n);
        }
        self.apply_kernel_params(&KernelParams::for_version(r.version));
    }

    /// Every history-dependent parameter as `p` has it (`--kernel`, or a
    /// release with one fact flipped).
    pub fn apply_kernel_params(&mut self, p: &KernelParams) {
        let v = p.version;
        self.kernel = Some(v);
        for b in &mut self.bufios {
            b.gate = p.bufio_gate;
            b.alloc = p.bufio_alloc;
        }
        let prctl = history::Fact::get(FactId::IoFlusherPrctl);
        for d in &mut self.devices {
            match &mut d.kind {
                DevKind::Loop { noio, .. } => *noio = p.loop_noio,
                DevKind::Daemon {
                    io_flusher,
                    process,
                    ..
                } if *io_flusher && !p.io_flusher_prctl => {
                    *io_flusher = false;
                    self.notes.push(format!(
                        "{v}: `{process}` (daemon `{}`) declares io_flusher, but PR_SET_IO_FLUSHER arrived in v{} ({}, {}); on {v} prctl() fails with -EINVAL, so it runs without PF_MEMALLOC_NOIO",
                        d.name, prctl.since, prctl.commit, prctl.file
                    ));
                }
                _ => {}
            }
        }
        self.io_flusher_prctl = p.io_flusher_prctl;
        if !p.io_flusher_prctl {
            for t in &self.tasks {
                if program::calls_prctl_io_flusher(&t.program) {
                    self.notes.push(format!(
                        "{v}: task `{}` calls prctl(PR_SET_IO_FLUSHER), which arrived in v{} ({}); on {v} it fails with -EINVAL and the task keeps its flags",
                        t.name, prctl.since, prctl.commit
                    ));
                }
            }
        }
        self.vmalloc = p.vmalloc;
        for (l, k) in self.lock_kinds.iter().enumerate() {
            self.lock_nofs[l] = p.lock_nofs(*k);
        }
        for f in &mut self.fss {
            if let Some(r) = p.inode_reclaim(&f.fstype) {
                f.inode_reclaim = r;
            }
            if f.fstype == "xfs" {
                f.inactivate_in_reclaim = p.xfs_inactivate_in_reclaim;
            }
        }
    }

    /// The CLI's `--kernel X.Y` then every `--set KEY=VALUE`, in order:
    /// shared by `run`, `check` and `compare`.
    pub fn apply_overrides(
        &mut self,
        kernel: Option<&str>,
        sets: &[String],
    ) -> Result<(), ScenarioError> {
        if let Some(k) = kernel {
            let v = Release::parse(k).map_err(|m| ScenarioError {
                origin: "--kernel".into(),
                line: 1,
                col: 1,
                span: Some(0..k.len().max(1)),
                message: m,
            })?;
            self.apply_kernel(&v);
        }
        for kv in sets {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(ScenarioError {
                    origin: "--set".into(),
                    line: 1,
                    col: 1,
                    span: Some(0..kv.len().max(1)),
                    message: format!("`{kv}` should be KEY=VALUE"),
                });
            };
            self.set(k.trim(), v.trim())?;
        }
        Ok(())
    }

    /// `--set KEY=VALUE`: override one parameter. Keys: `vmalloc`,
    /// `memory.FIELD`, `bufio.FIELD` / `loop.noio` (every client / loop
    /// device), `NAME.FIELD` for a named bufio client, loop, daemon,
    /// filesystem or task.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ScenarioError> {
        let before = self.clone();
        self.set_one(key, value)?;
        if let Err(inv) = self.validate() {
            *self = before;
            return Err(ScenarioError {
                origin: "--set".into(),
                line: 1,
                col: key.len() + 2,
                span: Some(key.len() + 1..key.len() + 1 + value.len().max(1)),
                message: format!("`{key}={value}`: {}", inv.message),
            });
        }
        Ok(())
    }

    fn set_one(&mut self, key: &str, value: &str) -> Result<(), ScenarioError> {
        let arg = format!("{key}={value}");
        let err = |at: usize, len: usize, msg: String| ScenarioError {
            origin: "--set".into(),
            line: 1,
            col: at + 1,
            span: Some(at..at + len.max(1)),
            message: msg,
        };
        let vpos = key.len() + 1;
        let bad_value = |what: &str| {
            err(
                vpos,
                value.len(),
                format!("bad value `{value}` for `{key}`: expected {what}"),
            )
        };
        let num = |max: u32| -> Result<u32, ScenarioError> {
            value
                .parse::<u32>()
                .ok()
                .filter(|v| *v <= max)
                .ok_or_else(|| bad_value(&format!("a number up to {max}")))
        };
        let boolean = || match value {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad_value("true or false")),
        };
        let _ = &arg;
        // Lock names may contain dots (`ext4.journal`): `LOCK.nofs`.
        if let Some(l) = key
            .strip_suffix(".nofs")
            .and_then(|name| self.locks.iter().position(|x| x == name))
        {
            self.lock_nofs[l] = boolean()?;
            return Ok(());
        }
        if key == "vmalloc" {
            self.vmalloc = parse_vmalloc(value).ok_or_else(|| bad_value("legacy or modern"))?;
            return Ok(());
        }
        let Some((obj, field)) = key.split_once('.') else {
            return Err(err(0, key.len(), format!("unknown parameter `{key}`")));
        };
        let unknown_field = || {
            err(
                obj.len() + 1,
                field.len(),
                format!("unknown parameter `{key}`"),
            )
        };
        if obj == "memory" {
            let m = &mut self.memory;
            match field {
                "free" => m.free = num(u16::MAX as u32)? as u16,
                "min" => m.min = num(u16::MAX as u32)? as u16,
                "low" => m.low = num(u16::MAX as u32)? as u16,
                "high" => m.high = num(u16::MAX as u32)? as u16,
                "batch" => m.batch = num(255)?.max(1) as u16,
                "anon" => m.anon = num(u16::MAX as u32)? as u16,
                "swap_pages" => m.swap_pages = num(u16::MAX as u32)? as u16,
                "kswapd" => m.kswapd = boolean()?,
                "oom_killer" => m.oom_killer = boolean()?,
                _ => return Err(unknown_field()),
            }
            return Ok(());
        }
        let all_bufio = obj == "bufio";
        let bufio_idx: Vec<usize> = (0..self.bufios.len())
            .filter(|&i| all_bufio || self.bufios[i].name == obj)
            .collect();
        if !bufio_idx.is_empty() {
            for i in bufio_idx {
                let b = &mut self.bufios[i];
                match field {
                    "gate" => {
                        b.gate = parse_gate(value)
                            .ok_or_else(|| bad_value("io, fs, trylock or workqueue"))?
                    }
                    "alloc" => {
                        b.alloc = parse_alloc(value)
                            .ok_or_else(|| bad_value("noio-under-lock or nowait-then-noio"))?
                    }
                    "reserved" => b.reserved = num(255)? as u8,
                    "clean" => b.clean = num(255)? as u8,
                    "dirty" => b.dirty = num(255)? as u8,
                    _ => return Err(unknown_field()),
                }
            }
            return Ok(());
        }
        let all_loop = obj == "loop";
        let mut hit = false;
        for d in &mut self.devices {
            if !(d.name == obj || all_loop && matches!(d.kind, DevKind::Loop { .. })) {
                continue;
            }
            hit = true;
            match (&mut d.kind, field) {
                (DevKind::Loop { noio, .. }, "noio") => *noio = boolean()?,
                (DevKind::Daemon { queue_depth, .. }, "queue_depth") => {
                    *queue_depth = num(255)? as u8
                }
                (DevKind::Daemon { threads, .. }, "threads") => *threads = num(255)? as u8,
                (DevKind::Daemon { io_flusher, .. }, "io_flusher") => *io_flusher = boolean()?,
                _ => return Err(unknown_field()),
            }
        }
        if hit {
            return Ok(());
        }
        if let Some(f) = self.fss.iter_mut().find(|f| f.name == obj) {
            match field {
                "clean" => f.clean = num(u16::MAX as u32)? as u16,
                "dirty" => f.dirty = num(u16::MAX as u32)? as u16,
                "inodes" => f.inodes = num(u16::MAX as u32)? as u16,
                "dirty_inodes" => f.dirty_inodes = num(u16::MAX as u32)? as u16,
                "write_through" => f.write_through = boolean()?,
                "inode_reclaim" => {
                    f.inode_reclaim = InodeReclaim::parse(value)
                        .ok_or_else(|| bad_value("write-and-wait or skip-dirty"))?
                }
                "inactivate_in_reclaim" => f.inactivate_in_reclaim = boolean()?,
                "write_gfp" => {
                    f.write_gfp =
                        parse_gfp(value).map_err(|(s, m)| err(vpos + s.start, s.len(), m))?
                }
                _ => return Err(unknown_field()),
            }
            return Ok(());
        }
        let all_tasks = obj == "task";
        let mut hit = false;
        for t in self.tasks.iter_mut().filter(|t| all_tasks || t.name == obj) {
            hit = true;
            match field {
                "repeat" => t.repeat = num(255)? as u8,
                "scope" => {
                    t.scope = match value {
                        "none" => None,
                        "nofs" => Some(Scope::Nofs),
                        "noio" => Some(Scope::Noio),
                        _ => return Err(bad_value("nofs, noio or none")),
                    }
                }
                _ => return Err(unknown_field()),
            }
        }
        if hit {
            return Ok(());
        }
        Err(err(
            0,
            obj.len(),
            format!(
                "unknown parameter `{key}`: no bufio client, loop, daemon, filesystem or task named `{obj}`"
            ),
        ))
    }
}
