//! Taking back what an event posted when DingTalk withdraws its source (an approval
//! terminated or revoked after it was approved): what it granted is reversed, what still
//! waits for review is rejected, and what was already taken back is left as it is.

use jiff::Timestamp;

use super::post::{Decision, Reason, resolve, reverse};
use super::{Entry, EntryKind, LedgerError};
use crate::store::StoreTx;

/// Undoes every entry posted for `source_key`; returns the entries that did it (none when
/// the event posted nothing, or was withdrawn before). Safe to run twice.
pub async fn withdraw_event(
    tx: &mut dyn StoreTx,
    source_key: &str,
    actor: &str,
    reason: Reason<'_>,
    now: Timestamp,
) -> Result<Vec<Entry>, LedgerError> {
    let mut undone = Vec::new();
    for entry in tx.entries_by_source(source_key).await? {
        if let Some(by) = undo(tx, &entry, actor, reason, now).await? {
            undone.push(by);
        }
    }
    Ok(undone)
}

/// The entry that takes `entry` back, if anything is left to take back.
async fn undo(
    tx: &mut dyn StoreTx,
    entry: &Entry,
    actor: &str,
    reason: Reason<'_>,
    now: Timestamp,
) -> Result<Option<Entry>, LedgerError> {
    if entry.reversed_by.is_some() || entry.deltas == Default::default() {
        return Ok(None);
    }
    if entry.deltas.pending == 0 {
        return reverse(tx, entry.id, actor, reason, now).await.map(Some);
    }
    let Some(decided_by) = entry.resolved_by else {
        return resolve(tx, entry.id, Decision::Reject, actor, reason, now)
            .await
            .map(Some);
    };
    // Held for review and decided: an approval granted the points, so that is what to reverse.
    match tx.entry(decided_by).await? {
        Some(decision)
            if decision.kind == EntryKind::Approval && decision.reversed_by.is_none() =>
        {
            reverse(tx, decision.id, actor, reason, now).await.map(Some)
        }
        _ => Ok(None),
    }
}
