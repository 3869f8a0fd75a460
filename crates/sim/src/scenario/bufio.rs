//! `[[bufio]]`: a dm-bufio client (its buffers, how its shrinker takes
//! `dm_bufio_lock`, how it allocates a new buffer).

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBufio {
    pub name: Spanned<String>,
    dev: Spanned<String>,
    gate: Option<Spanned<String>>,
    alloc: Option<Spanned<String>>,
    #[serde(default)]
    clean: u8,
    #[serde(default)]
    dirty: u8,
    #[serde(default)]
    reserved: u8,
}

/// A dm-bufio client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bufio {
    pub name: String,
    pub dev: usize,
    pub gate: BufioGate,
    pub alloc: BufioAlloc,
    pub clean: u8,
    pub dirty: u8,
    pub reserved: u8,
    /// Index of its `dm_bufio_lock` in [`Scenario::locks`].
    pub lock: usize,
}

pub(super) fn parse_gate(s: &str) -> Option<BufioGate> {
    BufioGate::parse(s)
}

pub(super) fn parse_alloc(s: &str) -> Option<BufioAlloc> {
    match s {
        "noio-under-lock" => Some(BufioAlloc::NoioUnderLock),
        "nowait-then-noio" => Some(BufioAlloc::NowaitThenNoio),
        _ => None,
    }
}

pub fn alloc_name(a: BufioAlloc) -> &'static str {
    match a {
        BufioAlloc::NoioUnderLock => "noio-under-lock",
        BufioAlloc::NowaitThenNoio => "nowait-then-noio",
    }
}

impl RawBufio {
    /// `lock`: the index of the client's `dm_bufio_lock` (bufio locks follow
    /// the `[[lock]]` tables).
    pub fn build(&self, names: &Names, lock: usize) -> Result<Bufio, ScenarioError> {
        let (b, e) = (self, names.e);
        let (_, dev) = names.get(&b.dev, &["device"])?;
        let gate = match &b.gate {
            None => BufioGate::Workqueue,
            Some(g) => keyword(e, g, "bufio gate", "io, fs, trylock, workqueue", parse_gate)?,
        };
        let alloc = match &b.alloc {
            None => BufioAlloc::NowaitThenNoio,
            Some(a) => keyword(
                e,
                a,
                "bufio alloc",
                "noio-under-lock, nowait-then-noio",
                parse_alloc,
            )?,
        };
        Ok(Bufio {
            name: b.name.get_ref().clone(),
            dev,
            gate,
            alloc,
            clean: b.clean,
            dirty: b.dirty,
            reserved: b.reserved,
            lock,
        })
    }
}
