//! Points rules: which events earn or cost points, how many, for whom, within which caps.
//! Loaded from `config/rules.toml`, checked with line numbers, evaluated purely: the same
//! rules and event always give the same proposals, and nothing here touches the database.

mod badges;
mod caps;
mod eval;
mod expr;
mod load;
pub mod plain;
mod rewards;
mod table;

use jiff::civil::Date;
use serde::Serialize;

pub use badges::{BadgesError, load_badges, load_badges_file};
pub use caps::{CapCheck, CapLimit, apply_caps};
pub use eval::{Award, Outcome, evaluate, scope_allows};
pub use expr::Condition;
pub use load::{RulesError, load_rules, load_rules_file};
pub use rewards::{CatalogueError, MAX_COST, load_catalogue, load_catalogue_file};
pub use table::Problem;

/// A validated rules file.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// The event types other systems may post, as the file declares them.
    pub event_types: Vec<crate::domain::ExternalEventType>,
}

impl RuleSet {
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn event_type(&self, kind: &str) -> Option<&crate::domain::ExternalEventType> {
        self.event_types.iter().find(|t| t.kind == kind)
    }
}

#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub name_en: String,
    pub category: String,
    pub version: u32,
    /// The domain event type this rule matches, e.g. `attendance.checked`.
    pub event: String,
    pub when: Option<Condition>,
    pub points: Points,
    /// Field holding who receives the points (one userid, or a list: each of them gets
    /// them); `None` means the event's person.
    pub target: Option<FieldPath>,
    /// Field quoted in the explanation, e.g. the approval's title.
    pub detail: Option<FieldPath>,
    pub caps: Vec<CapLimit>,
    /// Department ids (including their sub-departments) the rule applies to; empty means all.
    pub departments: Vec<String>,
    /// First local date the rule applies on (inclusive).
    pub effective_from: Option<Date>,
    /// Last local date the rule applies on (inclusive).
    pub effective_until: Option<Date>,
    pub review: bool,
    /// Refuses an event whose own person is among its targets (a form naming its originator).
    pub refuse_self: bool,
    pub notify: NotifyPolicy,
    /// Line of the rule's `[[rule]]` header in the file it came from.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Points {
    Fixed(i64),
    /// Taken from an event field (a number or a numeric string), clamped to `[min, max]`.
    Field {
        path: FieldPath,
        min: i64,
        max: i64,
    },
}

/// A dotted path into the event's data, e.g. `form.amount` or `form.受益人`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(pub Vec<String>);

impl FieldPath {
    pub fn parse(s: &str) -> Option<FieldPath> {
        let parts: Vec<String> = s.split('.').map(|p| p.trim().to_string()).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(FieldPath(parts))
    }

    pub fn root(&self) -> &str {
        &self.0[0]
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NotifyPolicy {
    /// A work notification for each entry, as soon as it is posted.
    #[default]
    Immediate,
    /// One message per person per day summarising the day's entries.
    Digest,
    None,
}

impl NotifyPolicy {
    pub fn parse(s: &str) -> Option<NotifyPolicy> {
        match s {
            "immediate" => Some(NotifyPolicy::Immediate),
            "digest" => Some(NotifyPolicy::Digest),
            "none" => Some(NotifyPolicy::None),
            _ => None,
        }
    }
}
