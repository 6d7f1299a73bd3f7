//! Reading the `[[table]]` files HR edits (rules, rewards, badges): every problem is
//! collected with its line, so a file is fixed in one pass, and a file with any problem
//! yields nothing at all.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;
use serde::de::IgnoredAny;
use toml::{Spanned, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Every problem, one per line, as start-up and `check` commands print them.
pub fn listed(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) type Table = BTreeMap<Spanned<String>, Spanned<Value>>;

/// The tables of a file under `names` (`[[rule]]`…), each with the line of its header, and
/// a problem for anything else at the top level. `F` has one `Vec<Spanned<Table>>` field per
/// name (serde ignores the rest); `of` lists them in `names`' order. `Err` when the file is
/// not TOML.
pub(super) fn tables<F: serde::de::DeserializeOwned>(
    text: &str,
    names: &[&str],
    of: impl FnOnce(F) -> Vec<Vec<Spanned<Table>>>,
) -> Result<Parsed, Vec<Problem>> {
    let lines = LineIndex::new(text);
    let syntax = |e: toml::de::Error| {
        vec![Problem {
            line: e.span().map_or(1, |s| lines.line(s.start)),
            message: e.message().trim().to_string(),
        }]
    };
    let top: BTreeMap<Spanned<String>, IgnoredAny> = toml::from_str(text).map_err(syntax)?;
    let written: Vec<String> = names.iter().map(|n| format!("[[{n}]]")).collect();
    let problems = top
        .keys()
        .filter(|k| !names.contains(&k.get_ref().as_str()))
        .map(|k| Problem {
            line: lines.line(k.span().start),
            message: format!(
                "unknown top-level key `{}`; write each entry as a {} table",
                k.get_ref(),
                written.join(" or ")
            ),
        })
        .collect();
    let file: F = toml::from_str(text).map_err(syntax)?;
    let tables = of(file)
        .into_iter()
        .map(|tables| {
            tables
                .into_iter()
                .map(|t| (lines.line(t.span().start), t.into_inner()))
                .collect()
        })
        .collect();
    Ok(Parsed {
        lines,
        tables,
        problems,
    })
}

/// A file's tables by name, each with the line of its header, and the problems found so far.
pub(super) struct Parsed {
    pub(super) lines: LineIndex,
    pub(super) tables: Vec<Vec<(usize, Table)>>,
    pub(super) problems: Vec<Problem>,
}

/// One table being read: each accessor records its own problems and returns `None`, so one
/// pass finds them all.
pub(super) struct Fields<'a> {
    pub(super) lines: &'a LineIndex,
    pub(super) header_line: usize,
    pub(super) table: Table,
    pub(super) problems: &'a mut Vec<Problem>,
}

impl Fields<'_> {
    /// Records a problem for each key not in `known`; `what` names the table (`a rule`).
    pub(super) fn unknown_keys(&mut self, known: &[&str], what: &str) {
        let unknown: Vec<(usize, String)> = self
            .table
            .keys()
            .filter(|k| !known.contains(&k.get_ref().as_str()))
            .map(|k| (self.lines.line(k.span().start), k.get_ref().clone()))
            .collect();
        for (line, key) in unknown {
            self.problem(
                line,
                format!("unknown key `{key}`; {what} takes {}", known.join(", ")),
            );
        }
    }

    /// A required id without spaces.
    pub(super) fn id(&mut self) -> Option<String> {
        let id = self.required_str("id")?;
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            self.problem(
                self.line_of("id"),
                format!("id `{id}` must be non-empty and without spaces"),
            );
            return None;
        }
        Some(id)
    }

    /// An optional `true`/`false` key; false when absent.
    pub(super) fn flag(&mut self, key: &str) -> Option<bool> {
        match self.table.get(key).map(|v| v.get_ref().clone()) {
            None => Some(false),
            Some(Value::Boolean(b)) => Some(b),
            Some(other) => self.wrong_type(key, "true or false", &other),
        }
    }
    pub(super) fn departments(&mut self) -> Option<Vec<String>> {
        match self.table.get("departments").map(|v| v.get_ref().clone()) {
            None => Some(Vec::new()),
            Some(Value::Array(items)) => {
                let ids: Option<Vec<String>> = items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                        Value::Integer(i) => Some(i.to_string()),
                        _ => None,
                    })
                    .collect();
                ids.or_else(|| {
                    self.problem(
                        self.line_of("departments"),
                        "departments must be a list of department ids".into(),
                    );
                    None
                })
            }
            Some(other) => self.wrong_type("departments", "a list of department ids", &other),
        }
    }
    pub(super) fn date(&mut self, key: &str) -> Option<Option<Date>> {
        let text = match self.table.get(key).map(|v| v.get_ref().clone()) {
            None => return Some(None),
            Some(Value::String(s)) => s,
            Some(Value::Datetime(d)) => d.to_string(),
            Some(other) => return self.wrong_type(key, "a date like 2026-01-01", &other),
        };
        match text.parse::<Date>() {
            Ok(d) if text.len() == 10 => Some(Some(d)),
            _ => {
                self.problem(
                    self.line_of(key),
                    format!("{key} must be a date like 2026-01-01, found `{text}`"),
                );
                None
            }
        }
    }
    pub(super) fn required_str(&mut self, key: &str) -> Option<String> {
        if !self.table.contains_key(key) {
            self.problem(self.header_line, format!("missing required key `{key}`"));
            return None;
        }
        self.optional_str(key)
    }
    pub(super) fn optional_str(&mut self, key: &str) -> Option<String> {
        match self.table.get(key).map(|v| v.get_ref().clone())? {
            Value::String(s) => Some(s.trim().to_string()),
            other => self.wrong_type(key, "a string", &other),
        }
    }
    pub(super) fn required_int(&mut self, key: &str) -> Option<i64> {
        if !self.table.contains_key(key) {
            self.problem(self.header_line, format!("missing required key `{key}`"));
            return None;
        }
        self.optional_int(key)
    }

    pub(super) fn optional_int(&mut self, key: &str) -> Option<i64> {
        match self.table.get(key).map(|v| v.get_ref().clone())? {
            Value::Integer(i) => Some(i),
            other => self.wrong_type(key, "an integer", &other),
        }
    }
    pub(super) fn wrong_type<T>(&mut self, key: &str, expected: &str, found: &Value) -> Option<T> {
        self.problem(
            self.line_of(key),
            format!(
                "{key} must be {expected}, found {} {found}",
                found.type_str()
            ),
        );
        None
    }
    pub(super) fn line_of(&self, key: &str) -> usize {
        self.table
            .get_key_value(key)
            .map_or(self.header_line, |(k, _)| self.lines.line(k.span().start))
    }
    pub(super) fn problem(&mut self, line: usize, message: String) {
        self.problems.push(Problem { line, message });
    }
}

/// Byte offset to 1-based line number.
pub(super) struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        LineIndex(
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
        )
    }

    pub(super) fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}
