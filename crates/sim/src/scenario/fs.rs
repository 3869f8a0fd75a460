//! `[[fs]]`: a mounted filesystem (superblock), its page cache and the
//! inodes its superblock shrinker can free.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFs {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    fstype: Option<String>,
    dev: Spanned<String>,
    #[serde(default)]
    clean: u16,
    #[serde(default)]
    dirty: u16,
    #[serde(default)]
    inodes: u16,
    pub dirty_inodes: Option<Spanned<u16>>,
    #[serde(default)]
    write_locks: Vec<Spanned<String>>,
    #[serde(default)]
    shrinker_locks: Vec<Spanned<String>>,
    write_gfp: Option<Spanned<String>>,
    /// A write waits for the device (FUSE without writeback_cache).
    #[serde(default)]
    write_through: bool,
    /// `write-and-wait` (default) or `skip-dirty`.
    inode_reclaim: Option<Spanned<String>>,
    /// Evicting an inode from reclaim takes `shrinker_locks` (default true).
    inactivate_in_reclaim: Option<bool>,
}

/// A mounted filesystem (superblock) and its caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fs {
    pub name: String,
    pub fstype: String,
    pub dev: usize,
    pub clean: u16,
    pub dirty: u16,
    /// Objects its superblock shrinker can free (dentries, inodes), a page each.
    pub inodes: u16,
    /// Of those, inodes whose reclaim writes to the fs's device and waits.
    pub dirty_inodes: u16,
    /// Locks a buffered write takes (the journal).
    pub write_locks: Vec<usize>,
    /// Locks the superblock shrinker needs to evict inodes.
    pub shrinker_locks: Vec<usize>,
    /// The mask page-cache allocations of a write use.
    pub write_gfp: Gfp,
    /// A buffered write sends the data to the fs's device and waits, its
    /// pages staying clean: FUSE without `writeback_cache`
    /// (`fuse_perform_write` -> `fuse_send_write_pages` waits for the reply).
    pub write_through: bool,
    /// What the superblock shrinker does with a dirty inode (`--kernel`
    /// sets it for XFS: write and wait before v5.9).
    pub inode_reclaim: InodeReclaim,
    /// Evicting an inode from reclaim does work that takes `shrinker_locks`
    /// (XFS inactivation before v5.14, ext4's jbd2 handle for an unlinked
    /// inode); false: that work is deferred to a worker.
    pub inactivate_in_reclaim: bool,
}

impl RawFs {
    pub fn build(&self, names: &Names) -> Result<Fs, ScenarioError> {
        let (f, e) = (self, names.e);
        let lock_ref = |n: &Spanned<String>| names.get(n, &["lock"]).map(|(_, i)| i);
        let (_, dev) = names.get(&f.dev, &["device"])?;
        let write_gfp = match &f.write_gfp {
            None => Gfp::KERNEL,
            Some(g) => gfp_at(e, g)?,
        };
        let dirty_inodes = f.dirty_inodes.as_ref().map_or(0, |d| *d.get_ref());
        Ok(Fs {
            name: f.name.get_ref().clone(),
            fstype: f.fstype.clone().unwrap_or_else(|| "ext4".into()),
            dev,
            clean: f.clean,
            dirty: f.dirty,
            inodes: f.inodes,
            dirty_inodes,
            write_locks: f
                .write_locks
                .iter()
                .map(lock_ref)
                .collect::<Result<_, _>>()?,
            shrinker_locks: f
                .shrinker_locks
                .iter()
                .map(lock_ref)
                .collect::<Result<_, _>>()?,
            write_gfp,
            write_through: f.write_through,
            inode_reclaim: match &f.inode_reclaim {
                None => InodeReclaim::WriteAndWait,
                Some(r) => keyword(
                    e,
                    r,
                    "inode_reclaim",
                    "write-and-wait, skip-dirty",
                    InodeReclaim::parse,
                )?,
            },
            inactivate_in_reclaim: f.inactivate_in_reclaim.unwrap_or(true),
        })
    }
}
