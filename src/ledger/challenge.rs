//! Team challenges settled: when a department reached its target in the month, each of its
//! members gets the challenge's points once, in an entry that names the challenge.

use jiff::Timestamp;
use serde_json::json;

use super::post::insert;
use super::{Deltas, Entry, EntryKind, LedgerError};
use crate::domain::{Challenge, Explanation, NewEntry};
use crate::store::StoreTx;

/// The rule id a challenge's entries carry: `challenge.<id>`.
fn challenge_rule_id(challenge: &Challenge) -> String {
    format!("challenge.{}", challenge.id)
}

/// Gives each of `members` the points of `challenge`, which reached `progress` of its
/// target, once; returns the new entries. Booked at `at`, the end of its month.
pub async fn reward_challenge(
    tx: &mut dyn StoreTx,
    challenge: &Challenge,
    members: &[String],
    progress: i64,
    at: Timestamp,
    now: Timestamp,
) -> Result<Vec<Entry>, LedgerError> {
    let mut posted = Vec::new();
    if challenge.points <= 0 || progress < challenge.target {
        return Ok(posted);
    }
    let rule_id = challenge_rule_id(challenge);
    for userid in members {
        let source_key = format!("challenge:{}:{userid}", challenge.id);
        if tx.lock_account(userid).await?.is_none()
            || tx.entry_by_source(&source_key, &rule_id).await?.is_some()
        {
            continue;
        }
        let points = challenge.points;
        let entry = NewEntry {
            userid: userid.clone(),
            kind: EntryKind::Rule,
            points,
            deltas: Deltas::granted(points),
            source_key,
            rule_key: rule_id.clone(),
            rule_id: Some(rule_id.clone()),
            rule_version: Some(1),
            actor: None,
            category: "challenge".into(),
            reverses: None,
            resolves: None,
            explanation: Explanation {
                zh: format!(
                    "团队挑战「{}」达成（{} 月 {progress}/{} 分）：每人 +{points} 积分",
                    challenge.name, challenge.month, challenge.target
                ),
                en: format!(
                    "Team challenge \"{}\" reached ({}: {progress} of {}): +{points} each",
                    challenge.name_en, challenge.month, challenge.target
                ),
            },
            inputs: json!({ "challenge": challenge.id, "progress": progress, "target": challenge.target }),
            occurred_at: at,
            posted_at: now,
        };
        posted.push(insert(tx, &entry).await?);
    }
    Ok(posted)
}
