//! The rewards shop on both databases: a redemption holds balance (never score), a
//! rejection or cancellation refunds it with an entry pointing at the hold, and neither
//! balance nor stock goes below zero when a hundred people redeem the last items at once.

use crate::support;

use jifen::domain::{Catalogue, Employee, PeriodKind, RedemptionStatus, RedemptionStep, Reward};
use jifen::ledger::{self, EntryKind, LedgerError, Redeem, Redeemed, Unredeemable};
use jifen::rules::load_catalogue;
use jifen::store::Store;
use jiff::Timestamp;
use support::{TestDb, manual, seed_org, shanghai};

on_both_backends!(
    a_redemption_holds_balance_not_score_and_a_rejection_refunds_it,
    a_redemption_is_approved_then_fulfilled_and_cannot_be_refunded_after,
    a_person_cancels_their_own_redemption_and_the_item_goes_back_to_stock,
    a_request_redeemed_twice_holds_once,
    each_reason_a_reward_cannot_be_redeemed_is_refused_and_changes_nothing,
    a_redemption_hold_is_not_revoked_like_an_entry,
    steps_are_taken_by_the_right_people_once,
    the_last_items_go_to_as_many_people_as_there_are_under_a_hundred_concurrent_redemptions,
    one_person_redeeming_at_once_from_many_chats_never_overdraws,
);

const CATALOGUE: &str = r#"
[[reward]]
id = "coffee"
name = "咖啡券"
name_en = "Coffee voucher"
cost = 30
stock = 3
limit = { month = 2 }

[[reward]]
id = "leave"
name = "半天调休"
cost = 100
departments = ["rd"]
available_until = "2026-12-31"

[[reward]]
id = "badge"
name = "纪念徽章"
cost = 5
review = false
"#;

fn catalogue() -> Catalogue {
    load_catalogue(CATALOGUE).unwrap()
}

const NOW: &str = "2026-11-10T02:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

async fn redeem(
    store: &dyn Store,
    userid: &str,
    reward: &Reward,
    source: &str,
) -> Result<Redeemed, LedgerError> {
    let mut tx = store.begin().await.unwrap();
    let request = Redeem {
        userid,
        reward,
        actor: userid,
        source_key: source,
        awaits_approval: false,
    };
    let result = ledger::redeem(tx.as_mut(), &shanghai(), &request, now()).await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

async fn step(
    store: &dyn Store,
    id: i64,
    step: RedemptionStep,
    actor: &str,
    note: &str,
) -> Result<ledger::Stepped, LedgerError> {
    let mut tx = store.begin().await.unwrap();
    let result = ledger::step_redemption(tx.as_mut(), id, step, actor, note, now()).await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

async fn totals(store: &dyn Store, userid: &str) -> (i64, i64) {
    let t = store.account(userid).await.unwrap().unwrap().totals;
    (t.score, t.balance)
}

async fn assert_sound(store: &dyn Store) {
    assert_eq!(store.verify_totals().await.unwrap(), vec![]);
}

async fn out(store: &dyn Store, reward: &str) -> i64 {
    store
        .rewards_out()
        .await
        .unwrap()
        .get(reward)
        .copied()
        .unwrap_or(0)
}

async fn a_redemption_holds_balance_not_score_and_a_rejection_refunds_it(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    manual(store, "hr", "lina", 80, false, "2026-11-02T02:00:00Z").await;
    let catalogue = catalogue();
    let coffee = catalogue.get("coffee").unwrap();
    let Redeemed::New { redemption, entry } =
        redeem(store, "lina", coffee, "robot:m1").await.unwrap()
    else {
        panic!("a new redemption")
    };
    assert_eq!(redemption.status, RedemptionStatus::Held);
    assert_eq!(
        (entry.points, entry.deltas.score, entry.deltas.balance),
        (-30, 0, -30)
    );
    assert!(
        entry.explanation.zh.contains("咖啡券"),
        "{}",
        entry.explanation.zh
    );
    assert_eq!(
        totals(store, "lina").await,
        (80, 50),
        "score kept, balance held"
    );
    assert_eq!(out(store, "coffee").await, 1);

    let stepped = step(
        store,
        redemption.id,
        RedemptionStep::Reject,
        "hr",
        "本月已发完",
    )
    .await
    .unwrap();
    assert_eq!(stepped.redemption.status, RedemptionStatus::Rejected);
    assert_eq!(stepped.redemption.note.as_deref(), Some("本月已发完"));
    let refund = stepped.refund.expect("a refund entry");
    assert_eq!(refund.kind, EntryKind::Reversal);
    assert_eq!(refund.reverses, Some(entry.id));
    assert_eq!(stepped.redemption.refund_entry, Some(refund.id));
    assert_eq!((refund.points, refund.deltas.balance), (30, 30));
    assert_eq!(totals(store, "lina").await, (80, 80));
    assert_eq!(out(store, "coffee").await, 0, "the item is back in stock");
    assert_sound(store).await;
    let audited: Vec<String> = store
        .audit_log(Some("lina"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.record.action)
        .collect();
    assert!(audited.contains(&"redeem".to_string()), "{audited:?}");
    assert!(
        audited.contains(&"redemption_reject".to_string()),
        "{audited:?}"
    );
}

async fn a_redemption_is_approved_then_fulfilled_and_cannot_be_refunded_after(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    manual(store, "hr", "lina", 80, false, "2026-11-02T02:00:00Z").await;
    let catalogue = catalogue();
    let redemption = redeem(store, "lina", catalogue.get("coffee").unwrap(), "robot:m1")
        .await
        .unwrap()
        .redemption()
        .clone();
    let approved = step(store, redemption.id, RedemptionStep::Approve, "hr", "")
        .await
        .unwrap();
    assert_eq!(approved.redemption.status, RedemptionStatus::Approved);
    assert_eq!(approved.refund, None);
    let fulfilled = step(
        store,
        redemption.id,
        RedemptionStep::Fulfil,
        "hr",
        "券码 8812",
    )
    .await
    .unwrap();
    assert_eq!(fulfilled.redemption.status, RedemptionStatus::Fulfilled);
    assert_eq!(fulfilled.redemption.note.as_deref(), Some("券码 8812"));
    for late in [RedemptionStep::Reject, RedemptionStep::Approve] {
        let err = step(store, redemption.id, late, "hr", "太晚了")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                LedgerError::StepNotOpen {
                    status: "fulfilled",
                    ..
                }
            ),
            "{err}"
        );
    }
    let err = step(store, redemption.id, RedemptionStep::Cancel, "lina", "")
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::StepNotOpen { .. }), "{err}");
    assert_eq!(totals(store, "lina").await, (80, 50));
    assert_eq!(out(store, "coffee").await, 1);

    // A reward without review is approved at once.
    let badge = redeem(store, "lina", catalogue.get("badge").unwrap(), "robot:m2")
        .await
        .unwrap();
    assert_eq!(badge.redemption().status, RedemptionStatus::Approved);
    assert_sound(store).await;
}

async fn a_person_cancels_their_own_redemption_and_the_item_goes_back_to_stock(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    manual(store, "hr", "lina", 30, false, "2026-11-02T02:00:00Z").await;
    let catalogue = catalogue();
    let coffee = catalogue.get("coffee").unwrap();
    let first = redeem(store, "lina", coffee, "robot:m1").await.unwrap();
    let id = first.redemption().id;
    let cancelled = step(store, id, RedemptionStep::Cancel, "lina", "")
        .await
        .unwrap();
    assert_eq!(cancelled.redemption.status, RedemptionStatus::Cancelled);
    assert!(
        cancelled
            .refund
            .unwrap()
            .explanation
            .zh
            .contains("本人取消")
    );
    assert_eq!(totals(store, "lina").await, (30, 30));
    // Cancelled ones count neither against stock nor against the monthly limit.
    redeem(store, "lina", coffee, "robot:m2").await.unwrap();
    assert_eq!(out(store, "coffee").await, 1);
    assert_sound(store).await;
}

async fn a_request_redeemed_twice_holds_once(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    manual(store, "hr", "lina", 100, false, "2026-11-02T02:00:00Z").await;
    let catalogue = catalogue();
    let coffee = catalogue.get("coffee").unwrap();
    let first = redeem(store, "lina", coffee, "robot:m1").await.unwrap();
    let again = redeem(store, "lina", coffee, "robot:m1").await.unwrap();
    assert!(matches!(again, Redeemed::Already { .. }), "{again:?}");
    assert_eq!(again.redemption(), first.redemption());
    assert_eq!(totals(store, "lina").await, (100, 70));
    assert_eq!(out(store, "coffee").await, 1);
}

async fn each_reason_a_reward_cannot_be_redeemed_is_refused_and_changes_nothing(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    for who in ["lina", "liuyang", "zhangwei", "wangfang"] {
        manual(store, "hr", who, 200, false, "2026-11-02T02:00:00Z").await;
    }
    let catalogue = catalogue();
    let (coffee, leave) = (
        catalogue.get("coffee").unwrap(),
        catalogue.get("leave").unwrap(),
    );
    redeem(store, "lina", coffee, "a").await.unwrap();
    redeem(store, "lina", coffee, "b").await.unwrap();
    redeem(store, "liuyang", coffee, "c").await.unwrap();
    let poor = Reward {
        cost: 201,
        stock: None,
        limit: None,
        ..coffee.clone()
    };
    let ended = Reward {
        available_until: Some("2026-11-09".parse().unwrap()),
        ..catalogue.get("badge").unwrap().clone()
    };
    let cases: [(&str, &Reward, Unredeemable); 5] = [
        (
            "lina",
            coffee,
            Unredeemable::Limit {
                count: 2,
                period: PeriodKind::Month,
            },
        ),
        ("zhangwei", coffee, Unredeemable::OutOfStock),
        ("lina", leave, Unredeemable::OutsideDepartments),
        (
            "wangfang",
            &poor,
            Unredeemable::Balance {
                cost: 201,
                balance: 200,
            },
        ),
        ("wangfang", &ended, Unredeemable::NotOnOffer),
    ];
    let before: Vec<_> = store.entries("wangfang", 100, None).await.unwrap();
    for (who, reward, why) in cases {
        let (score, balance) = totals(store, who).await;
        let err = redeem(store, who, reward, &format!("refused:{who}:{}", reward.id))
            .await
            .unwrap_err();
        match &err {
            LedgerError::NotRedeemable { why: said, .. } => assert_eq!(said, &why, "{who}"),
            other => panic!("{who}: {other}"),
        }
        assert_eq!(totals(store, who).await, (score, balance), "{who}: {err}");
    }
    assert_eq!(store.entries("wangfang", 100, None).await.unwrap(), before);
    assert_eq!(out(store, "coffee").await, 3);
    // wangfang is in 前端组, under 研发部: the leave is hers to redeem.
    redeem(store, "wangfang", leave, "d").await.unwrap();
    let err = redeem(store, "nobody", leave, "e").await.unwrap_err();
    assert!(matches!(err, LedgerError::UnknownEmployee(_)), "{err}");
    assert_sound(store).await;
}

async fn a_redemption_hold_is_not_revoked_like_an_entry(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    manual(store, "hr", "lina", 30, false, "2026-11-02T02:00:00Z").await;
    let catalogue = catalogue();
    let Redeemed::New { entry, .. } = redeem(store, "lina", catalogue.get("coffee").unwrap(), "m")
        .await
        .unwrap()
    else {
        panic!("new")
    };
    let mut tx = store.begin().await.unwrap();
    let err = ledger::reverse(tx.as_mut(), entry.id, "hr", "退", now())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("reject or cancel the redemption"),
        "{err}"
    );
}

async fn steps_are_taken_by_the_right_people_once(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    manual(store, "lina", "hr", 100, false, "2026-11-02T02:00:00Z").await;
    manual(store, "hr", "lina", 100, false, "2026-11-02T02:00:00Z").await;
    let catalogue = catalogue();
    let coffee = catalogue.get("coffee").unwrap();
    let hrs = redeem(store, "hr", coffee, "hr-1")
        .await
        .unwrap()
        .redemption()
        .id;
    let err = step(store, hrs, RedemptionStep::Approve, "hr", "")
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::OwnPoints { .. }), "{err}");
    let linas = redeem(store, "lina", coffee, "lina-1")
        .await
        .unwrap()
        .redemption()
        .id;
    let err = step(store, linas, RedemptionStep::Cancel, "hr", "")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LedgerError::NotTheirs { owner, .. } if owner == "lina"),
        "{err}"
    );
    let err = step(store, linas, RedemptionStep::Reject, "hr", "  ")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a reason"), "{err}");
    let err = step(store, 9999, RedemptionStep::Approve, "hr", "")
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::UnknownRedemption(9999)), "{err}");
    step(store, linas, RedemptionStep::Reject, "hr", "no")
        .await
        .unwrap();
    let err = step(store, linas, RedemptionStep::Reject, "hr", "no")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is rejected"), "{err}");
    assert_eq!(totals(store, "lina").await, (100, 100), "refunded once");
    assert_sound(store).await;
}

/// Adds `n` people, `p0`…, to the organisation, each with `points`.
async fn people(store: &dyn Store, n: usize, points: i64) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let mut tx = store.begin().await.unwrap();
    for id in &ids {
        tx.upsert_employee(&Employee {
            userid: id.clone(),
            name: id.clone(),
            departments: vec!["sales".into()],
            leads: vec![],
            active: true,
            hired_at: None,
            left_at: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    for id in &ids {
        manual(store, "hr", id, points, false, "2026-11-02T02:00:00Z").await;
    }
    ids
}

/// Redeems, trying again while the database is contended, as the processor does.
async fn redeem_until_decided(
    store: std::sync::Arc<dyn Store>,
    userid: String,
    reward: Reward,
    source: String,
) -> Result<Redeemed, LedgerError> {
    loop {
        match redeem(store.as_ref(), &userid, &reward, &source).await {
            Err(LedgerError::Store(e)) if e.is_contention() => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await
            }
            decided => return decided,
        }
    }
}

async fn the_last_items_go_to_as_many_people_as_there_are_under_a_hundred_concurrent_redemptions(
    db: &TestDb,
) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let ids = people(store, 100, 30).await;
    let last = Reward {
        stock: Some(7),
        limit: None,
        ..catalogue().get("coffee").unwrap().clone()
    };
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            tokio::spawn(redeem_until_decided(
                db.store.clone(),
                id.clone(),
                last.clone(),
                format!("race:{id}"),
            ))
        })
        .collect();
    let (mut won, mut sold_out) = (Vec::new(), 0);
    for (id, task) in ids.iter().zip(tasks) {
        match task.await.unwrap() {
            Ok(_) => won.push(id.clone()),
            Err(LedgerError::NotRedeemable {
                why: Unredeemable::OutOfStock,
                ..
            }) => sold_out += 1,
            Err(other) => panic!("{id}: {other}"),
        }
    }
    assert_eq!((won.len(), sold_out), (7, 93));
    assert_eq!(out(store, "coffee").await, 7);
    for id in &ids {
        let want = if won.contains(id) { (30, 0) } else { (30, 30) };
        assert_eq!(totals(store, id).await, want, "{id}");
    }
    let held = store
        .redemptions(None, Some(RedemptionStatus::Held), 500)
        .await
        .unwrap();
    assert_eq!(held.len(), 7);
    assert_sound(store).await;
}

async fn one_person_redeeming_at_once_from_many_chats_never_overdraws(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    manual(store, "hr", "lina", 70, false, "2026-11-02T02:00:00Z").await;
    let unlimited = Reward {
        stock: None,
        limit: None,
        ..catalogue().get("coffee").unwrap().clone()
    };
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            tokio::spawn(redeem_until_decided(
                db.store.clone(),
                "lina".into(),
                unlimited.clone(),
                format!("chat:{i}"),
            ))
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(LedgerError::NotRedeemable {
                why: Unredeemable::Balance { .. },
                ..
            }) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won, 2, "70 points buy two at 30");
    assert_eq!(totals(store, "lina").await, (70, 10));
    assert_sound(store).await;
}
