//! Domain events: what happened, stripped of DingTalk's wire format. Rules match on them, and
//! the ledger records their `source_key` so that one event has its effects at most once.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// One thing that happened to one person, ready for the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainEvent {
    /// One of [`EVENT_SCHEMAS`], e.g. `attendance.checked`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Stable identity of the source event (e.g. the DingTalk process instance id); the
    /// ledger refuses a second posting of the same key for the same rule.
    pub source_key: String,
    /// The person the event is about (the approval's originator, the one who checked in).
    pub userid: String,
    pub occurred_at: Timestamp,
    /// The person's departments, when the producer knows them; otherwise the ledger looks
    /// them up. Used for rule scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub departments: Vec<String>,
    /// Event fields that rule conditions and point formulas read.
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// What became of one planned check, as `attendance.checked` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckResult<'a> {
    pub userid: &'a str,
    pub work_date: Date,
    /// `OnDuty` or `OffDuty`.
    pub check_type: &'a str,
    /// `on_time`, `late`, `early` or `missing`.
    pub result: &'a str,
    pub minutes_late: i64,
    /// When it was made, or (missed) when it was due.
    pub at: Timestamp,
}

impl CheckResult<'_> {
    /// The event, keyed by person, day and check type: a check posts once, whether its
    /// callback, the daily reconcile or month close tells of it.
    pub fn event(&self) -> DomainEvent {
        let data = json!({
            "result": self.result,
            "check_type": self.check_type,
            "minutes_late": self.minutes_late,
            "work_date": self.work_date.to_string(),
        });
        DomainEvent {
            kind: "attendance.checked".into(),
            source_key: format!("att:{}:{}:{}", self.userid, self.work_date, self.check_type),
            userid: self.userid.to_string(),
            occurred_at: self.at,
            departments: vec![],
            data: match data {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }
}

/// The fields an event type carries, so `rules check` can refuse a condition that names a
/// field the event will never have.
#[derive(Debug)]
pub struct EventSchema {
    pub kind: &'static str,
    pub fields: &'static [&'static str],
}

/// Variables every condition can use, whatever the event type.
pub const COMMON_VARIABLES: &[&str] = &["userid", "date", "weekday"];

pub const EVENT_SCHEMAS: &[EventSchema] = &[
    EventSchema {
        kind: "attendance.checked",
        fields: &["result", "check_type", "minutes_late", "work_date"],
    },
    EventSchema {
        kind: "attendance.month_summary",
        fields: &[
            "month",
            "working_days",
            "late_count",
            "missing_count",
            "absent_days",
            "leave_days",
        ],
    },
    EventSchema {
        kind: "approval.approved",
        fields: &[
            "process_code",
            "process_instance_id",
            "title",
            "originator",
            "form",
        ],
    },
];

/// What a field of an event type from another system holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Number,
    Text,
    Flag,
}

impl FieldType {
    pub fn parse(text: &str) -> Option<FieldType> {
        match text {
            "number" => Some(FieldType::Number),
            "text" => Some(FieldType::Text),
            "flag" => Some(FieldType::Flag),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::Number => "number",
            FieldType::Text => "text",
            FieldType::Flag => "flag",
        }
    }

    pub fn holds(self, value: &Value) -> bool {
        match self {
            FieldType::Number => value.is_number(),
            FieldType::Text => value.is_string(),
            FieldType::Flag => value.is_boolean(),
        }
    }
}

/// An event type other systems post (`POST /api/v1/events`), declared in the rules file as
/// an `[[event_type]]`: its name and its fields, each required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalEventType {
    pub kind: String,
    pub fields: Vec<(String, FieldType)>,
    pub line: usize,
}

/// Why posted event data does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataMismatch {
    #[error("data.{0} is missing")]
    Missing(String),
    #[error("data.{field} must be a {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("data.{field} is not a field of {kind}; it has {known}")]
    Unknown {
        field: String,
        kind: String,
        known: String,
    },
}

impl ExternalEventType {
    /// Every way `data` does not fit this type; empty when it does.
    pub fn check(&self, data: &Map<String, Value>) -> Vec<DataMismatch> {
        let mut wrong = Vec::new();
        for (field, kind) in &self.fields {
            match data.get(field) {
                None => wrong.push(DataMismatch::Missing(field.clone())),
                Some(value) if !kind.holds(value) => wrong.push(DataMismatch::WrongType {
                    field: field.clone(),
                    expected: kind.name(),
                }),
                Some(_) => {}
            }
        }
        for field in data.keys() {
            if !self.fields.iter().any(|(f, _)| f == field) {
                wrong.push(DataMismatch::Unknown {
                    field: field.clone(),
                    kind: self.kind.clone(),
                    known: self
                        .fields
                        .iter()
                        .map(|(f, _)| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        wrong
    }
}

impl EventSchema {
    pub fn find(kind: &str) -> Option<&'static EventSchema> {
        EVENT_SCHEMAS.iter().find(|s| s.kind == kind)
    }

    /// Whether `kind` is one jifen makes from DingTalk's events (no other system posts it).
    pub fn is_dingtalk(kind: &str) -> bool {
        EventSchema::find(kind).is_some()
    }

    pub fn known_kinds() -> String {
        EVENT_SCHEMAS
            .iter()
            .map(|s| s.kind)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_data_must_have_each_field_of_its_type_and_no_other() {
        let inspection = ExternalEventType {
            kind: "mes.safety_inspection".into(),
            fields: vec![
                ("line".into(), FieldType::Text),
                ("score".into(), FieldType::Number),
                ("passed".into(), FieldType::Flag),
            ],
            line: 1,
        };
        let data = |v: Value| match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let cases = [
            (json!({"line": "L3", "score": 98, "passed": true}), vec![]),
            (
                json!({"line": "L3", "passed": true}),
                vec!["data.score is missing"],
            ),
            (
                json!({"line": 3, "score": "98", "passed": true}),
                vec!["data.line must be a text", "data.score must be a number"],
            ),
            (
                json!({"line": "L3", "score": 98, "passed": true, "shift": "night"}),
                vec![
                    "data.shift is not a field of mes.safety_inspection; it has line, score, passed",
                ],
            ),
        ];
        for (given, want) in cases {
            let said: Vec<String> = inspection
                .check(&data(given.clone()))
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(said, want, "{given}");
        }
    }
}
