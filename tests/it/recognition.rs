//! Peer recognition (点赞) on both databases: points out of a monthly allowance that resets
//! each month, never from the giver's balance, at most so many to one colleague, never to
//! oneself, once per request; and not counted against a manager's award budget.

use crate::support;

use jifen::ledger::{self, Allowance, LedgerError, Recognised, Unrecognised};
use jifen::store::Store;
use jiff::Timestamp;
use support::{TestDb, manual, seed_org, shanghai};

on_both_backends!(
    thanks_come_out_of_a_monthly_allowance_that_resets_and_never_the_givers_balance,
    each_reason_thanks_are_refused_changes_nothing,
);

const ALLOWANCE: Allowance = Allowance {
    monthly: 10,
    per_recipient: 5,
};

async fn thank(
    store: &dyn Store,
    giver: &str,
    recipient: &str,
    points: i64,
    source: &str,
    at: &str,
) -> Result<Recognised, LedgerError> {
    let mut tx = store.begin().await.unwrap();
    let now: Timestamp = at.parse().unwrap();
    let result = ledger::recognise(
        tx.as_mut(),
        &shanghai(),
        ALLOWANCE,
        giver,
        recipient,
        points,
        "谢谢帮忙",
        source,
        now,
    )
    .await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

async fn totals(store: &dyn Store, who: &str) -> (i64, i64) {
    let t = store.account(who).await.unwrap().unwrap().totals;
    (t.score, t.balance)
}

async fn thanks_come_out_of_a_monthly_allowance_that_resets_and_never_the_givers_balance(
    db: &TestDb,
) {
    let store = db.store.as_ref();
    seed_org(store).await;
    manual(store, "hr", "zhangwei", 20, false, "2026-11-02T02:00:00Z").await;
    let at = "2026-11-10T02:00:00Z";
    let first = thank(store, "zhangwei", "lina", 3, "m1", at).await.unwrap();
    assert_eq!(first.left, 7);
    assert!(
        first.entry.explanation.zh.contains("张伟 点赞：+3"),
        "{}",
        first.entry.explanation.zh
    );
    let again = thank(store, "zhangwei", "lina", 3, "m1", at).await.unwrap();
    assert_eq!(
        again.entry.id, first.entry.id,
        "a redelivered message thanks once"
    );
    thank(store, "zhangwei", "liuyang", 5, "m2", at)
        .await
        .unwrap();
    assert_eq!(totals(store, "lina").await, (3, 3));
    assert_eq!(
        totals(store, "zhangwei").await,
        (20, 20),
        "giving costs nothing"
    );
    let over = thank(store, "zhangwei", "wangfang", 3, "m3", at)
        .await
        .unwrap_err();
    assert!(
        matches!(
            over,
            LedgerError::NotRecognised {
                why: Unrecognised::Allowance { left: 2 }
            }
        ),
        "{over}"
    );
    // December's allowance is new; November's is not carried over.
    let december = thank(
        store,
        "zhangwei",
        "wangfang",
        5,
        "m4",
        "2026-12-01T02:00:00Z",
    )
    .await
    .unwrap();
    assert_eq!(december.left, 5);
    // A manager's thanks do not use their award budget.
    let mut tx = store.begin().await.unwrap();
    let month = shanghai()
        .period_containing(jifen::domain::PeriodKind::Month, at.parse().unwrap())
        .unwrap();
    let awarded = tx
        .awarded_by("zhangwei", "manual", None, month.start, month.end)
        .await
        .unwrap();
    assert_eq!(awarded, 0);
    drop(tx);
    assert_eq!(store.verify_totals().await.unwrap(), vec![]);
}

async fn each_reason_thanks_are_refused_changes_nothing(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let at = "2026-11-10T02:00:00Z";
    thank(store, "lina", "liuyang", 4, "a", at).await.unwrap();
    let cases = [
        ("lina", "lina", 1, Some(Unrecognised::Oneself)),
        (
            "lina",
            "liuyang",
            2,
            Some(Unrecognised::PerRecipient { left: 1 }),
        ),
        ("lina", "nobody", 1, None),
    ];
    for (giver, recipient, points, why) in cases {
        let err = thank(
            store,
            giver,
            recipient,
            points,
            &format!("{giver}{recipient}{points}"),
            at,
        )
        .await
        .unwrap_err();
        match (why, &err) {
            (Some(why), LedgerError::NotRecognised { why: said }) => assert_eq!(said, &why),
            (None, LedgerError::UnknownEmployee(_)) => {}
            (_, other) => panic!("{giver}→{recipient}: {other}"),
        }
    }
    assert_eq!(totals(store, "liuyang").await, (4, 4));
    let mut tx = store.begin().await.unwrap();
    let off = ledger::recognise(
        tx.as_mut(),
        &shanghai(),
        Allowance {
            monthly: 0,
            per_recipient: 5,
        },
        "lina",
        "liuyang",
        1,
        "x",
        "off",
        at.parse().unwrap(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            off,
            LedgerError::NotRecognised {
                why: Unrecognised::Off
            }
        ),
        "{off}"
    );
}
