//! Ledger rows as both databases return them, and their conversion to domain types. Times
//! are stored as Unix milliseconds so that both dialects compare and index them alike.

use jiff::Timestamp;

use super::StoreError;
use super::ledger::Mismatch;
use crate::domain::{Account, Deltas, Entry, EntryKind, Explanation, Totals};

/// Columns of [`EntryRow`], with what later entries did to each (`r` reversed, `s` resolved).
pub(super) const ENTRY_SELECT: &str = "SELECT e.id, e.userid, e.kind, e.points, e.score_delta, e.balance_delta, \
     e.pending_delta, e.source_key, e.rule_id, e.rule_version, e.actor, e.category, e.reverses, \
     e.resolves, e.explanation_zh, e.explanation_en, e.inputs, e.occurred_at, e.posted_at, \
     r.id AS reversed_by, s.id AS resolved_by, s.kind AS resolved_kind \
     FROM ledger_entries e \
     LEFT JOIN ledger_entries r ON r.reverses = e.id \
     LEFT JOIN ledger_entries s ON s.resolves = e.id";

#[derive(sqlx::FromRow)]
pub(super) struct EntryRow {
    id: i64,
    userid: String,
    kind: String,
    points: i64,
    score_delta: i64,
    balance_delta: i64,
    pending_delta: i64,
    source_key: String,
    rule_id: Option<String>,
    rule_version: Option<i64>,
    actor: Option<String>,
    category: String,
    reverses: Option<i64>,
    resolves: Option<i64>,
    explanation_zh: String,
    explanation_en: String,
    inputs: String,
    occurred_at: i64,
    posted_at: i64,
    reversed_by: Option<i64>,
    resolved_by: Option<i64>,
    resolved_kind: Option<String>,
}

impl TryFrom<EntryRow> for Entry {
    type Error = StoreError;

    fn try_from(r: EntryRow) -> Result<Entry, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("ledger entry {}: {what}", r.id));
        Ok(Entry {
            id: r.id,
            kind: EntryKind::parse(&r.kind).ok_or_else(|| corrupt("unknown kind"))?,
            points: r.points,
            deltas: Deltas {
                score: r.score_delta,
                balance: r.balance_delta,
                pending: r.pending_delta,
            },
            rule_version: r
                .rule_version
                .map(u32::try_from)
                .transpose()
                .map_err(|_| corrupt("rule version out of range"))?,
            inputs: serde_json::from_str(&r.inputs).map_err(|_| corrupt("inputs are not JSON"))?,
            occurred_at: millis(r.occurred_at)
                .ok_or_else(|| corrupt("occurred_at out of range"))?,
            posted_at: millis(r.posted_at).ok_or_else(|| corrupt("posted_at out of range"))?,
            userid: r.userid,
            source_key: r.source_key,
            rule_id: r.rule_id,
            actor: r.actor,
            category: r.category,
            reverses: r.reverses,
            resolves: r.resolves,
            explanation: Explanation {
                zh: r.explanation_zh,
                en: r.explanation_en,
            },
            reversed_by: r.reversed_by,
            resolved_by: r.resolved_by,
            approved: match r.resolved_kind.as_deref() {
                None => None,
                Some("approval") => Some(true),
                Some("rejection") => Some(false),
                Some(_) => return Err(corrupt("resolved by an entry that is not a decision")),
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AccountRow {
    userid: String,
    score: i64,
    balance: i64,
    pending: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct RankedRow {
    name: String,
    #[sqlx(flatten)]
    account: AccountRow,
}

impl From<RankedRow> for (Account, String) {
    fn from(r: RankedRow) -> (Account, String) {
        (r.account.into(), r.name)
    }
}

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Account {
        Account {
            userid: r.userid,
            totals: Totals {
                score: r.score,
                balance: r.balance,
                pending: r.pending,
            },
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MismatchRow {
    userid: String,
    score: i64,
    balance: i64,
    pending: i64,
    sum_score: i64,
    sum_balance: i64,
    sum_pending: i64,
}

impl From<MismatchRow> for Mismatch {
    fn from(r: MismatchRow) -> Mismatch {
        Mismatch {
            userid: r.userid,
            stored: Totals {
                score: r.score,
                balance: r.balance,
                pending: r.pending,
            },
            summed: Totals {
                score: r.sum_score,
                balance: r.sum_balance,
                pending: r.sum_pending,
            },
        }
    }
}

pub(super) fn millis(ms: i64) -> Option<Timestamp> {
    Timestamp::from_millisecond(ms).ok()
}

/// A time as the database keeps it: whole milliseconds.
pub(crate) fn stored_time(t: Timestamp) -> Timestamp {
    millis(t.as_millisecond()).unwrap_or(t)
}
