//! Appeals (申诉) on both databases: filed once per deduction within the window by its
//! person, decided once by an HR admin who did not make it; upheld, a compensating entry
//! points at the appealed one and lands in the open month when the entry's is closed.

use crate::support;

use jifen::domain::{AppealStatus, Verdict};
use jifen::ledger::{self, EntryKind, LedgerError, Unappealable};
use jifen::store::Store;
use jiff::Timestamp;
use support::{TestDb, manual, seed_org};

on_both_backends!(
    an_upheld_appeal_gives_the_deduction_back_with_an_entry_pointing_at_it,
    a_partly_upheld_appeal_gives_back_what_hr_decides_and_no_more,
    a_rejected_appeal_keeps_the_reason_and_changes_no_points,
    each_entry_that_cannot_be_appealed_is_refused_with_why,
    nobody_decides_an_appeal_on_their_own_entry_or_twice,
    an_appeal_upheld_after_its_month_closed_is_booked_in_the_open_month,
);

const WINDOW_DAYS: i64 = 30;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

async fn file(
    store: &dyn Store,
    entry: i64,
    who: &str,
    reason: &str,
    now: &str,
) -> Result<jifen::domain::Appeal, LedgerError> {
    let mut tx = store.begin().await.unwrap();
    let result = ledger::file_appeal(tx.as_mut(), entry, who, reason, WINDOW_DAYS, at(now)).await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

async fn decide(
    store: &dyn Store,
    id: i64,
    verdict: Verdict,
    actor: &str,
    note: &str,
) -> Result<ledger::Decided, LedgerError> {
    let mut tx = store.begin().await.unwrap();
    let result = ledger::decide_appeal(
        tx.as_mut(),
        id,
        verdict,
        actor,
        note,
        at("2026-11-12T02:00:00Z"),
    )
    .await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

async fn score(store: &dyn Store, who: &str) -> (i64, i64) {
    let t = store.account(who).await.unwrap().unwrap().totals;
    (t.score, t.balance)
}

const FULL: Verdict = Verdict::Uphold { points: None };

async fn an_upheld_appeal_gives_the_deduction_back_with_an_entry_pointing_at_it(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    manual(store, "hr", "lina", 20, false, "2026-11-02T02:00:00Z").await;
    let deduction = manual(store, "zhangwei", "lina", -5, false, "2026-11-03T02:00:00Z").await;
    assert_eq!(score(store, "lina").await, (15, 15));
    let appeal = file(
        store,
        deduction,
        "lina",
        "那天在客户现场",
        "2026-11-05T02:00:00Z",
    )
    .await
    .unwrap();
    assert_eq!(appeal.status, AppealStatus::Open);
    let decided = decide(store, appeal.id, FULL, "hr", "情况属实")
        .await
        .unwrap();
    assert_eq!(decided.appeal.status, AppealStatus::Upheld);
    assert_eq!(decided.appeal.decided_by.as_deref(), Some("hr"));
    let compensation = decided.compensation.unwrap();
    assert_eq!(decided.appeal.compensation_entry, Some(compensation.id));
    assert_eq!(compensation.kind, EntryKind::Reversal);
    assert_eq!(compensation.reverses, Some(deduction));
    assert_eq!(compensation.points, 5);
    assert!(
        compensation
            .explanation
            .zh
            .contains(&format!("申诉 #{} 成立", appeal.id)),
        "{}",
        compensation.explanation.zh
    );
    assert_eq!(score(store, "lina").await, (20, 20));
    let entry = store.entries("lina", 10, None).await.unwrap();
    assert_eq!(
        entry
            .iter()
            .find(|e| e.id == deduction)
            .unwrap()
            .reversed_by,
        Some(compensation.id)
    );
    assert_eq!(store.verify_totals().await.unwrap(), vec![]);
    let audited: Vec<String> = store
        .audit_log(Some("lina"), 20)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.record.action)
        .collect();
    for action in ["appeal", "appeal_uphold"] {
        assert!(audited.contains(&action.to_string()), "{audited:?}");
    }
}

async fn a_partly_upheld_appeal_gives_back_what_hr_decides_and_no_more(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let deduction = manual(
        store,
        "zhangwei",
        "lina",
        -10,
        false,
        "2026-11-03T02:00:00Z",
    )
    .await;
    let appeal = file(
        store,
        deduction,
        "lina",
        "只迟到了一次",
        "2026-11-04T02:00:00Z",
    )
    .await
    .unwrap();
    for too_much in [11, 0, -3] {
        let err = decide(
            store,
            appeal.id,
            Verdict::Uphold {
                points: Some(too_much),
            },
            "hr",
            "",
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("1 to 10 points"), "{err}");
    }
    let decided = decide(
        store,
        appeal.id,
        Verdict::Uphold { points: Some(4) },
        "hr",
        "",
    )
    .await
    .unwrap();
    assert_eq!(decided.compensation.unwrap().points, 4);
    assert_eq!(score(store, "lina").await, (-6, -6));
}

async fn a_rejected_appeal_keeps_the_reason_and_changes_no_points(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let deduction = manual(store, "zhangwei", "lina", -3, false, "2026-11-03T02:00:00Z").await;
    let appeal = file(store, deduction, "lina", "不服", "2026-11-04T02:00:00Z")
        .await
        .unwrap();
    let err = decide(store, appeal.id, Verdict::Reject, "hr", " ")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a reason"), "{err}");
    let decided = decide(store, appeal.id, Verdict::Reject, "hr", "考勤记录无误")
        .await
        .unwrap();
    assert_eq!(decided.appeal.status, AppealStatus::Rejected);
    assert_eq!(
        decided.appeal.decision_note.as_deref(),
        Some("考勤记录无误")
    );
    assert_eq!(decided.compensation, None);
    assert_eq!(score(store, "lina").await, (-3, -3));
    let listed = store
        .appeals(Some("lina"), Some(AppealStatus::Rejected), 10)
        .await
        .unwrap();
    assert_eq!(listed, vec![decided.appeal]);
}

async fn each_entry_that_cannot_be_appealed_is_refused_with_why(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let award = manual(store, "hr", "lina", 5, false, "2026-11-02T02:00:00Z").await;
    let deduction = manual(store, "zhangwei", "lina", -2, false, "2026-11-03T02:00:00Z").await;
    let pending = manual(store, "zhangwei", "lina", -80, true, "2026-11-03T03:00:00Z").await;
    let old = manual(store, "zhangwei", "lina", -1, false, "2026-09-01T02:00:00Z").await;
    file(store, deduction, "lina", "理由", "2026-11-04T02:00:00Z")
        .await
        .unwrap();
    let now = "2026-11-05T02:00:00Z";
    let cases = [
        (deduction, "liuyang", Unappealable::NotYours),
        (award, "lina", Unappealable::NotADeduction),
        (pending, "lina", Unappealable::Settled),
        (old, "lina", Unappealable::TooOld { days: 30 }),
    ];
    for (entry, who, why) in cases {
        match file(store, entry, who, "理由", now).await.unwrap_err() {
            LedgerError::NotAppealable { why: said, .. } => assert_eq!(said, why, "#{entry}"),
            other => panic!("#{entry}: {other}"),
        }
    }
    let twice = file(store, deduction, "lina", "再申诉", now)
        .await
        .unwrap_err();
    assert!(
        matches!(
            twice,
            LedgerError::NotAppealable {
                why: Unappealable::AlreadyAppealed { .. },
                ..
            }
        ),
        "{twice}"
    );
    let err = file(store, 9999, "lina", "理由", now).await.unwrap_err();
    assert!(matches!(err, LedgerError::UnknownEntry(9999)), "{err}");
    let err = file(store, old, "lina", "  ", now).await.unwrap_err();
    assert!(err.to_string().contains("needs a reason"), "{err}");
    assert_eq!(store.appeals(None, None, 10).await.unwrap().len(), 1);
}

async fn nobody_decides_an_appeal_on_their_own_entry_or_twice(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let by_hr = manual(store, "hr", "lina", -4, false, "2026-11-03T02:00:00Z").await;
    let appeal = file(store, by_hr, "lina", "理由", "2026-11-04T02:00:00Z")
        .await
        .unwrap();
    for actor in ["hr", "lina"] {
        let err = decide(store, appeal.id, FULL, actor, "").await.unwrap_err();
        assert!(
            matches!(err, LedgerError::OwnPoints { .. }),
            "{actor}: {err}"
        );
    }
    decide(store, appeal.id, FULL, "zhangwei", "")
        .await
        .unwrap();
    let err = decide(store, appeal.id, Verdict::Reject, "liuyang", "no")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LedgerError::AppealDecided {
                status: "upheld",
                ..
            }
        ),
        "{err}"
    );
    let err = decide(store, 777, FULL, "zhangwei", "").await.unwrap_err();
    assert!(matches!(err, LedgerError::UnknownAppeal(777)), "{err}");
    assert_eq!(score(store, "lina").await, (0, 0), "given back once");
}

async fn an_appeal_upheld_after_its_month_closed_is_booked_in_the_open_month(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let deduction = manual(store, "zhangwei", "lina", -6, false, "2026-10-30T02:00:00Z").await;
    let appeal = file(store, deduction, "lina", "系统误判", "2026-11-01T02:00:00Z")
        .await
        .unwrap();
    let (start, end) = (at("2026-09-30T16:00:00Z"), at("2026-10-31T16:00:00Z"));
    assert!(
        store
            .close_period("2026-10", start, end, end, "{}")
            .await
            .unwrap()
    );
    let compensation = decide(store, appeal.id, FULL, "hr", "")
        .await
        .unwrap()
        .compensation
        .unwrap();
    assert_eq!(
        compensation.occurred_at, end,
        "the open month's first moment"
    );
    assert!(
        compensation.explanation.zh.contains("计入本月"),
        "{}",
        compensation.explanation.zh
    );
    let frozen = store.period_totals("2026-10", "", 100).await.unwrap();
    let lina = frozen.iter().find(|t| t.userid == "lina").unwrap();
    assert_eq!(lina.score, -6, "October stays as it was closed");
}
