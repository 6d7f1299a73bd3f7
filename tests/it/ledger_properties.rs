//! Property tests of DESIGN.md's invariants under random sequences of posts, redeliveries,
//! manual awards, reversals, review decisions, redemptions with their refunds, and appeals,
//! on SQLite and on PostgreSQL: (1) an account equals the sum of its entries, (2) one source
//! event has its effects at most once, (3) a redemption never takes the balance below zero,
//! and (4) entries never change (a correction is a new entry).

use crate::support;

use std::collections::{BTreeMap, HashSet};

use jifen::domain::DomainEvent;
use jifen::ledger::{self, Decision, Entry, EntryKind, ManualPost, Posting, RuleResult, Totals};
use jifen::rules::{RuleSet, load_rules};
use jifen::store::Store;
use jiff::Timestamp;
use proptest::prelude::*;
use serde_json::json;
use support::{TestDb, seed_org, shanghai};

const PEOPLE: [&str; 3] = ["zhangwei", "wangfang", "lina"];

const RULES: &str = r#"
[[rule]]
id = "granted"
name = "奖扣申请"
event = "approval.approved"
when = 'process_code == "PROC-GRANT"'
points = { field = "form.amount", min = -20, max = 20 }
target = "form.who"
caps = { month = 30 }

[[rule]]
id = "reviewed"
name = "知识分享"
event = "approval.approved"
when = 'process_code == "PROC-REVIEW"'
points = { field = "form.amount", min = 1, max = 20 }
target = "form.who"
review = true
"#;

#[derive(Debug, Clone)]
enum Op {
    /// Deliver approval `source` (a small space, so redeliveries are common).
    Post {
        source: u8,
        person: usize,
        amount: i64,
        review: bool,
    },
    Manual {
        source: u8,
        person: usize,
        points: i64,
    },
    Reverse {
        pick: usize,
    },
    Decide {
        pick: usize,
        approve: bool,
    },
    /// Redeem the one reward (5 points, stock 3) under request `source`.
    Redeem {
        source: u8,
        person: usize,
    },
    /// A step on one of the redemptions made so far.
    Step {
        pick: usize,
        step: usize,
    },
    Appeal {
        pick: usize,
    },
    /// Decide one of the appeals filed so far: uphold (all, or `part`), or reject.
    Judge {
        pick: usize,
        uphold: bool,
        part: Option<i64>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..8, 0usize..3, -20i64..=20, any::<bool>())
            .prop_map(|(source, person, amount, review)| Op::Post { source, person, amount: if amount == 0 { 1 } else { amount }, review }),
        1 => (0u8..4, 0usize..3, prop_oneof![-9i64..=-1, 1i64..=9])
            .prop_map(|(source, person, points)| Op::Manual { source, person, points }),
        2 => any::<usize>().prop_map(|pick| Op::Reverse { pick }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, approve)| Op::Decide { pick, approve }),
        2 => (0u8..6, 0usize..3).prop_map(|(source, person)| Op::Redeem { source, person }),
        2 => (any::<usize>(), 0usize..4).prop_map(|(pick, step)| Op::Step { pick, step }),
        1 => any::<usize>().prop_map(|pick| Op::Appeal { pick }),
        1 => (any::<usize>(), any::<bool>(), prop::option::of(1i64..=5))
            .prop_map(|(pick, uphold, part)| Op::Judge { pick, uphold, part }),
    ]
}

/// An entry's own fields, which must never change after it is written.
fn immutable_part(e: &Entry) -> Entry {
    Entry {
        reversed_by: None,
        resolved_by: None,
        approved: None,
        ..e.clone()
    }
}

/// The second half of the ledger's idempotency key, (source key, rule key).
fn rule_key(e: &Entry) -> String {
    for prefix in ["redemption", "refund", "appeal"] {
        if e.source_key.starts_with(&format!("{prefix}:")) {
            return prefix.into();
        }
    }
    match e.kind {
        EntryKind::Rule => e.rule_id.clone().unwrap_or_default(),
        EntryKind::Manual => "manual".into(),
        EntryKind::Reversal => "reversal".into(),
        EntryKind::Approval | EntryKind::Rejection => "resolution".into(),
    }
}

async fn all_entries(store: &dyn Store) -> BTreeMap<i64, Entry> {
    let mut all = BTreeMap::new();
    for person in PEOPLE {
        for e in store.entries(person, 10_000, None).await.unwrap() {
            all.insert(e.id, e);
        }
    }
    all
}

async fn run(db: &TestDb, rules: &RuleSet, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let store = db.store.as_ref();
    let calendar = shanghai();
    seed_org(store).await;
    let at: Timestamp = "2026-10-15T02:00:00Z".parse().unwrap();
    let mut model: BTreeMap<&str, Totals> =
        PEOPLE.iter().map(|p| (*p, Totals::default())).collect();
    let mut keys_posted: HashSet<(String, String)> = HashSet::new();
    let mut seen = all_entries(store).await;
    let reward = jifen::rules::load_catalogue(
        "[[reward]]\nid = \"mug\"\nname = \"杯子\"\ncost = 5\nstock = 3\n",
    )
    .unwrap()
    .rewards
    .remove(0);
    let (mut redemptions, mut appeals): (Vec<i64>, Vec<i64>) = (vec![], vec![]);

    for op in ops {
        let before = seen.len();
        let mut tx = store.begin().await.unwrap();
        let result: Result<Vec<Entry>, ledger::LedgerError> = match &op {
            Op::Post {
                source,
                person,
                amount,
                review,
            } => {
                let event = DomainEvent {
                    kind: "approval.approved".into(),
                    source_key: format!("bpms:{source}"),
                    userid: "liuyang".into(),
                    occurred_at: at,
                    departments: vec![],
                    data: json!({
                        "process_code": if *review { "PROC-REVIEW" } else { "PROC-GRANT" },
                        "form": { "who": PEOPLE[*person], "amount": amount.to_string() },
                    })
                    .as_object()
                    .cloned()
                    .unwrap(),
                };
                ledger::post_event(tx.as_mut(), rules, &calendar, &event, Timestamp::now())
                    .await
                    .map(|p| {
                        for r in &p.results {
                            if let RuleResult::Posting {
                                posting: Posting::AlreadyPosted(e),
                                rule_id,
                            } = r
                            {
                                // Invariant 2: a redelivery finds exactly the entry the first delivery made.
                                assert!(
                                    keys_posted.contains(&(e.source_key.clone(), rule_id.clone()))
                                );
                            }
                        }
                        p.posted().cloned().collect()
                    })
            }
            Op::Manual {
                source,
                person,
                points,
            } => {
                let post = ManualPost {
                    actor: "hr".into(),
                    userid: PEOPLE[*person].into(),
                    points: *points,
                    reason: "表现".into(),
                    category: "manual".into(),
                    source_key: format!("bot:{source}"),
                    review: false,
                    occurred_at: at,
                };
                ledger::post_manual(tx.as_mut(), &post, Timestamp::now())
                    .await
                    .map(|p| match p {
                        Posting::Posted(e) => vec![e],
                        Posting::AlreadyPosted(_) => vec![],
                    })
            }
            Op::Reverse { .. } | Op::Decide { .. } if seen.is_empty() => Ok(vec![]),
            Op::Reverse { pick } => {
                let id = *seen.keys().nth(pick % seen.len()).unwrap();
                ledger::reverse(tx.as_mut(), id, "hr", "更正", Timestamp::now())
                    .await
                    .map(|e| vec![e])
            }
            Op::Decide { pick, approve } => {
                let id = *seen.keys().nth(pick % seen.len()).unwrap();
                let decision = if *approve {
                    Decision::Approve
                } else {
                    Decision::Reject
                };
                ledger::resolve(tx.as_mut(), id, decision, "hr", "", Timestamp::now())
                    .await
                    .map(|e| vec![e])
            }
            Op::Redeem { source, person } => {
                let request = ledger::Redeem {
                    userid: PEOPLE[*person],
                    reward: &reward,
                    actor: PEOPLE[*person],
                    source_key: &format!("shop:{source}"),
                    awaits_approval: false,
                };
                ledger::redeem(tx.as_mut(), &calendar, &request, at)
                    .await
                    .map(|r| match r {
                        ledger::Redeemed::New { redemption, entry } => {
                            redemptions.push(redemption.id);
                            vec![*entry]
                        }
                        ledger::Redeemed::Already { .. } => vec![],
                    })
            }
            Op::Step { .. } if redemptions.is_empty() => Ok(vec![]),
            Op::Step { pick, step } => {
                use jifen::domain::RedemptionStep::*;
                let id = redemptions[pick % redemptions.len()];
                let step = [Approve, Fulfil, Reject, Cancel][*step];
                let owner = store.redemption(id).await.unwrap().unwrap().userid;
                let actor = if step == Cancel { owner.as_str() } else { "hr" };
                ledger::step_redemption(tx.as_mut(), id, step, actor, "原因", Timestamp::now())
                    .await
                    .map(|s| s.refund.into_iter().collect())
            }
            Op::Appeal { .. } if seen.is_empty() => Ok(vec![]),
            Op::Appeal { pick } => {
                let entry = &seen[seen.keys().nth(pick % seen.len()).unwrap()];
                ledger::file_appeal(
                    tx.as_mut(),
                    entry.id,
                    &entry.userid,
                    "申诉",
                    3650,
                    Timestamp::now(),
                )
                .await
                .map(|a| {
                    appeals.push(a.id);
                    vec![]
                })
            }
            Op::Judge { .. } if appeals.is_empty() => Ok(vec![]),
            Op::Judge { pick, uphold, part } => {
                let id = appeals[pick % appeals.len()];
                let verdict = if *uphold {
                    jifen::domain::Verdict::Uphold { points: *part }
                } else {
                    jifen::domain::Verdict::Reject
                };
                ledger::decide_appeal(tx.as_mut(), id, verdict, "boss", "核实", Timestamp::now())
                    .await
                    .map(|d| d.compensation.into_iter().collect())
            }
        };
        match result {
            Ok(new_entries) => {
                tx.commit().await.unwrap();
                if let Op::Redeem { person, .. } = &op {
                    // Invariant 3: a redemption never overdraws.
                    let balance = store
                        .account(PEOPLE[*person])
                        .await
                        .unwrap()
                        .unwrap()
                        .totals
                        .balance;
                    prop_assert!(
                        new_entries.is_empty() || balance >= 0,
                        "overdrawn: {balance}"
                    );
                }
                for e in new_entries {
                    let key = (e.source_key.clone(), rule_key(&e));
                    prop_assert!(
                        keys_posted.insert(key),
                        "a second entry for one source and rule: {e:?}"
                    );
                    model.get_mut(e.userid.as_str()).unwrap().add(e.deltas);
                }
            }
            // A refused operation (reversing a reversal, deciding twice…) changes nothing.
            Err(_) => drop(tx),
        }

        let now = all_entries(store).await;
        for (id, old) in &seen {
            let current = now.get(id);
            prop_assert!(current.is_some(), "entry {id} disappeared after {op:?}");
            prop_assert_eq!(
                immutable_part(current.unwrap()),
                immutable_part(old),
                "entry {} changed after {:?}",
                id,
                op
            );
        }
        prop_assert!(now.len() >= before);
        seen = now;
        for person in PEOPLE {
            let stored = store.account(person).await.unwrap().unwrap().totals;
            let summed =
                seen.values()
                    .filter(|e| e.userid == person)
                    .fold(Totals::default(), |mut t, e| {
                        t.add(e.deltas);
                        t
                    });
            prop_assert_eq!(stored, summed, "{} after {:?}", person, op);
            prop_assert_eq!(stored, model[person], "{} after {:?}", person, op);
        }
    }
    prop_assert_eq!(store.verify_totals().await.unwrap(), vec![]);
    // Stock never below zero: what is out is at most the stock, and matches the live ones.
    let live = store
        .redemptions(None, None, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            use jifen::domain::RedemptionStatus::*;
            matches!(r.status, Held | Approved | Fulfilled)
        })
        .count() as i64;
    let out = store
        .rewards_out()
        .await
        .unwrap()
        .get("mug")
        .copied()
        .unwrap_or(0);
    prop_assert!(out <= 3);
    prop_assert_eq!(out, live);
    Ok(())
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

fn check(backend: Backend) {
    let rules = load_rules(RULES).unwrap();
    let config = ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in prop::collection::vec(op(), 1..40))| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let db = match backend {
                Backend::Sqlite => TestDb::sqlite().await,
                Backend::Postgres => match TestDb::postgres().await {
                    Some(db) => db,
                    None => return Ok(()),
                },
            };
            let result = run(&db, &rules, ops).await;
            db.cleanup().await;
            result
        })?;
    });
}

#[test]
fn sqlite_ledger_keeps_its_invariants_under_random_operations() {
    check(Backend::Sqlite);
}

#[test]
fn postgres_ledger_keeps_its_invariants_under_random_operations() {
    check(Backend::Postgres);
}
