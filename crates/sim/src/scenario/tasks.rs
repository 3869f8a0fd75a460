//! `[[task]]`: a process and the program it runs (parsed by
//! [`crate::program`]).

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTask {
    pub name: Spanned<String>,
    fs: Option<Spanned<String>>,
    scope: Option<Spanned<String>>,
    program: Spanned<Vec<Spanned<String>>>,
}

/// What the program parser needs of a `[[task]]` table.
pub(crate) struct RawTaskView<'a> {
    pub name: &'a str,
    pub name_span: Range<usize>,
    pub program: &'a [Spanned<String>],
    pub program_span: Range<usize>,
    /// A daemon's `serve` program: `Some(has a backing file)`.
    pub serve: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    pub name: String,
    /// The filesystem the task works in (sb-context needs it).
    pub fs: Option<usize>,
    /// A scope around the whole program (`--set TASK.scope=nofs`).
    pub scope: Option<Scope>,
    /// Run the whole program this many times (`--set TASK.repeat=N`).
    pub repeat: u8,
    pub program: Vec<Stmt>,
}

impl RawTask {
    /// Programs name devices, filesystems, locks and bufio clients, so
    /// tasks are built against the otherwise complete scenario `sc`.
    pub fn build(&self, names: &Names, sc: &Scenario) -> Result<TaskSpec, ScenarioError> {
        let (t, e) = (self, names.e);
        let fs = match &t.fs {
            None => None,
            Some(f) => Some(names.get(f, &["filesystem"])?.1),
        };
        let scope = match &t.scope {
            None => None,
            Some(s) => match s.get_ref().as_str() {
                "nofs" => Some(Scope::Nofs),
                "noio" => Some(Scope::Noio),
                "none" => None,
                other => {
                    return Err(e.at(
                        s.span(),
                        format!("unknown scope `{other}`; known: nofs, noio, none"),
                    ));
                }
            },
        };
        let view = RawTaskView {
            name: t.name.get_ref(),
            name_span: t.name.span(),
            program: t.program.get_ref(),
            program_span: t.program.span(),
            serve: None,
        };
        let program = program::parse(&view, e, &|n, s, w| names.lookup(n, s, w), sc)?;
        Ok(TaskSpec {
            name: t.name.get_ref().clone(),
            fs,
            scope,
            repeat: 1,
            program,
        })
    }
}
