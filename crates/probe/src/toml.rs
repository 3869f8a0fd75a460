//! A small typed builder for commented TOML: the scenario writer fills it,
//! `Display` prints it. Only what scenario files use: strings, integers,
//! booleans, string arrays, tables and arrays of tables, each with comments
//! a person can read before editing.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Strs(Vec<String>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<u16> for Value {
    fn from(n: u16) -> Value {
        Value::Int(n.into())
    }
}
impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Value {
        Value::Strs(v)
    }
}

#[derive(Clone, Debug)]
struct Entry {
    key: String,
    value: Value,
    comment: Option<String>,
}

/// `[name]` or `[[name]]` with its comment lines and keys.
#[derive(Clone, Debug)]
pub struct Table {
    header: String,
    comments: Vec<String>,
    entries: Vec<Entry>,
}

impl Table {
    /// `[name]`.
    pub fn single(name: &str) -> Table {
        Table {
            header: format!("[{name}]"),
            comments: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// One element of `[[name]]`.
    pub fn array(name: &str) -> Table {
        Table {
            header: format!("[[{name}]]"),
            comments: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// A comment line printed above the header.
    pub fn comment(&mut self, text: impl Into<String>) -> &mut Table {
        self.comments.push(text.into());
        self
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Table {
        self.entries.push(Entry {
            key: key.to_string(),
            value: value.into(),
            comment: None,
        });
        self
    }

    /// Whether this is an element of `[[name]]`.
    pub fn is_array_of(&self, name: &str) -> bool {
        self.header == format!("[[{name}]]")
    }

    /// The string value of `key`, if set.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .and_then(|e| match &e.value {
                Value::Str(s) => Some(s.as_str()),
                _ => None,
            })
    }

    /// A key with a comment at the end of its line.
    pub fn set_c(
        &mut self,
        key: &str,
        value: impl Into<Value>,
        c: impl Into<String>,
    ) -> &mut Table {
        self.entries.push(Entry {
            key: key.to_string(),
            value: value.into(),
            comment: Some(c.into()),
        });
        self
    }
}

/// A whole file: header comments, top-level keys, then tables in order.
#[derive(Clone, Debug, Default)]
pub struct Doc {
    comments: Vec<String>,
    top: Vec<Entry>,
    tables: Vec<Table>,
}

impl Doc {
    pub fn comment(&mut self, text: impl Into<String>) {
        self.comments.push(text.into());
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.top.push(Entry {
            key: key.to_string(),
            value: value.into(),
            comment: None,
        });
    }

    pub fn push(&mut self, t: Table) {
        self.tables.push(t);
    }
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A comment may not contain a newline: each line gets its own `#`.
fn comment_lines(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for line in text.lines() {
        if line.is_empty() {
            writeln!(f, "#")?;
        } else {
            writeln!(f, "# {line}")?;
        }
    }
    if text.is_empty() {
        writeln!(f, "#")?;
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(&quote(s)),
            Value::Int(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Strs(v) if v.len() <= 1 => {
                let items: Vec<String> = v.iter().map(|s| quote(s)).collect();
                write!(f, "[{}]", items.join(", "))
            }
            Value::Strs(v) => {
                writeln!(f, "[")?;
                for s in v {
                    writeln!(f, "  {},", quote(s))?;
                }
                write!(f, "]")
            }
        }
    }
}

fn entry(f: &mut fmt::Formatter<'_>, e: &Entry) -> fmt::Result {
    let line = format!("{} = {}", e.key, e.value);
    match &e.comment {
        Some(c) if !line.contains('\n') => {
            writeln!(f, "{line:<32} # {}", one_line(c))
        }
        Some(c) => {
            writeln!(f, "# {}", one_line(c))?;
            writeln!(f, "{line}")
        }
        None => writeln!(f, "{line}"),
    }
}

impl fmt::Display for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.comments {
            comment_lines(f, c)?;
        }
        for e in &self.top {
            entry(f, e)?;
        }
        for t in &self.tables {
            writeln!(f)?;
            for c in &t.comments {
                comment_lines(f, c)?;
            }
            writeln!(f, "{}", t.header)?;
            for e in &t.entries {
                entry(f, e)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_escape_what_toml_needs() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("x\u{1}y"), r#""x\u0001y""#);
    }

    #[test]
    fn prints_comments_tables_and_arrays() {
        let mut d = Doc::default();
        d.comment("head\n\nsecond");
        d.set("name", "n");
        let mut t = Table::array("task");
        t.comment("a task");
        t.set("name", "w")
            .set_c("fs", "x", "why")
            .set("program", vec!["a".to_string(), "b".to_string()]);
        d.push(t);
        let s = d.to_string();
        assert_eq!(
            s,
            "# head\n#\n# second\nname = \"n\"\n\n# a task\n[[task]]\nname = \"w\"\n\
             fs = \"x\"                         # why\nprogram = [\n  \"a\",\n  \"b\",\n]\n"
        );
    }
}
