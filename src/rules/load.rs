//! Reading `rules.toml`: every problem is reported at once, each with its line, so HR can fix
//! a file in one pass. A file with any problem yields no rules at all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Spanned, Value};

use super::table::{self, Fields, Problem, Table};
use super::{CapLimit, Condition, FieldPath, NotifyPolicy, Points, Rule, RuleSet};
use crate::domain::event::COMMON_VARIABLES;
use crate::domain::{EventSchema, ExternalEventType, FieldType, PeriodKind};

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has {} problem{}:\n{}", .problems.len(), if .problems.len() == 1 { "" } else { "s" },
        table::listed(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

const EVENT_TYPE_KEYS: &[&str] = &["name", "fields"];

const RULE_KEYS: &[&str] = &[
    "id",
    "name",
    "name_en",
    "description",
    "category",
    "version",
    "event",
    "when",
    "points",
    "target",
    "detail",
    "caps",
    "departments",
    "effective_from",
    "effective_until",
    "review",
    "notify",
    "refuse_self",
];

pub fn load_rules_file(path: &Path) -> Result<RuleSet, RulesError> {
    let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_rules(&text).map_err(|problems| RulesError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

/// Parses and validates a rules file; `Err` lists every problem found, in line order.
pub fn load_rules(text: &str) -> Result<RuleSet, Vec<Problem>> {
    #[derive(Deserialize)]
    struct RawFile {
        #[serde(default)]
        rule: Vec<Spanned<Table>>,
        #[serde(default)]
        event_type: Vec<Spanned<Table>>,
    }
    let table::Parsed {
        lines,
        tables,
        mut problems,
    } = table::tables(text, &["rule", "event_type"], |f: RawFile| {
        vec![f.rule, f.event_type]
    })?;
    let mut tables = tables.into_iter();
    let (rule_tables, type_tables) = (
        tables.next().unwrap_or_default(),
        tables.next().unwrap_or_default(),
    );
    let mut event_types: Vec<ExternalEventType> = Vec::new();
    for (header_line, table) in type_tables {
        let mut fields = Fields {
            lines: &lines,
            header_line,
            table,
            problems: &mut problems,
        };
        let Some(declared) = fields.event_type() else {
            continue;
        };
        if let Some(first) = event_types.iter().find(|t| t.kind == declared.kind) {
            problems.push(Problem {
                line: declared.line,
                message: format!(
                    "event type `{}` is declared twice, first at line {}",
                    declared.kind, first.line
                ),
            });
        } else {
            event_types.push(declared);
        }
    }
    let mut rules = Vec::new();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    for (header_line, table) in rule_tables {
        let mut fields = Fields {
            lines: &lines,
            header_line,
            table,
            problems: &mut problems,
        };
        if let Some(rule) = fields.rule(&event_types) {
            if let Some(first) = first_line_of.get(&rule.id) {
                problems.push(Problem {
                    line: rule.line,
                    message: format!(
                        "duplicate rule id `{}`, first defined at line {first}",
                        rule.id
                    ),
                });
            } else {
                first_line_of.insert(rule.id.clone(), rule.line);
                rules.push(rule);
            }
        }
    }
    if problems.is_empty() {
        Ok(RuleSet { rules, event_types })
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

impl Fields<'_> {
    /// `[[event_type]]`: `name = "mes.safety_inspection"`, `fields = { line = "text", … }`.
    fn event_type(&mut self) -> Option<ExternalEventType> {
        self.unknown_keys(EVENT_TYPE_KEYS, "an event type");
        let kind = self.required_str("name").and_then(|kind| {
            let well_formed = kind.contains('.')
                && kind
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c));
            if EventSchema::is_dingtalk(&kind) {
                self.problem(
                    self.line_of("name"),
                    format!("`{kind}` is made by jifen from DingTalk's events; another system cannot post it"),
                );
                None
            } else if !well_formed {
                self.problem(
                    self.line_of("name"),
                    format!("event type `{kind}` must be lowercase words joined by dots, e.g. mes.safety_inspection"),
                );
                None
            } else {
                Some(kind)
            }
        });
        let fields = match self.table.get("fields").map(|v| v.get_ref().clone()) {
            None => {
                self.problem(self.header_line, "missing required key `fields`".into());
                None
            }
            Some(Value::Table(declared)) => {
                let mut fields = Vec::new();
                let mut ok = true;
                for (name, kind) in declared {
                    match kind.as_str().and_then(FieldType::parse) {
                        Some(kind) if !COMMON_VARIABLES.contains(&name.as_str()) => {
                            fields.push((name, kind))
                        }
                        Some(_) => {
                            ok = false;
                            self.problem(
                                self.line_of("fields"),
                                format!("field `{name}` is a variable every event has; name it otherwise"),
                            );
                        }
                        None => {
                            ok = false;
                            self.problem(
                                self.line_of("fields"),
                                format!("field `{name}` must be \"number\", \"text\" or \"flag\", found {kind}"),
                            );
                        }
                    }
                }
                ok.then_some(fields)
            }
            Some(other) => self.wrong_type(
                "fields",
                "a table of field names and types, e.g. { line = \"text\", score = \"number\" }",
                &other,
            ),
        };
        Some(ExternalEventType {
            kind: kind?,
            fields: fields?,
            line: self.header_line,
        })
    }

    fn rule(&mut self, event_types: &[ExternalEventType]) -> Option<Rule> {
        self.unknown_keys(RULE_KEYS, "a rule");
        let id = self.id();
        let name = self.required_str("name");
        let name_en = self.optional_str("name_en");
        let category = self
            .optional_str("category")
            .unwrap_or_else(|| "general".into());
        let version = match self.optional_int("version") {
            None => Some(1),
            Some(v) if v >= 1 && v <= i64::from(u32::MAX) => Some(v as u32),
            Some(v) => {
                self.problem(
                    self.line_of("version"),
                    format!("version must be 1 or more, found {v}"),
                );
                None
            }
        };
        let event = self.required_str("event");
        // The fields of the event type, from jifen's own or from the file's declarations.
        let schema: Option<Vec<&str>> = event.as_deref().and_then(|kind| {
            if let Some(schema) = EventSchema::find(kind) {
                return Some(schema.fields.to_vec());
            }
            if let Some(declared) = event_types.iter().find(|t| t.kind == kind) {
                return Some(declared.fields.iter().map(|(f, _)| f.as_str()).collect());
            }
            let declared: Vec<&str> = event_types.iter().map(|t| t.kind.as_str()).collect();
            self.problem(
                self.line_of("event"),
                format!(
                    "unknown event type `{kind}`; known: {}{}{}",
                    EventSchema::known_kinds(),
                    if declared.is_empty() { "" } else { ", " },
                    declared.join(", ")
                ),
            );
            None
        });
        let event_known = schema.is_some();
        let known_vars: Vec<&str> = schema
            .map(|fields| {
                fields
                    .into_iter()
                    .chain(COMMON_VARIABLES.iter().copied())
                    .collect()
            })
            .unwrap_or_default();

        let when = self.optional_str("when").and_then(|source| {
            let kind = event.as_deref().filter(|_| event_known)?;
            Condition::compile(&source, &known_vars)
                .map_err(|e| self.problem(self.line_of("when"), format!("{e} (event {kind})")))
                .ok()
        });
        let points = self.points(&known_vars, event_known);
        let target = self.field_path("target", &known_vars, event_known);
        let detail = self.field_path("detail", &known_vars, event_known);
        let caps = self.caps();
        let departments = self.departments();
        let effective_from = self.date("effective_from");
        let effective_until = self.date("effective_until");
        if let (Some(Some(from)), Some(Some(until))) = (&effective_from, &effective_until)
            && from > until
        {
            self.problem(
                self.line_of("effective_until"),
                format!("effective_until {until} is before effective_from {from}: the rule could never apply"),
            );
        }
        let review = self.flag("review");
        let refuse_self = self.flag("refuse_self");
        if refuse_self == Some(true) && matches!(target, Some(None)) {
            self.problem(
                self.line_of("refuse_self"),
                "refuse_self needs a `target`: it refuses an event whose person names themself"
                    .into(),
            );
        }
        let notify = match self.optional_str("notify") {
            None => Some(NotifyPolicy::default()),
            Some(s) => NotifyPolicy::parse(&s).or_else(|| {
                self.problem(
                    self.line_of("notify"),
                    format!("notify must be immediate, digest or none, found `{s}`"),
                );
                None
            }),
        };

        let name = name?;
        Some(Rule {
            id: id?,
            name_en: name_en.unwrap_or_else(|| name.clone()),
            name,
            category,
            version: version?,
            event: event?,
            when,
            points: points?,
            target: target?,
            detail: detail?,
            caps: caps?,
            departments: departments?,
            effective_from: effective_from?,
            effective_until: effective_until?,
            review: review?,
            refuse_self: refuse_self?,
            notify: notify?,
            line: self.header_line,
        })
        .filter(|_| event_known)
    }

    fn points(&mut self, known: &[&str], event_known: bool) -> Option<Points> {
        let line = self.line_of("points");
        let value = match self.table.get("points") {
            None => {
                self.problem(self.header_line, "missing required key `points`".into());
                return None;
            }
            Some(v) => v.get_ref().clone(),
        };
        match value {
            Value::Integer(0) => {
                self.problem(
                    line,
                    "points = 0 never changes anything; remove the rule or give it points".into(),
                );
                None
            }
            Value::Integer(p) => Some(Points::Fixed(p)),
            Value::Table(t) => {
                let mut ok = true;
                for key in t
                    .keys()
                    .filter(|k| !["field", "min", "max"].contains(&k.as_str()))
                {
                    self.problem(line, format!("unknown key `points.{key}`; points from a field take field, min and max"));
                    ok = false;
                }
                let field = t
                    .get("field")
                    .and_then(Value::as_str)
                    .and_then(FieldPath::parse);
                let min = t.get("min").and_then(Value::as_integer);
                let max = t.get("max").and_then(Value::as_integer);
                let (Some(field), Some(min), Some(max)) = (field, min, max) else {
                    self.problem(line, "points from a field need field = \"form.…\", min = <integer> and max = <integer>".into());
                    return None;
                };
                if min > max {
                    self.problem(
                        line,
                        format!(
                            "impossible bounds: points.min {min} is greater than points.max {max}"
                        ),
                    );
                    ok = false;
                } else if min == 0 && max == 0 {
                    self.problem(
                        line,
                        "points.min and points.max are both 0: the rule could never give points"
                            .into(),
                    );
                    ok = false;
                }
                if event_known && !known.contains(&field.root()) {
                    self.problem(
                        line,
                        format!(
                            "points.field `{field}` is not a field of this event; it has: {}",
                            known.join(", ")
                        ),
                    );
                    ok = false;
                }
                ok.then_some(Points::Field {
                    path: field,
                    min,
                    max,
                })
            }
            other => self.wrong_type(
                "points",
                "an integer, or { field = \"…\", min = …, max = … }",
                &other,
            ),
        }
    }

    /// `Some(None)` when the key is absent, `None` on a problem.
    fn field_path(
        &mut self,
        key: &str,
        known: &[&str],
        event_known: bool,
    ) -> Option<Option<FieldPath>> {
        let Some(text) = self.optional_str(key) else {
            return if self.table.contains_key(key) {
                None
            } else {
                Some(None)
            };
        };
        let line = self.line_of(key);
        let Some(path) = FieldPath::parse(&text) else {
            self.problem(
                line,
                format!("{key} `{text}` is not a field path like form.amount"),
            );
            return None;
        };
        if event_known && !known.contains(&path.root()) {
            self.problem(
                line,
                format!(
                    "{key} `{path}` is not a field of this event; it has: {}",
                    known.join(", ")
                ),
            );
            return None;
        }
        Some(Some(path))
    }

    fn caps(&mut self) -> Option<Vec<CapLimit>> {
        let line = self.line_of("caps");
        let table = match self.table.get("caps").map(|v| v.get_ref().clone()) {
            None => return Some(Vec::new()),
            Some(Value::Table(t)) => t,
            Some(other) => {
                return self.wrong_type("caps", "a table like { day = 2, month = 22 }", &other);
            }
        };
        let mut caps = Vec::new();
        let mut ok = true;
        for (key, value) in &table {
            let Some(period) = PeriodKind::ALL.into_iter().find(|p| p.name() == key) else {
                self.problem(
                    line,
                    format!(
                        "unknown cap period `caps.{key}`; use day, week, month, quarter or year"
                    ),
                );
                ok = false;
                continue;
            };
            match value.as_integer() {
                Some(limit) if limit > 0 => caps.push(CapLimit { period, limit }),
                _ => {
                    self.problem(
                        line,
                        format!("caps.{key} must be a positive integer, found {value}"),
                    );
                    ok = false;
                }
            }
        }
        caps.sort_by_key(|c| c.period);
        ok.then_some(caps)
    }
}
