//! What the ledger records: immutable entries, each changing a person's three totals by its
//! deltas, and the account those totals form. Invariant: an account equals the sum of the
//! deltas of its entries.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value as Json;

/// The longest reason a person may give for an entry they make (an award, a reversal…):
/// explanations quote it, and a page of them must stay readable.
pub const MAX_REASON_CHARS: usize = 200;

/// What an entry says about itself, in Chinese and English (invariant 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Explanation {
    pub zh: String,
    pub en: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// Posted by a rule for an event.
    Rule,
    /// Posted by a person (an HR award or deduction).
    Manual,
    /// Takes back what an earlier entry granted.
    Reversal,
    /// Turns a pending entry's points into score and balance.
    Approval,
    /// Drops a pending entry's points.
    Rejection,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Rule => "rule",
            EntryKind::Manual => "manual",
            EntryKind::Reversal => "reversal",
            EntryKind::Approval => "approval",
            EntryKind::Rejection => "rejection",
        }
    }

    pub fn parse(s: &str) -> Option<EntryKind> {
        [
            EntryKind::Rule,
            EntryKind::Manual,
            EntryKind::Reversal,
            EntryKind::Approval,
            EntryKind::Rejection,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// How an entry moves the three totals of its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Deltas {
    /// 累计积分: counts for ranking, promotion and year-end review.
    pub score: i64,
    /// 可用积分: spendable on rewards.
    pub balance: i64,
    /// Awarded but waiting for review.
    pub pending: i64,
}

impl Deltas {
    pub fn granted(points: i64) -> Deltas {
        Deltas {
            score: points,
            balance: points,
            pending: 0,
        }
    }

    pub fn held(points: i64) -> Deltas {
        Deltas {
            score: 0,
            balance: 0,
            pending: points,
        }
    }
}

/// An entry about to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub userid: String,
    pub kind: EntryKind,
    /// The amount shown to people: what the rule or person gave, after caps.
    pub points: i64,
    pub deltas: Deltas,
    /// Identity of what caused the entry; with `rule_key`, unique across the ledger.
    pub source_key: String,
    /// The rule id, or the kind for entries no rule made.
    pub rule_key: String,
    pub rule_id: Option<String>,
    pub rule_version: Option<u32>,
    /// The person who made the entry, for entries no rule made.
    pub actor: Option<String>,
    pub category: String,
    pub reverses: Option<i64>,
    pub resolves: Option<i64>,
    pub explanation: Explanation,
    pub inputs: Json,
    pub occurred_at: Timestamp,
    pub posted_at: Timestamp,
}

/// A stored entry, with what later entries did to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub id: i64,
    pub userid: String,
    pub kind: EntryKind,
    pub points: i64,
    pub deltas: Deltas,
    pub source_key: String,
    pub rule_id: Option<String>,
    pub rule_version: Option<u32>,
    pub actor: Option<String>,
    pub category: String,
    pub reverses: Option<i64>,
    pub resolves: Option<i64>,
    pub explanation: Explanation,
    pub inputs: Json,
    pub occurred_at: Timestamp,
    pub posted_at: Timestamp,
    /// The entry that reversed this one.
    pub reversed_by: Option<i64>,
    /// The approval or rejection of this pending entry.
    pub resolved_by: Option<i64>,
    /// Whether that decision approved the points.
    pub approved: Option<bool>,
}

impl Entry {
    /// Still waiting for an HR decision.
    pub fn is_pending(&self) -> bool {
        self.deltas.pending != 0
            && matches!(self.kind, EntryKind::Rule | EntryKind::Manual)
            && self.resolved_by.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Totals {
    pub score: i64,
    pub balance: i64,
    pub pending: i64,
}

impl Totals {
    pub fn add(&mut self, d: Deltas) {
        self.score += d.score;
        self.balance += d.balance;
        self.pending += d.pending;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub userid: String,
    #[serde(flatten)]
    pub totals: Totals,
}
