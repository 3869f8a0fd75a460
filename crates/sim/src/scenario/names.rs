//! One namespace for every named thing in a scenario (devices,
//! filesystems, bufio clients, locks, tasks): a name is defined once and a
//! reference says what kind of thing it expected.

use super::*;

pub(super) struct Names<'a> {
    pub map: HashMap<String, (&'static str, usize)>,
    pub e: &'a Errs<'a>,
}

impl<'a> Names<'a> {
    pub fn new(e: &'a Errs<'a>) -> Self {
        Names {
            map: HashMap::new(),
            e,
        }
    }

    pub fn add(
        &mut self,
        n: &Spanned<String>,
        kind: &'static str,
        idx: usize,
    ) -> Result<(), ScenarioError> {
        let name = n.get_ref();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(self.e.at(n.span(), format!("bad name `{name}`")));
        }
        if let Some((k, _)) = self.map.insert(name.clone(), (kind, idx)) {
            return Err(self
                .e
                .at(n.span(), format!("`{name}` is already defined (as a {k})")));
        }
        Ok(())
    }

    pub fn get(
        &self,
        n: &Spanned<String>,
        want: &[&'static str],
    ) -> Result<(&'static str, usize), ScenarioError> {
        match self.map.get(n.get_ref()) {
            Some(&(k, i)) if want.contains(&k) => Ok((k, i)),
            Some(&(k, _)) => Err(self.e.at(
                n.span(),
                format!(
                    "`{}` is a {k}, expected a {}",
                    n.get_ref(),
                    want.join(" or ")
                ),
            )),
            None => Err(self.e.at(
                n.span(),
                format!("unknown {} `{}`", want.join(" or "), n.get_ref()),
            )),
        }
    }

    /// [`Names::get`] for a name inside a program line (the program parser's
    /// lookup).
    pub fn lookup(
        &self,
        name: &str,
        span: Range<usize>,
        want: &[&'static str],
    ) -> Result<(&'static str, usize), ScenarioError> {
        self.get(&Spanned::new(span, name.to_string()), want)
    }
}
