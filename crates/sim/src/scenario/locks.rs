//! `[[lock]]`: the sleeping locks tasks and shrinkers take (a mutex, a jbd2
//! handle, an XFS or btrfs transaction), plus one `dm_bufio_lock` per
//! dm-bufio client, named `CLIENT.lock`.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLock {
    pub name: Spanned<String>,
    /// `mutex` (default), `jbd2-handle`, `xfs-transaction`, `btrfs-transaction`.
    kind: Option<Spanned<String>>,
}

/// Defines every lock's name: the `[[lock]]` tables in order, then each
/// bufio client's lock. Returns the names and kinds, indexed alike.
pub(super) fn define(
    raw: &[RawLock],
    bufios: &[RawBufio],
    names: &mut Names,
) -> Result<(Vec<String>, Vec<LockKind>), ScenarioError> {
    let e = names.e;
    let mut locks: Vec<String> = Vec::new();
    let mut lock_kinds: Vec<LockKind> = Vec::new();
    for l in raw {
        names.add(&l.name, "lock", locks.len())?;
        locks.push(l.name.get_ref().clone());
        lock_kinds.push(match &l.kind {
            None => LockKind::Mutex,
            Some(k) => keyword(
                e,
                k,
                "lock kind",
                "mutex, jbd2-handle, xfs-transaction, btrfs-transaction",
                LockKind::parse,
            )?,
        });
    }
    for b in bufios {
        let lname = format!("{}.lock", b.name.get_ref());
        if names.map.contains_key(&lname) {
            return Err(e.at(
                b.name.span(),
                format!(
                    "`{lname}` is already defined; dm-bufio clients get their lock under that name"
                ),
            ));
        }
        names.map.insert(lname.clone(), ("lock", locks.len()));
        locks.push(lname);
        lock_kinds.push(LockKind::Mutex);
    }
    Ok((locks, lock_kinds))
}
