//! Peer recognition (点赞): a person gives a colleague a few points with a reason, out of a
//! monthly allowance that is not carried over and never costs the giver's balance; at most
//! so many to one colleague a month, and never to oneself.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;

use super::post::{audit, insert};
use super::{Deltas, Entry, EntryKind, LedgerError};
use crate::domain::{Calendar, Explanation, NewEntry, PeriodKind};
use crate::store::StoreTx;

/// The category of recognition entries; their actor is the giver.
pub const RECOGNITION_CATEGORY: &str = "recognition";

/// How much recognition people may give each month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Allowance {
    /// Points a person may give in a month, to everyone together; 0 turns 点赞 off.
    pub monthly: i64,
    /// Points a person may give one colleague in a month.
    pub per_recipient: i64,
}

impl Default for Allowance {
    fn default() -> Self {
        Allowance {
            monthly: 10,
            per_recipient: 5,
        }
    }
}

/// Why recognition was not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrecognised {
    Off,
    Oneself,
    /// Over the monthly allowance: `left` of it remain.
    Allowance {
        left: i64,
    },
    /// Over what one colleague may get from one person a month: `left` remain.
    PerRecipient {
        left: i64,
    },
}

impl std::fmt::Display for Unrecognised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unrecognised::Off => f.write_str("recognition is turned off"),
            Unrecognised::Oneself => f.write_str("nobody recognises themselves"),
            Unrecognised::Allowance { left } => {
                write!(f, "over this month's allowance ({left} left)")
            }
            Unrecognised::PerRecipient { left } => {
                write!(f, "over this month's limit for one colleague ({left} left)")
            }
        }
    }
}

/// What recognition did, and what remains of the giver's allowance this month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recognised {
    pub entry: Entry,
    pub left: i64,
}

/// `giver` gives `recipient` `points` for `reason`, out of their allowance. `source_key`
/// identifies the request: asked twice, given once.
#[allow(clippy::too_many_arguments)]
pub async fn recognise(
    tx: &mut dyn StoreTx,
    calendar: &Calendar,
    allowance: Allowance,
    giver: &str,
    recipient: &str,
    points: i64,
    reason: &str,
    source_key: &str,
    now: Timestamp,
) -> Result<Recognised, LedgerError> {
    let refused = |why| LedgerError::NotRecognised { why };
    if allowance.monthly <= 0 {
        return Err(refused(Unrecognised::Off));
    }
    if giver == recipient {
        return Err(refused(Unrecognised::Oneself));
    }
    if points <= 0 {
        return Err(LedgerError::Invalid("points must be 1 or more".into()));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(LedgerError::Invalid("recognition needs a reason".into()));
    }
    // Both accounts, in one order: the giver's allowance is checked under its lock.
    for userid in BTreeSet::from([giver, recipient]) {
        if tx.lock_account(userid).await?.is_none() {
            return Err(LedgerError::UnknownEmployee(userid.to_string()));
        }
    }
    let month = calendar.period_containing(PeriodKind::Month, now)?;
    let used = tx
        .awarded_by(giver, RECOGNITION_CATEGORY, None, month.start, month.end)
        .await?;
    if let Some(existing) = tx.entry_by_source(source_key, "recognition").await? {
        return Ok(Recognised {
            entry: existing,
            left: allowance.monthly - used,
        });
    }
    if used + points > allowance.monthly {
        return Err(refused(Unrecognised::Allowance {
            left: (allowance.monthly - used).max(0),
        }));
    }
    let to_them = tx
        .awarded_by(
            giver,
            RECOGNITION_CATEGORY,
            Some(recipient),
            month.start,
            month.end,
        )
        .await?;
    if to_them + points > allowance.per_recipient {
        return Err(refused(Unrecognised::PerRecipient {
            left: (allowance.per_recipient - to_them).max(0),
        }));
    }
    let by = tx
        .employee_name(giver)
        .await?
        .unwrap_or_else(|| giver.to_string());
    let entry = NewEntry {
        userid: recipient.to_string(),
        kind: EntryKind::Manual,
        points,
        deltas: Deltas::granted(points),
        source_key: source_key.to_string(),
        rule_key: "recognition".into(),
        rule_id: None,
        rule_version: None,
        actor: Some(giver.to_string()),
        category: RECOGNITION_CATEGORY.into(),
        reverses: None,
        resolves: None,
        explanation: Explanation {
            zh: format!("{by} 点赞：+{points} 积分（{reason}）"),
            en: format!("Thanks from {by}: +{points} (for: {reason})"),
        },
        inputs: json!({ "reason": reason }),
        occurred_at: now,
        posted_at: now,
    };
    let entry = insert(tx, &entry).await?;
    audit(tx, giver, "recognise", &entry, reason, now).await?;
    Ok(Recognised {
        entry,
        left: allowance.monthly - used - points,
    })
}

/// Points one person gave another in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub giver: String,
    pub recipient: String,
    pub points: i64,
}

/// Two people who thanked only each other in a period, with what each gave: worth a look
/// from HR, since recognition meant for the team is then a private exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MutualPair {
    pub a: String,
    pub b: String,
    pub a_to_b: i64,
    pub b_to_a: i64,
}

/// The pairs among `flows` in which each gave to the other and to nobody else.
pub fn mutual_pairs(flows: &[Flow]) -> Vec<MutualPair> {
    use std::collections::BTreeMap;
    let mut given: BTreeMap<&str, Vec<&Flow>> = BTreeMap::new();
    for f in flows.iter().filter(|f| f.points > 0) {
        given.entry(f.giver.as_str()).or_default().push(f);
    }
    let only = |who: &str| match given.get(who).map(Vec::as_slice) {
        Some([one]) => Some(*one),
        _ => None,
    };
    let mut pairs = Vec::new();
    for (a, _) in given.iter() {
        let Some(ab) = only(a) else { continue };
        let b = ab.recipient.as_str();
        if *a < b
            && let Some(ba) = only(b)
            && ba.recipient == *a
        {
            pairs.push(MutualPair {
                a: a.to_string(),
                b: b.to_string(),
                a_to_b: ab.points,
                b_to_a: ba.points,
            });
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::{Flow, mutual_pairs};

    fn flow(giver: &str, recipient: &str, points: i64) -> Flow {
        Flow {
            giver: giver.into(),
            recipient: recipient.into(),
            points,
        }
    }

    #[test]
    fn only_pairs_who_thank_nobody_but_each_other_are_flagged() {
        type Case = (Vec<Flow>, Vec<(&'static str, &'static str)>);
        let cases: [Case; 5] = [
            (vec![flow("a", "b", 5), flow("b", "a", 5)], vec![("a", "b")]),
            (vec![flow("a", "b", 5)], vec![]),
            (
                vec![flow("a", "b", 5), flow("b", "a", 5), flow("a", "c", 1)],
                vec![],
            ),
            (
                vec![
                    flow("a", "b", 2),
                    flow("b", "a", 3),
                    flow("c", "d", 1),
                    flow("d", "c", 1),
                    flow("e", "a", 4),
                ],
                vec![("a", "b"), ("c", "d")],
            ),
            (vec![flow("a", "b", 0), flow("b", "a", 2)], vec![]),
        ];
        for (flows, want) in cases {
            let got: Vec<(String, String)> = mutual_pairs(&flows)
                .into_iter()
                .map(|p| (p.a, p.b))
                .collect();
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            assert_eq!(got, want, "{flows:?}");
        }
    }
}
