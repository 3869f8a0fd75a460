//! Reading `/proc` and `/sys` under a root (`/`, or a captured tree), and
//! remembering every path read so `--capture DIR` can copy exactly those.
//!
//! A missing file is information (an unbound loop device has no
//! `loop/backing_file`), so it is not a problem; any other error (EACCES in
//! a container, EIO) is recorded in [`Root::problems`] and the probe carries
//! on without that file.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// What was read at one path, kept for the capture.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Read {
    /// File contents.
    File(Vec<u8>),
    /// A symlink's target text (`/sys/dev/block/8:1`, `/proc/PID/fd/N`).
    Link(String),
    /// A directory whose entry names are data (`slaves/`, `holders/`).
    Names(Vec<String>),
}

/// A tree to probe: `/` for the running machine, or a captured copy.
#[derive(Debug)]
pub struct Root {
    base: PathBuf,
    reads: RefCell<BTreeMap<String, Read>>,
    problems: RefCell<Vec<String>>,
}

impl Root {
    pub fn new(base: impl Into<PathBuf>) -> Root {
        Root {
            base: base.into(),
            reads: RefCell::new(BTreeMap::new()),
            problems: RefCell::new(Vec::new()),
        }
    }

    /// The base directory (`/` on the live machine).
    pub fn base(&self) -> &Path {
        &self.base
    }

    fn at(&self, path: &str) -> PathBuf {
        self.base.join(path.trim_start_matches('/'))
    }

    fn problem(&self, path: &str, e: &io::Error) {
        self.problems
            .borrow_mut()
            .push(format!("cannot read {path}: {e}"));
    }

    /// Record a problem found while interpreting what was read.
    pub fn note_problem(&self, text: String) {
        self.problems.borrow_mut().push(text);
    }

    /// Unreadable files (not missing ones), in the order met.
    pub fn problems(&self) -> Vec<String> {
        self.problems.borrow().clone()
    }

    /// A file's text; `None` when missing (silently) or unreadable (recorded).
    pub fn read(&self, path: &str) -> Option<String> {
        match std::fs::read(self.at(path)) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                self.reads
                    .borrow_mut()
                    .insert(path.to_string(), Read::File(bytes));
                Some(text)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                self.problem(path, &e);
                None
            }
        }
    }

    /// A file the probe cannot do without: missing is a problem too.
    pub fn read_required(&self, path: &str) -> Option<String> {
        match std::fs::metadata(self.at(path)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.problem(path, &e);
                None
            }
            _ => self.read(path),
        }
    }

    /// The first line of a one-value sysfs attribute, trimmed.
    pub fn attr(&self, path: &str) -> Option<String> {
        self.read(path)
            .map(|t| t.lines().next().unwrap_or("").trim().to_string())
    }

    /// Whether something exists at `path`. Not recorded: use it only for
    /// a directory the caller then reads a file under (`dm/` then
    /// `dm/name`), so the capture recreates it.
    pub fn exists(&self, path: &str) -> bool {
        std::fs::symlink_metadata(self.at(path)).is_ok()
    }

    /// A symlink's target text, recorded.
    pub fn link(&self, path: &str) -> Option<String> {
        let t = self.link_quiet(path)?;
        self.keep_link(path, &t);
        Some(t)
    }

    /// A symlink's target text, not recorded: for looking through every
    /// process's open files, of which only the matches are captured.
    pub fn link_quiet(&self, path: &str) -> Option<String> {
        match std::fs::read_link(self.at(path)) {
            Ok(t) => Some(t.to_string_lossy().into_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => None,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => None,
            Err(e) => {
                self.problem(path, &e);
                None
            }
        }
    }

    /// Record a link read with [`Root::link_quiet`] that turned out to matter.
    pub fn keep_link(&self, path: &str, target: &str) {
        self.reads
            .borrow_mut()
            .insert(path.to_string(), Read::Link(target.to_string()));
    }

    /// Entry names of a directory whose names are the data, sorted, recorded.
    pub fn names(&self, path: &str) -> Vec<String> {
        match self.list(path) {
            Ok(v) => {
                self.reads
                    .borrow_mut()
                    .insert(path.to_string(), Read::Names(v.clone()));
                v
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                self.problem(path, &e);
                Vec::new()
            }
        }
    }

    /// Entry names of a directory looked through (`/proc`, `/proc/PID/fd`),
    /// sorted, not recorded; the error is the caller's to summarise.
    pub fn scan(&self, path: &str) -> io::Result<Vec<String>> {
        self.list(path)
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let mut v: Vec<String> = std::fs::read_dir(self.at(path))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        Ok(v)
    }

    /// Paths recorded so far, sorted (what `--capture` copies).
    pub fn recorded(&self) -> Vec<String> {
        self.reads.borrow().keys().cloned().collect()
    }

    /// Copy every recorded path into `dir`: files with their contents,
    /// symlinks as symlinks with the same target text, name listings as
    /// empty entries (unless something was captured under that name).
    pub fn capture(&self, dir: &Path) -> io::Result<usize> {
        let reads = self.reads.borrow();
        let dest = |p: &str| dir.join(p.trim_start_matches('/'));
        let parent = |p: &Path| -> io::Result<()> {
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d)?;
            }
            Ok(())
        };
        for (path, read) in reads.iter() {
            let to = dest(path);
            match read {
                Read::File(bytes) => {
                    parent(&to)?;
                    std::fs::write(&to, bytes)?;
                }
                Read::Link(target) => {
                    parent(&to)?;
                    if std::fs::symlink_metadata(&to).is_ok() {
                        std::fs::remove_file(&to)?;
                    }
                    symlink(target, &to)?;
                }
                Read::Names(_) => std::fs::create_dir_all(&to)?,
            }
        }
        for (path, read) in reads.iter() {
            if let Read::Names(names) = read {
                for n in names {
                    let to = dest(path).join(n);
                    if std::fs::symlink_metadata(&to).is_err() {
                        std::fs::write(&to, b"")?;
                    }
                }
            }
        }
        Ok(reads.len())
    }
}

#[cfg(unix)]
fn symlink(target: &str, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

#[cfg(not(unix))]
fn symlink(target: &str, at: &Path) -> io::Result<()> {
    std::fs::write(at, target)
}

/// Undo the octal escapes `/proc/self/mountinfo` and `/proc/swaps` use for
/// space, tab, newline and backslash (`show_mountinfo` -> `mangle`, `\040`).
pub fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape_octal(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape_octal(r"a\134b"), r"a\b");
        assert_eq!(unescape_octal(r"trailing\04"), r"trailing\04");
    }
}
