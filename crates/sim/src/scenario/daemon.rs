//! `[[daemon]]`: a block device served by a userspace process (tcmu-runner,
//! FUSE, ublk, NBD) through a backing file or a socket, and the program its
//! handler threads run per request (`serve`).

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    pub name: Spanned<String>,
    kind: Spanned<String>,
    process: Option<String>,
    /// The backing file (`transport = "file"`).
    file: Option<Spanned<String>>,
    /// `file` (pread/pwrite a backing file) or `socket` (forward over TCP:
    /// completion needs the peer, no lower device).
    transport: Option<Spanned<String>>,
    /// Ring depth (requests in flight).
    queue_depth: Option<Spanned<u8>>,
    /// Handler threads.
    threads: Option<Spanned<u8>>,
    /// The daemon called `prctl(PR_SET_IO_FLUSHER, 1)` at startup.
    io_flusher: Option<bool>,
    /// What a handler runs per write request (default `["pwrite"]`).
    serve: Option<Spanned<Vec<Spanned<String>>>>,
}

impl RawDaemon {
    /// The device, its `serve` program still empty: programs name devices
    /// and filesystems, so they are parsed once the whole stack is known
    /// ([`RawDaemon::serve`]).
    pub fn build(&self, names: &Names) -> Result<Device, ScenarioError> {
        let e = names.e;
        let kind = self.kind.get_ref();
        if !["tcmu", "fuse", "ublk", "nbd"].contains(&kind.as_str()) {
            return Err(e.at(
                self.kind.span(),
                format!("unknown daemon kind `{kind}`; known: tcmu, fuse, ublk, nbd"),
            ));
        }
        let transport = self
            .transport
            .as_ref()
            .map_or("file", |t| t.get_ref().as_str());
        let (fs, file) = match (transport, &self.file) {
            ("file", Some(f)) => {
                let (fs, file) = fs_of_file(names, f)?;
                (Some(fs), file)
            }
            ("file", None) => {
                return Err(e.at(
                    self.name.span(),
                    format!(
                        "daemon `{}` needs `file` (or `transport = \"socket\"`)",
                        self.name.get_ref()
                    ),
                ));
            }
            ("socket", None) => (None, String::new()),
            ("socket", Some(f)) => {
                return Err(e.at(f.span(), "a socket transport has no backing `file`"));
            }
            (other, _) => {
                return Err(e.at(
                    self.transport.as_ref().map_or(self.name.span(), check_span),
                    format!("unknown transport `{other}`; known: file, socket"),
                ));
            }
        };
        let qd = self.queue_depth.as_ref().map_or(1, |q| *q.get_ref());
        let threads = self.threads.as_ref().map_or(1, |q| *q.get_ref());
        let process = self.process.clone().unwrap_or_else(|| match kind.as_str() {
            "tcmu" => "tcmu-runner".into(),
            k => format!("{k}-daemon"),
        });
        Ok(Device {
            name: self.name.get_ref().clone(),
            kind: DevKind::Daemon {
                kind: kind.clone(),
                process,
                fs,
                file,
                queue_depth: qd,
                threads,
                io_flusher: self.io_flusher.unwrap_or(false),
                serve: Vec::new(),
            },
        })
    }

    /// The per-request program: `serve` as written, or by default what the
    /// transport implies (`pwrite` to the backing file, `send` of one page
    /// to the socket).
    pub fn serve(
        &self,
        has_file: bool,
        names: &Names,
        sc: &Scenario,
    ) -> Result<Vec<Stmt>, ScenarioError> {
        Ok(match &self.serve {
            None if has_file => vec![Stmt::Pwrite],
            None => vec![Stmt::Send { pages: 1 }],
            Some(lines) => {
                let view = RawTaskView {
                    name: self.name.get_ref(),
                    name_span: self.name.span(),
                    program: lines.get_ref(),
                    program_span: lines.span(),
                    serve: Some(has_file),
                };
                program::parse(&view, names.e, &|n, s, w| names.lookup(n, s, w), sc)?
            }
        })
    }

    /// Where an error about this daemon's `queue_depth` or `threads` points:
    /// the key if written, else the daemon's name.
    pub fn span_of(&self, field: &Field) -> Range<usize> {
        let key = match field {
            Field::QueueDepth(_) => self.queue_depth.as_ref(),
            Field::Threads(_) => self.threads.as_ref(),
            _ => None,
        };
        key.map_or(self.name.span(), check_span)
    }
}
