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

impl EventSchema {
    pub fn find(kind: &str) -> Option<&'static EventSchema> {
        EVENT_SCHEMAS.iter().find(|s| s.kind == kind)
    }

    pub fn known_kinds() -> String {
        EVENT_SCHEMAS
            .iter()
            .map(|s| s.kind)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
