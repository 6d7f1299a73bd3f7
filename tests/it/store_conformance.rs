//! The store conformance suite: the same ledger behaviour on SQLite and on PostgreSQL.

use crate::support;

use jifen::domain::calendar::PeriodKind;
use jifen::domain::{Calendar, DomainEvent};
use jifen::ledger::{
    self, Decision, Entry, EntryKind, LedgerError, ManualPost, Posting, RuleResult, Totals,
};
use jifen::rules::{RuleSet, load_rules};
use jifen::store::{Card, NewInboxRow, Store};
use jiff::Timestamp;
use serde_json::json;
use support::{TestDb, checked, manual, seed_org, shanghai};

on_both_backends!(
    a_row_the_database_refuses_fails_only_its_own_request,
    migrating_twice_applies_nothing_the_second_time,
    an_event_posts_entries_and_moves_totals_in_one_commit,
    redelivered_event_posts_once,
    concurrent_deliveries_of_one_event_post_once,
    an_unknown_employee_is_refused_and_nothing_changes,
    a_failing_rule_posts_nothing_for_the_whole_event,
    a_points_request_credits_the_person_named_in_the_form,
    monthly_cap_stops_at_the_limit_and_resets_at_local_midnight_in_shanghai,
    weekly_cap_follows_the_local_week_in_a_utc_minus_five_branch,
    a_reversal_takes_back_the_points_once,
    a_reversal_frees_the_cap_it_used,
    pending_points_count_only_after_approval,
    rejected_points_are_dropped_and_cannot_be_decided_twice,
    pending_entries_are_rejected_not_reversed,
    nobody_awards_or_approves_their_own_points,
    manual_post_is_idempotent_on_its_source_key,
    rule_scope_includes_sub_departments_and_excludes_others,
    entries_are_listed_newest_first_in_pages,
    ledger_entries_cannot_be_updated_or_deleted,
    admin_actions_are_audited,
    a_card_is_recorded_once_and_liked_once_per_person,
    dingtalk_call_slots_are_spaced_per_api_and_never_shared,
    top_accounts_rank_by_score_with_names_and_ties_by_userid,
    the_inbox_keeps_each_key_once_within_and_across_batches,
    an_inbox_write_waits_for_an_open_ledger_transaction,
    score_sums_add_up_each_range_up_to_an_id,
    a_managers_budget_counts_awards_not_rejected_or_reversed_ones,
);

const RULES: &str = r#"
[[rule]]
id = "ontime"
name = "准时打卡"
name_en = "On time"
event = "attendance.checked"
when = 'result == "on_time"'
points = 1
caps = { month = 3 }

[[rule]]
id = "late"
name = "迟到"
event = "attendance.checked"
when = 'result == "late"'
points = -2

[[rule]]
id = "request"
name = "奖扣申请"
event = "approval.approved"
when = 'process_code == "PROC-POINTS"'
points = { field = "form.amount", min = -50, max = 50 }
target = "form.who"
detail = "title"

[[rule]]
id = "sharing"
name = "知识分享"
event = "approval.approved"
when = 'process_code == "PROC-SHARING"'
points = 5
review = true
caps = { week = 10 }

[[rule]]
id = "rd_only"
name = "研发专项"
event = "approval.approved"
when = 'process_code == "PROC-RD"'
points = 7
departments = ["rd"]
"#;

fn rules() -> RuleSet {
    load_rules(RULES).expect("test rules are valid")
}

fn approved(
    originator: &str,
    source: &str,
    at: &str,
    process: &str,
    form: serde_json::Value,
) -> DomainEvent {
    DomainEvent {
        kind: "approval.approved".into(),
        source_key: source.into(),
        userid: originator.into(),
        occurred_at: at.parse().unwrap(),
        departments: vec![],
        data: json!({ "process_code": process, "title": "表扬", "form": form })
            .as_object()
            .cloned()
            .unwrap(),
    }
}

async fn post(
    store: &dyn Store,
    calendar: &Calendar,
    event: &DomainEvent,
) -> Result<ledger::EventPosting, LedgerError> {
    let mut tx = store.begin().await?;
    let posting =
        ledger::post_event(tx.as_mut(), &rules(), calendar, event, Timestamp::now()).await?;
    tx.commit().await?;
    Ok(posting)
}

/// Posts an event that makes exactly one entry, and returns it.
async fn post_one(store: &dyn Store, event: &DomainEvent) -> Entry {
    let posting = post(store, &shanghai(), event).await.unwrap();
    let mut posted = posting.posted().cloned();
    let entry = posted.next().expect("one entry posted");
    assert!(posted.next().is_none(), "only one entry posted");
    entry
}

/// A knowledge-sharing approval by 王芳, which the rules hold for review.
fn sharing(source: &str) -> DomainEvent {
    approved(
        "wangfang",
        source,
        "2026-10-08T02:00:00Z",
        "PROC-SHARING",
        json!({}),
    )
}

async fn totals(store: &dyn Store, userid: &str) -> Totals {
    store
        .account(userid)
        .await
        .unwrap()
        .expect("account exists")
        .totals
}

fn t(score: i64, balance: i64, pending: i64) -> Totals {
    Totals {
        score,
        balance,
        pending,
    }
}

async fn assert_sound(store: &dyn Store) {
    assert_eq!(
        store.verify_totals().await.unwrap(),
        vec![],
        "accounts equal the sum of their entries"
    );
}

async fn migrating_twice_applies_nothing_the_second_time(db: &TestDb) {
    assert_eq!(db.store.migrate().await.unwrap(), 0);
    db.store.ping().await.unwrap();
}

async fn an_event_posts_entries_and_moves_totals_in_one_commit(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let posting = post(
        store,
        &shanghai(),
        &checked("zhangwei", "att:1", "2026-10-08T00:52:00Z", "on_time"),
    )
    .await
    .unwrap();
    let entries: Vec<_> = posting.posted().collect();
    assert_eq!(entries.len(), 1);
    let entry = entries[0];
    assert_eq!(
        (
            entry.kind,
            entry.points,
            entry.rule_id.as_deref(),
            entry.rule_version
        ),
        (EntryKind::Rule, 1, Some("ontime"), Some(1))
    );
    assert_eq!(
        entry.explanation.en,
        r#"On time: +1 point (rule ontime v1; condition result == "on_time")"#
    );
    assert_eq!(entry.inputs["result"], "on_time");
    assert_eq!(totals(store, "zhangwei").await, t(1, 1, 0));
    assert_eq!(store.entry(entry.id).await.unwrap().as_ref(), Some(entry));
    assert_sound(store).await;
}

async fn redelivered_event_posts_once(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let event = checked("zhangwei", "att:1", "2026-10-08T00:52:00Z", "on_time");
    let first = post(store, &shanghai(), &event).await.unwrap();
    for _ in 0..3 {
        let again = post(store, &shanghai(), &event).await.unwrap();
        match &again.results[..] {
            [
                RuleResult::Posting {
                    posting: Posting::AlreadyPosted(e),
                    ..
                },
                ..,
            ] => {
                assert_eq!(Some(e), first.posted().next());
            }
            other => panic!("expected already posted, got {other:?}"),
        }
    }
    assert_eq!(totals(store, "zhangwei").await, t(1, 1, 0));
    assert_eq!(store.entries("zhangwei", 10, None).await.unwrap().len(), 1);
}

async fn concurrent_deliveries_of_one_event_post_once(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let event = approved(
        "liuyang",
        "bpms:race",
        "2026-10-08T02:00:00Z",
        "PROC-POINTS",
        json!({"who": "lina", "amount": "4"}),
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, event) = (db.store.clone(), event.clone());
        tasks.push(tokio::spawn(async move {
            post(store.as_ref(), &shanghai(), &event).await
        }));
    }
    let mut posted = 0;
    for task in tasks {
        // A loser may see the winner's entry, or lose the race on the unique key: never a second entry.
        if let Ok(p) = task.await.unwrap() {
            posted += p.posted().count();
        }
    }
    assert_eq!(posted, 1);
    assert_eq!(totals(db.store.as_ref(), "lina").await, t(4, 4, 0));
    assert_sound(db.store.as_ref()).await;
}

async fn an_unknown_employee_is_refused_and_nothing_changes(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let err = post(
        store,
        &shanghai(),
        &checked("nobody", "att:x", "2026-10-08T00:52:00Z", "on_time"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, LedgerError::UnknownEmployee(u) if u == "nobody"),
        "{err}"
    );
    // The form names someone unknown: the approval posts nothing at all.
    let event = approved(
        "liuyang",
        "bpms:1",
        "2026-10-08T02:00:00Z",
        "PROC-POINTS",
        json!({"who": "ghost", "amount": "5"}),
    );
    assert!(matches!(
        post(store, &shanghai(), &event).await,
        Err(LedgerError::UnknownEmployee(_))
    ));
    assert_eq!(store.account("nobody").await.unwrap(), None);
    assert!(store.entries("liuyang", 10, None).await.unwrap().is_empty());
}

async fn a_failing_rule_posts_nothing_for_the_whole_event(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let event = approved(
        "liuyang",
        "bpms:bad",
        "2026-10-08T02:00:00Z",
        "PROC-POINTS",
        json!({"who": "lina", "amount": "八"}),
    );
    let err = post(store, &shanghai(), &event).await.unwrap_err();
    assert!(
        err.to_string().contains("rule request") && err.to_string().contains("form.amount"),
        "{err}"
    );
    assert_eq!(totals(store, "lina").await, t(0, 0, 0));
}

async fn a_points_request_credits_the_person_named_in_the_form(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let event = approved(
        "liuyang",
        "bpms:2",
        "2026-10-08T02:00:00Z",
        "PROC-POINTS",
        json!({"who": "zhangwei", "amount": "80"}),
    );
    let posting = post(store, &shanghai(), &event).await.unwrap();
    let entry = posting.posted().next().unwrap();
    assert_eq!((entry.userid.as_str(), entry.points), ("zhangwei", 50));
    assert!(
        entry.explanation.zh.contains("奖扣申请「表扬」：+50 积分"),
        "{}",
        entry.explanation.zh
    );
    assert!(
        entry
            .explanation
            .en
            .contains("requested 80, beyond the rule's maximum 50"),
        "{}",
        entry.explanation.en
    );
    assert_eq!(totals(store, "zhangwei").await, t(50, 50, 0));
    assert_eq!(totals(store, "liuyang").await, t(0, 0, 0));
}

async fn monthly_cap_stops_at_the_limit_and_resets_at_local_midnight_in_shanghai(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    // 31 Oct 23:59 in Shanghai is 15:59 UTC; 1 Nov 00:00 in Shanghai is 16:00 UTC on 31 Oct.
    let cases = [
        ("a", "2026-10-29T01:00:00Z", 1),
        ("b", "2026-10-30T01:00:00Z", 1),
        ("c", "2026-10-31T01:00:00Z", 1),
        ("d", "2026-10-31T15:59:00Z", 0), // still October: cap of 3 reached
        ("e", "2026-10-31T16:00:00Z", 1), // November in Shanghai, though October in UTC
    ];
    for (source, at, want) in cases {
        let posting = post(
            store,
            &shanghai(),
            &checked("zhangwei", source, at, "on_time"),
        )
        .await
        .unwrap();
        let entry = posting.posted().next().unwrap();
        assert_eq!(
            entry.points, want,
            "{source} at {at}: {}",
            entry.explanation.en
        );
    }
    let capped = store
        .entries("zhangwei", 10, None)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.source_key == "d")
        .unwrap();
    assert!(
        capped.explanation.en.contains("month cap of 3 reached"),
        "{}",
        capped.explanation.en
    );
    assert_eq!(totals(store, "zhangwei").await, t(4, 4, 0));
}

async fn weekly_cap_follows_the_local_week_in_a_utc_minus_five_branch(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let bogota = Calendar::new("America/Bogota", jiff::civil::Weekday::Monday).unwrap();
    let share =
        |source: &str, at: &str| approved("wangfang", source, at, "PROC-SHARING", json!({}));
    // Sunday 11 Oct 23:00 in Bogotá is Monday 04:00 UTC: it belongs to the week of 5 Oct.
    let cases = [
        ("s1", "2026-10-06T15:00:00Z", 5),
        ("s2", "2026-10-08T15:00:00Z", 5),
        ("s3", "2026-10-12T04:00:00Z", 0), // Sunday night locally: same week, cap 10 reached
        ("s4", "2026-10-12T05:00:00Z", 5), // Monday 00:00 locally: a new week
    ];
    for (source, at, want) in cases {
        let posting = post(store, &bogota, &share(source, at)).await.unwrap();
        let entry = posting.posted().next().unwrap();
        assert_eq!(
            entry.points, want,
            "{source} at {at}: {}",
            entry.explanation.en
        );
    }
    assert_eq!(totals(store, "wangfang").await, t(0, 0, 15));
}

async fn a_reversal_takes_back_the_points_once(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let event = approved(
        "liuyang",
        "bpms:3",
        "2026-10-08T02:00:00Z",
        "PROC-POINTS",
        json!({"who": "lina", "amount": "9"}),
    );
    let id = post_one(store, &event).await.id;

    let mut tx = store.begin().await.unwrap();
    let reversal = ledger::reverse(tx.as_mut(), id, "hr", "重复申请", Timestamp::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (reversal.kind, reversal.points, reversal.reverses),
        (EntryKind::Reversal, -9, Some(id))
    );
    assert!(reversal.explanation.zh.contains("重复申请"));
    assert_eq!(totals(store, "lina").await, t(0, 0, 0));
    assert_eq!(
        store.entry(id).await.unwrap().unwrap().reversed_by,
        Some(reversal.id)
    );

    let mut tx = store.begin().await.unwrap();
    let again = ledger::reverse(tx.as_mut(), id, "hr", "again", Timestamp::now())
        .await
        .unwrap_err();
    assert!(
        matches!(again, LedgerError::AlreadyReversed { entry, by } if entry == id && by == reversal.id)
    );
    let of_reversal = ledger::reverse(tx.as_mut(), reversal.id, "hr", "undo", Timestamp::now())
        .await
        .unwrap_err();
    assert!(
        matches!(of_reversal, LedgerError::NotReversible { .. }),
        "{of_reversal}"
    );
    let unknown = ledger::reverse(tx.as_mut(), 999_999, "hr", "x", Timestamp::now())
        .await
        .unwrap_err();
    assert!(matches!(unknown, LedgerError::UnknownEntry(999_999)));
    let no_reason = ledger::reverse(tx.as_mut(), id, "hr", "  ", Timestamp::now())
        .await
        .unwrap_err();
    assert!(matches!(no_reason, LedgerError::Invalid(_)));
    drop(tx);
    assert_eq!(totals(store, "lina").await, t(0, 0, 0));
    assert_sound(store).await;
}

async fn a_reversal_frees_the_cap_it_used(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let mut ids = Vec::new();
    for (source, day) in [("a", "01"), ("b", "02"), ("c", "03")] {
        let at = format!("2026-10-{day}T01:00:00Z");
        ids.push(
            post(
                store,
                &shanghai(),
                &checked("zhangwei", source, &at, "on_time"),
            )
            .await
            .unwrap()
            .posted()
            .next()
            .unwrap()
            .id,
        );
    }
    let mut tx = store.begin().await.unwrap();
    ledger::reverse(tx.as_mut(), ids[0], "hr", "打卡记录有误", Timestamp::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let posting = post(
        store,
        &shanghai(),
        &checked("zhangwei", "d", "2026-10-04T01:00:00Z", "on_time"),
    )
    .await
    .unwrap();
    assert_eq!(
        posting.posted().next().unwrap().points,
        1,
        "the reversed point is room under the cap again"
    );
    assert_eq!(totals(store, "zhangwei").await, t(3, 3, 0));
}

async fn pending_points_count_only_after_approval(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let event = sharing("bpms:share");
    let entry = post_one(store, &event).await;
    assert!(entry.is_pending());
    assert!(entry.explanation.en.contains("pending review"));
    assert_eq!(totals(store, "wangfang").await, t(0, 0, 5));

    let mut tx = store.begin().await.unwrap();
    let approval = ledger::resolve(
        tx.as_mut(),
        entry.id,
        Decision::Approve,
        "hr",
        "",
        Timestamp::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (approval.kind, approval.resolves),
        (EntryKind::Approval, Some(entry.id))
    );
    assert_eq!(totals(store, "wangfang").await, t(5, 5, 0));
    let decided = store.entry(entry.id).await.unwrap().unwrap();
    assert!(!decided.is_pending());
    assert_eq!(
        (decided.resolved_by, decided.approved),
        (Some(approval.id), Some(true))
    );

    // Approved points are taken back by reversing the approval.
    let mut tx = store.begin().await.unwrap();
    let err = ledger::reverse(tx.as_mut(), entry.id, "hr", "x", Timestamp::now())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("entry #{}", approval.id)),
        "{err}"
    );
    ledger::reverse(
        tx.as_mut(),
        approval.id,
        "hr",
        "分享未实际举办",
        Timestamp::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(totals(store, "wangfang").await, t(0, 0, 0));
    assert_sound(store).await;
}

async fn rejected_points_are_dropped_and_cannot_be_decided_twice(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let event = sharing("bpms:share");
    let id = post_one(store, &event).await.id;
    let mut tx = store.begin().await.unwrap();
    let rejection = ledger::resolve(
        tx.as_mut(),
        id,
        Decision::Reject,
        "hr",
        "内容与工作无关",
        Timestamp::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rejection.kind, EntryKind::Rejection);
    assert_eq!(
        store.entry(id).await.unwrap().unwrap().approved,
        Some(false)
    );
    assert!(rejection.explanation.zh.contains("内容与工作无关"));
    assert_eq!(totals(store, "wangfang").await, t(0, 0, 0));
    let mut tx = store.begin().await.unwrap();
    for decision in [Decision::Approve, Decision::Reject] {
        let err = ledger::resolve(tx.as_mut(), id, decision, "hr", "", Timestamp::now())
            .await
            .unwrap_err();
        assert!(matches!(err, LedgerError::NotPending { .. }), "{err}");
    }
    assert!(matches!(
        ledger::reverse(tx.as_mut(), rejection.id, "hr", "x", Timestamp::now()).await,
        Err(LedgerError::NotReversible { .. })
    ));
    drop(tx);
    assert_sound(store).await;
}

async fn pending_entries_are_rejected_not_reversed(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let event = sharing("bpms:share");
    let id = post_one(store, &event).await.id;
    let mut tx = store.begin().await.unwrap();
    let err = ledger::reverse(tx.as_mut(), id, "hr", "x", Timestamp::now())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("pending review; reject it instead"),
        "{err}"
    );
    // An entry granted without review cannot be "approved".
    let granted = approved(
        "liuyang",
        "bpms:4",
        "2026-10-08T02:00:00Z",
        "PROC-POINTS",
        json!({"who": "lina", "amount": 3}),
    );
    drop(tx);
    let granted_id = post_one(store, &granted).await.id;
    let mut tx = store.begin().await.unwrap();
    let err = ledger::resolve(
        tx.as_mut(),
        granted_id,
        Decision::Approve,
        "hr",
        "",
        Timestamp::now(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("granted without review"), "{err}");
}

async fn nobody_awards_or_approves_their_own_points(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let mut tx = store.begin().await.unwrap();
    let own = ManualPost {
        actor: "hr".into(),
        userid: "hr".into(),
        points: 5,
        reason: "辛苦了".into(),
        category: "manual".into(),
        source_key: "bot:m1".into(),
        review: false,
        occurred_at: Timestamp::now(),
    };
    let err = ledger::post_manual(tx.as_mut(), &own, Timestamp::now())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "hr cannot award their own points");
    drop(tx);
    let event = sharing("bpms:share");
    let id = post_one(store, &event).await.id;
    let mut tx = store.begin().await.unwrap();
    let err = ledger::resolve(
        tx.as_mut(),
        id,
        Decision::Approve,
        "wangfang",
        "",
        Timestamp::now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LedgerError::OwnPoints { .. }), "{err}");
    drop(tx);
    assert_eq!(totals(store, "hr").await, t(0, 0, 0));
    assert_eq!(totals(store, "wangfang").await, t(0, 0, 5));
}

async fn manual_post_is_idempotent_on_its_source_key(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let award = ManualPost {
        actor: "hr".into(),
        userid: "lina".into(),
        points: -3,
        reason: "会议迟到".into(),
        category: "manual".into(),
        source_key: "bot:msg-42".into(),
        review: false,
        occurred_at: "2026-10-08T02:00:00Z".parse().unwrap(),
    };
    for attempt in 0..2 {
        let mut tx = store.begin().await.unwrap();
        let posting = ledger::post_manual(tx.as_mut(), &award, Timestamp::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        match (attempt, &posting) {
            (0, Posting::Posted(e)) => {
                assert_eq!(
                    (e.kind, e.actor.as_deref(), e.rule_id.as_deref()),
                    (EntryKind::Manual, Some("hr"), None)
                );
                // Named as colleagues know the actor; the userid is in `actor`.
                assert_eq!(e.explanation.zh, "人事 手动扣分：-3 积分（理由：会议迟到）");
            }
            (1, Posting::AlreadyPosted(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(totals(store, "lina").await, t(-3, -3, 0));
    let mut tx = store.begin().await.unwrap();
    let no_reason = ManualPost {
        reason: " ".into(),
        source_key: "bot:msg-43".into(),
        ..award.clone()
    };
    assert!(matches!(
        ledger::post_manual(tx.as_mut(), &no_reason, Timestamp::now()).await,
        Err(LedgerError::Invalid(_))
    ));
    let zero = ManualPost {
        points: 0,
        source_key: "bot:msg-44".into(),
        ..award.clone()
    };
    assert!(matches!(
        ledger::post_manual(tx.as_mut(), &zero, Timestamp::now()).await,
        Err(LedgerError::Invalid(_))
    ));
    let ghost = ManualPost {
        userid: "ghost".into(),
        source_key: "bot:msg-45".into(),
        ..award
    };
    assert!(matches!(
        ledger::post_manual(tx.as_mut(), &ghost, Timestamp::now()).await,
        Err(LedgerError::UnknownEmployee(_))
    ));
}

async fn rule_scope_includes_sub_departments_and_excludes_others(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    // wangfang is in rd-web, a team inside rd; lina is in sales.
    for (userid, source, want_posted) in [
        ("wangfang", "bpms:rd1", true),
        ("zhangwei", "bpms:rd2", true),
        ("lina", "bpms:rd3", false),
    ] {
        let posting = post(
            store,
            &shanghai(),
            &approved(userid, source, "2026-10-08T02:00:00Z", "PROC-RD", json!({})),
        )
        .await
        .unwrap();
        assert_eq!(posting.posted().count() == 1, want_posted, "{userid}");
        if !want_posted {
            assert!(
                matches!(&posting.results[..], [.., RuleResult::OutOfScope { userid: u, .. }] if u == userid)
            );
        }
    }
}

async fn entries_are_listed_newest_first_in_pages(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    for day in 1..=5 {
        let at = format!("2026-09-0{day}T01:00:00Z");
        post(
            store,
            &shanghai(),
            &checked("lina", &format!("late-{day}"), &at, "late"),
        )
        .await
        .unwrap();
    }
    let page1 = store.entries("lina", 2, None).await.unwrap();
    let page2 = store.entries("lina", 2, Some(page1[1].id)).await.unwrap();
    let page3 = store.entries("lina", 2, Some(page2[1].id)).await.unwrap();
    let sources: Vec<&str> = page1
        .iter()
        .chain(&page2)
        .chain(&page3)
        .map(|e| e.source_key.as_str())
        .collect();
    assert_eq!(sources, ["late-5", "late-4", "late-3", "late-2", "late-1"]);
    assert!(store.entries("nobody", 10, None).await.unwrap().is_empty());
    assert_eq!(totals(store, "lina").await, t(-10, -10, 0));
}

async fn ledger_entries_cannot_be_updated_or_deleted(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    post(
        store,
        &shanghai(),
        &checked("zhangwei", "att:1", "2026-10-08T00:52:00Z", "on_time"),
    )
    .await
    .unwrap();
    for sql in [
        "UPDATE ledger_entries SET points = 100",
        "DELETE FROM ledger_entries",
    ] {
        let err = db.execute_raw(sql).await.expect_err(sql);
        assert!(err.to_string().contains("immutable"), "{sql}: {err}");
    }
    assert_eq!(
        store.entries("zhangwei", 10, None).await.unwrap()[0].points,
        1
    );
}

async fn admin_actions_are_audited(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let award = ManualPost {
        actor: "hr".into(),
        userid: "lina".into(),
        points: 6,
        reason: "客户表扬".into(),
        category: "manual".into(),
        source_key: "bot:1".into(),
        review: false,
        occurred_at: Timestamp::now(),
    };
    let mut tx = store.begin().await.unwrap();
    let id = ledger::post_manual(tx.as_mut(), &award, Timestamp::now())
        .await
        .unwrap()
        .entry()
        .id;
    ledger::reverse(tx.as_mut(), id, "hr2", "误操作", Timestamp::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let log = store.audit_log(None, 10).await.unwrap();
    let actions: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|a| {
            (
                a.record.actor.as_str(),
                a.record.action.as_str(),
                a.record.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("hr2", "reverse", "误操作"),
            ("hr", "manual_post", "客户表扬")
        ]
    );
    assert_eq!(log[1].record.detail["entry"], id);
}

async fn top_accounts_rank_by_score_with_names_and_ties_by_userid(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let calendar = shanghai();
    post(
        store,
        &calendar,
        &checked("wangfang", "att:1", "2026-10-08T00:52:00Z", "on_time"),
    )
    .await
    .unwrap();
    post(
        store,
        &calendar,
        &checked("lina", "att:2", "2026-10-08T00:52:00Z", "late"),
    )
    .await
    .unwrap();
    let top = store.top_accounts(3).await.unwrap();
    let got: Vec<(&str, &str, i64)> = top
        .iter()
        .map(|(a, name)| (a.userid.as_str(), name.as_str(), a.totals.score))
        .collect();
    assert_eq!(
        got,
        [
            ("wangfang", "王芳", 1),
            ("hr", "人事", 0),
            ("liuyang", "刘洋", 0)
        ]
    );
}

fn inbox_row(key: &str, ignored: Option<&str>) -> NewInboxRow {
    NewInboxRow {
        dedup_key: key.into(),
        source: "http".into(),
        event_type: "bpms_instance_change".into(),
        payload: format!(r#"{{"processInstanceId":"{key}"}}"#),
        ignored: ignored.map(Into::into),
        received_at: "2026-10-08T02:00:00Z".parse().unwrap(),
    }
}

async fn the_inbox_keeps_each_key_once_within_and_across_batches(db: &TestDb) {
    let store = db.store.as_ref();
    let first = vec![
        inbox_row("k1", None),
        inbox_row("k2", Some("not used")),
        inbox_row("k1", None),
    ];
    assert_eq!(store.insert_inbox(first).await.unwrap(), 2);
    let second = vec![inbox_row("k2", None), inbox_row("k3", None)];
    assert_eq!(store.insert_inbox(second).await.unwrap(), 1);
    let mut rows: Vec<(String, String)> = store
        .inbox(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.dedup_key, r.status))
        .collect();
    rows.sort();
    let expected = [("k1", "pending"), ("k2", "ignored"), ("k3", "pending")]
        .map(|(k, s)| (k.to_string(), s.to_string()));
    assert_eq!(rows, expected);
}

/// On SQLite the inbox has a connection of its own: it must wait for the ledger's writer,
/// not fail, and neither write may be lost.
async fn an_inbox_write_waits_for_an_open_ledger_transaction(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let mut tx = db.store.begin().await.unwrap();
    let award = ManualPost {
        actor: "hr".into(),
        userid: "lina".into(),
        points: 2,
        reason: "帮忙".into(),
        category: "manual".into(),
        source_key: "bot:msg-7".into(),
        review: false,
        occurred_at: "2026-10-08T02:00:00Z".parse().unwrap(),
    };
    ledger::post_manual(tx.as_mut(), &award, Timestamp::now())
        .await
        .unwrap();
    let store = db.store.clone();
    let inbox = tokio::spawn(async move { store.insert_inbox(vec![inbox_row("k1", None)]).await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tx.commit().await.unwrap();
    assert_eq!(inbox.await.unwrap().unwrap(), 1);
    assert_eq!(db.store.inbox(None, 10).await.unwrap().len(), 1);
    let lina = db.store.account("lina").await.unwrap().unwrap();
    assert_eq!(lina.totals.score, 2);
}

async fn score_sums_add_up_each_range_up_to_an_id(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    // The week of Monday 2026-10-05 (Asia/Shanghai), and the week before.
    manual(store, "hr", "wangfang", 5, false, "2026-10-06T02:00:00Z").await;
    manual(store, "hr", "zhangwei", 3, false, "2026-10-08T02:00:00Z").await;
    let third = manual(store, "hr", "zhangwei", 9, false, "2026-09-30T02:00:00Z").await;
    manual(store, "hr", "lina", 4, false, "2026-10-07T02:00:00Z").await;
    let week = shanghai()
        .period_containing(PeriodKind::Week, "2026-10-06T02:00:00Z".parse().unwrap())
        .unwrap();
    let ranges = [
        (week.start.as_millisecond(), week.end.as_millisecond()),
        (i64::MIN, i64::MAX),
    ];
    let at = |t: &str| Some(t.parse::<Timestamp>().unwrap().as_millisecond());
    let sums = |up_to_id| async move {
        let mut rows = store.score_sums(&ranges, up_to_id).await.unwrap();
        rows.sort_by(|a, b| a.userid.cmp(&b.userid));
        rows.into_iter()
            .map(|r| {
                (
                    r.userid,
                    r.sums.iter().map(|s| (s.points, s.achieved_at)).collect(),
                )
            })
            .collect::<Vec<(String, Vec<_>)>>()
    };
    let expected = |with_lina: bool| {
        let mut rows = vec![
            ("wangfang", [(5, at("2026-10-06T02:00:00Z")); 2].to_vec()),
            (
                "zhangwei",
                vec![
                    (3, at("2026-10-08T02:00:00Z")),
                    (12, at("2026-10-08T02:00:00Z")),
                ],
            ),
        ];
        if with_lina {
            rows.insert(0, ("lina", [(4, at("2026-10-07T02:00:00Z")); 2].to_vec()));
        }
        rows.into_iter()
            .map(|(u, s)| (u.to_string(), s))
            .collect::<Vec<_>>()
    };
    assert_eq!(sums(i64::MAX).await, expected(true));
    // Entries above the id bound are left out, and so is whoever has none below it.
    assert_eq!(sums(third).await, expected(false));
}

async fn a_managers_budget_counts_awards_not_rejected_or_reversed_ones(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let at = "2026-10-08T02:00:00Z";
    manual(store, "zhangwei", "wangfang", 5, false, at).await;
    let rejected = manual(store, "zhangwei", "wangfang", 7, true, at).await;
    let reversed = manual(store, "zhangwei", "wangfang", 3, false, at).await;
    manual(store, "zhangwei", "wangfang", 11, true, at).await; // pending: still counts
    manual(store, "zhangwei", "wangfang", -4, false, at).await; // a deduction: does not
    manual(
        store,
        "zhangwei",
        "wangfang",
        2,
        false,
        "2026-09-30T02:00:00Z",
    )
    .await;
    let now: Timestamp = at.parse().unwrap();
    let mut tx = store.begin().await.unwrap();
    ledger::resolve(tx.as_mut(), rejected, Decision::Reject, "hr", "no", now)
        .await
        .unwrap();
    ledger::reverse(tx.as_mut(), reversed, "hr", "typo", now)
        .await
        .unwrap();
    let october = shanghai()
        .period_containing(PeriodKind::Month, now)
        .unwrap();
    assert_eq!(
        tx.awarded_by("zhangwei", "manual", None, october.start, october.end)
            .await
            .unwrap(),
        16
    );
    assert_eq!(tx.monthly_budget("zhangwei").await.unwrap(), None);
    tx.set_monthly_budget("zhangwei", 200, "hr", now)
        .await
        .unwrap();
    tx.set_monthly_budget("zhangwei", 150, "hr", now)
        .await
        .unwrap();
    assert_eq!(tx.monthly_budget("zhangwei").await.unwrap(), Some(150));
    tx.commit().await.unwrap();
}

async fn a_row_the_database_refuses_fails_only_its_own_request(db: &TestDb) {
    let writer = jifen::ingress::InboxWriter::spawn(db.store.clone());
    // Fifty callbacks arrive together with one whose key PostgreSQL cannot store (a NUL).
    let mut requests = Vec::new();
    for n in 0..50 {
        let writer = writer.clone();
        requests.push(tokio::spawn(async move {
            writer
                .store(vec![inbox_row(&format!("good-{n}"), None)])
                .await
        }));
    }
    let bad = {
        let writer = writer.clone();
        tokio::spawn(async move { writer.store(vec![inbox_row("bad\0key", None)]).await })
    };
    for request in requests {
        request.await.unwrap().expect("a good callback is stored");
    }
    let bad = bad.await.unwrap();
    if db.store.backend() == jifen::store::Backend::Postgres {
        assert!(
            matches!(bad, Err(jifen::ingress::inbox_writer::InboxError::Refused)),
            "{bad:?}"
        );
    }
    let stored = db.store.inbox(None, 100).await.unwrap();
    assert_eq!(
        stored
            .iter()
            .filter(|r| r.dedup_key.starts_with("good-"))
            .count(),
        50
    );
}

async fn a_card_is_recorded_once_and_liked_once_per_person(db: &TestDb) {
    let store = db.store.as_ref();
    let at: Timestamp = "2026-11-23T01:00:00Z".parse().unwrap();
    let card = Card {
        out_track_id: "honor-20261116-9f86d081884c7d65".into(),
        kind: "honor".into(),
        space: "cidqE8f3kVb2T9nR5sLwZ7hYg==".into(),
        period: "2026-11-16".into(),
        created_at: at,
    };
    let mut tx = store.begin().await.unwrap();
    assert!(tx.record_card(&card).await.unwrap());
    assert!(!tx.record_card(&card).await.unwrap(), "the same card twice");
    tx.commit().await.unwrap();
    assert_eq!(
        store.card(&card.out_track_id).await.unwrap(),
        Some(card.clone())
    );
    assert_eq!(store.card("never-sent").await.unwrap(), None);

    let mut tx = store.begin().await.unwrap();
    for (who, new) in [
        ("281826612426286785", true),
        ("manager4220", true),
        ("281826612426286785", false),
    ] {
        assert_eq!(
            tx.like_card(&card.out_track_id, who, at).await.unwrap(),
            new,
            "{who}"
        );
    }
    tx.commit().await.unwrap();
    assert_eq!(store.card_likes(&card.out_track_id).await.unwrap(), 2);
    assert_eq!(store.card_likes("never-sent").await.unwrap(), 0);
    // A like rolled back is not counted.
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.like_card(&card.out_track_id, "0941516526848432", at)
            .await
            .unwrap()
    );
    drop(tx);
    assert_eq!(store.card_likes(&card.out_track_id).await.unwrap(), 2);
    // Only a card jifen recorded can be liked.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.like_card("never-sent", "manager4220", at).await.is_err());
}

async fn dingtalk_call_slots_are_spaced_per_api_and_never_shared(db: &TestDb) {
    use std::time::Duration;
    let store = db.store.clone();
    let at: Timestamp = "2026-11-23T01:00:00Z".parse().unwrap();
    let gap = Duration::from_millis(25);
    let slot = |api: &'static str, now: Timestamp| {
        let store = store.clone();
        async move { store.reserve_call(api, now, gap).await.unwrap() }
    };
    // The first call goes now, the next two one interval apart.
    assert_eq!(slot("/attendance/list", at).await, at);
    let later = at + jiff::SignedDuration::from_millis(25);
    assert_eq!(slot("/attendance/list", at).await, later);
    assert_eq!(
        slot("/attendance/list", at).await,
        at + jiff::SignedDuration::from_millis(50)
    );
    // Another API has its own schedule; a call long after the last goes at once.
    assert_eq!(slot("/topapi/v2/user/get", at).await, at);
    let idle = at + jiff::SignedDuration::from_secs(10);
    assert_eq!(slot("/attendance/list", idle).await, idle);

    // Replicas reserving at once never get the same slot.
    let start = at + jiff::SignedDuration::from_secs(60);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let slot = slot("/message/asyncsend_v2", start);
        tasks.spawn(slot);
    }
    let mut slots: Vec<Timestamp> = tasks.join_all().await;
    slots.sort();
    let expected: Vec<Timestamp> = (0..40)
        .map(|i| start + jiff::SignedDuration::from_millis(25 * i))
        .collect();
    assert_eq!(slots, expected);
}
