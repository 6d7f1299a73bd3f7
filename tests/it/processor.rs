//! The processor on both backends: inbox rows become ledger entries through the rules, in
//! one transaction with completing the row; failures retry, then park as failed.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jifen::domain::RedemptionStatus;
use jifen::domain::{Department, Employee};
use jifen::processor::source::{
    ApprovalDetail, AttendanceResult, DingTalkSource, FormValue, SourceError,
};
use jifen::processor::{Processor, ProcessorSettings, RedemptionForm, RowOutcome};
use jifen::rules::load_catalogue;
use jifen::rules::load_rules_file;
use jifen::store::NewInboxRow;
use jiff::Timestamp;
use jiff::civil::Date;
use support::{TestDb, seed_org, shanghai};

on_both_backends!(
    an_approved_points_request_becomes_an_entry_for_the_person_in_the_form,
    refused_and_unrelated_approvals_complete_without_posting,
    an_on_time_check_in_becomes_an_attendance_entry,
    the_same_approval_under_two_inbox_keys_posts_once,
    a_failing_openapi_call_is_retried_then_parked_as_failed_and_can_be_requeued,
    a_row_left_processing_by_a_crash_is_claimed_again_after_its_lease,
    a_robot_message_without_the_robot_configured_fails_with_the_reason,
    a_slow_approval_holds_neither_the_rows_behind_it_nor_the_database,
    a_malformed_row_is_set_aside_at_once_with_its_reason,
    a_retryable_failure_is_tried_again_on_the_slow_schedule_after_its_last_attempt,
    a_rate_limited_call_waits_without_spending_an_attempt,
    a_restarted_processor_takes_back_its_own_claims_at_once,
    a_check_in_of_someone_new_fetches_them_from_dingtalk_and_posts,
    check_ins_claimed_together_are_posted_together_each_once,
    steady_callback_traffic_while_processing_fails_no_row,
    a_points_request_naming_several_people_awards_each_and_is_audited,
    a_points_request_whose_originator_names_themself_awards_nobody,
    an_approval_withdrawn_after_it_was_approved_takes_its_points_back_and_says_so,
    a_withdrawn_approval_whose_points_wait_for_review_is_rejected_or_its_approval_reversed,
    an_approval_withdrawn_before_it_was_read_posts_nothing,
    a_redemption_form_holds_when_started_and_is_approved_when_agreed,
    a_refused_or_withdrawn_redemption_form_refunds_the_hold_once,
    a_redemption_form_asking_for_what_cannot_be_had_holds_nothing_and_says_why,
    a_redemption_form_approved_without_its_start_holds_and_approves_at_once,
);

#[derive(Default)]
struct FakeDingTalk {
    approvals: HashMap<String, ApprovalDetail>,
    attendance: Vec<AttendanceResult>,
    /// People the address book has that jifen may not know yet, and their departments.
    people: Vec<Employee>,
    departments: Vec<Department>,
    /// Fail this many calls before answering.
    failures: AtomicUsize,
    /// Answer this many calls with a rate limit before answering.
    rate_limited: AtomicUsize,
    /// How long an approval takes to fetch.
    approval_delay: Duration,
    calls: AtomicUsize,
}

#[async_trait]
impl DingTalkSource for FakeDingTalk {
    async fn approval(&self, id: &str) -> Result<ApprovalDetail, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.approval_delay).await;
        if self.rate_limited.load(Ordering::SeqCst) > 0 {
            self.rate_limited.fetch_sub(1, Ordering::SeqCst);
            return Err(SourceError::RateLimited {
                after: Duration::from_millis(20),
                reason: "errcode 90018".into(),
            });
        }
        if self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err(SourceError::Failed("errcode 88: 服务器繁忙".into()));
        }
        self.approvals
            .get(id)
            .cloned()
            .ok_or_else(|| SourceError::NotFound(format!("approval {id}")))
    }

    async fn attendance(
        &self,
        userids: &[String],
        _date: Date,
    ) -> Result<Vec<AttendanceResult>, SourceError> {
        Ok(self
            .attendance
            .iter()
            .filter(|r| userids.contains(&r.user_id))
            .cloned()
            .collect())
    }

    async fn person(&self, userid: &str) -> Result<Employee, SourceError> {
        self.people
            .iter()
            .find(|p| p.userid == userid)
            .cloned()
            .ok_or_else(|| SourceError::NotFound(format!("user {userid}")))
    }

    async fn departments(&self) -> Result<Vec<Department>, SourceError> {
        Ok(self.departments.clone())
    }
}

fn points_request(title: &str, who: &str, amount: &str) -> ApprovalDetail {
    ApprovalDetail {
        title: title.into(),
        status: "COMPLETED".into(),
        originator_userid: "liuyang".into(),
        form_component_values: vec![
            FormValue {
                component_type: "InnerContactField".into(),
                name: "对象".into(),
                value: Some("张伟".into()),
                ext_value: Some(format!(r#"[{{"emplId":"{who}","name":"张伟"}}]"#)),
            },
            FormValue {
                component_type: "NumberField".into(),
                name: "积分".into(),
                value: Some(amount.into()),
                ext_value: None,
            },
            FormValue {
                component_type: "TextareaField".into(),
                name: "事由".into(),
                value: Some("客户好评".into()),
                ext_value: None,
            },
        ],
    }
}

fn processor(
    db: &TestDb,
    fake: FakeDingTalk,
    settings: ProcessorSettings,
) -> (Processor, Arc<FakeDingTalk>) {
    let fake = Arc::new(fake);
    let p = Processor {
        store: db.store.clone(),
        rules: Arc::new(load_rules_file("config/rules.toml".as_ref()).unwrap()),
        calendar: shanghai(),
        source: fake.clone(),
        bot: None,
        leaderboard: None,
        settings,
    };
    (p, fake)
}

fn fast() -> ProcessorSettings {
    ProcessorSettings {
        retry_base: Duration::from_millis(1),
        retry_max: Duration::from_millis(5),
        max_attempts: 3,
        ..ProcessorSettings::default()
    }
}

async fn enqueue(db: &TestDb, key: &str, event_type: &str, payload: &str) {
    let row = NewInboxRow {
        dedup_key: key.into(),
        source: "http".into(),
        event_type: event_type.into(),
        payload: payload.into(),
        ignored: None,
        received_at: Timestamp::now(),
    };
    db.store.insert_inbox(vec![row]).await.unwrap();
}

/// Queues DingTalk's callback for instance `id` of form `code`, finished and agreed.
async fn approved(db: &TestDb, id: &str, code: &str) {
    let payload = instance(id, code, "finish", "agree");
    let key = format!("bpms_instance:{id}:finish:agree");
    enqueue(db, &key, "bpms_instance_change", &payload).await;
}

fn instance(id: &str, code: &str, kind: &str, result: &str) -> String {
    format!(
        r#"{{"EventType":"bpms_instance_change","processInstanceId":"{id}","processCode":"{code}","type":"{kind}","result":"{result}","staffId":"liuyang","finishTime":1760245200000}}"#
    )
}

async fn an_approved_points_request_becomes_an_entry_for_the_person_in_the_form(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    fake.approvals.insert(
        "PI-1".into(),
        points_request("表扬：客户现场问题当晚解决", "zhangwei", "8"),
    );
    let (p, _) = processor(db, fake, fast());
    approved(db, "PI-1", "PROC-JIFEN-POINTS").await;
    let outcomes = p.run_once().await.unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].1, RowOutcome::Done { entries: 1 });
    let entries = db.store.entries("zhangwei", 10, None).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].points, entries[0].source_key.as_str()),
        (8, "bpms:PI-1")
    );
    assert!(
        entries[0]
            .explanation
            .zh
            .contains("「表扬：客户现场问题当晚解决」"),
        "{}",
        entries[0].explanation.zh
    );
    assert_eq!(db.store.inbox(Some("done"), 10).await.unwrap().len(), 1);
    assert!(p.run_once().await.unwrap().is_empty(), "nothing left to do");
}

async fn refused_and_unrelated_approvals_complete_without_posting(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let (p, fake) = processor(db, FakeDingTalk::default(), fast());
    enqueue(
        db,
        "k1",
        "bpms_instance_change",
        &instance("PI-2", "PROC-JIFEN-POINTS", "finish", "refuse"),
    )
    .await;
    enqueue(
        db,
        "k2",
        "bpms_instance_change",
        &instance("PI-3", "PROC-LEAVE", "finish", "agree"),
    )
    .await;
    enqueue(
        db,
        "k3",
        "bpms_task_change",
        r#"{"EventType":"bpms_task_change"}"#,
    )
    .await;
    let outcomes = p.run_once().await.unwrap();
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| matches!(o, RowOutcome::Skipped(_))),
        "{outcomes:?}"
    );
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        0,
        "no OpenAPI call for events no rule reads"
    );
    let done = db.store.inbox(Some("done"), 10).await.unwrap();
    assert_eq!(done.len(), 3);
    assert!(
        done.iter()
            .any(|r| r.last_error.as_deref() == Some("no rule reads process code PROC-LEAVE"))
    );
}

async fn an_on_time_check_in_becomes_an_attendance_entry(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    // Thursday 8 Oct 2026, 08:52 in Shanghai; the shift starts at 09:00.
    let check = 1_791_420_720_000i64;
    let fake = FakeDingTalk {
        attendance: vec![AttendanceResult {
            user_id: "zhangwei".into(),
            check_type: "OnDuty".into(),
            time_result: "Normal".into(),
            base_check_time: check + 8 * 60_000,
            user_check_time: check,
        }],
        ..FakeDingTalk::default()
    };
    let (p, _) = processor(db, fake, fast());
    let push = format!(
        r#"{{"EventType":"attendance_check_record","DataList":[{{"bizId":"b1","userId":"zhangwei","checkTime":{check}}}]}}"#
    );
    enqueue(db, "attendance:b1", "attendance_check_record", &push).await;
    assert_eq!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Done { entries: 1 }
    );
    let entry = &db.store.entries("zhangwei", 1, None).await.unwrap()[0];
    assert_eq!(
        (entry.rule_id.as_deref(), entry.points),
        (Some("attendance.ontime"), 1)
    );
    assert_eq!(entry.source_key, "att:zhangwei:2026-10-08:OnDuty");
}

async fn the_same_approval_under_two_inbox_keys_posts_once(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    fake.approvals
        .insert("PI-4".into(), points_request("表扬", "zhangwei", "5"));
    let (p, _) = processor(db, fake, fast());
    let payload = instance("PI-4", "PROC-JIFEN-POINTS", "finish", "agree");
    approved(db, "PI-4", "PROC-JIFEN-POINTS").await;
    enqueue(db, "reconcile:PI-4", "bpms_instance_change", &payload).await;
    // Both rows are worked on at once: whichever commits first posts, the other finds it.
    let outcomes = p.run_once().await.unwrap();
    let mut entries: Vec<RowOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    entries.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        entries,
        [
            RowOutcome::Done { entries: 0 },
            RowOutcome::Done { entries: 1 }
        ]
    );
    assert_eq!(
        db.store
            .account("zhangwei")
            .await
            .unwrap()
            .unwrap()
            .totals
            .score,
        5
    );
}

async fn a_failing_openapi_call_is_retried_then_parked_as_failed_and_can_be_requeued(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    fake.approvals
        .insert("PI-5".into(), points_request("表扬", "zhangwei", "3"));
    fake.failures.store(3, Ordering::SeqCst);
    let (p, fake) = processor(db, fake, fast());
    enqueue(
        db,
        "k5",
        "bpms_instance_change",
        &instance("PI-5", "PROC-JIFEN-POINTS", "finish", "agree"),
    )
    .await;
    let mut outcomes = Vec::new();
    for _ in 0..50 {
        for (_, o) in p.run_once().await.unwrap() {
            outcomes.push(o);
        }
        if matches!(outcomes.last(), Some(RowOutcome::Failed(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        matches!(&outcomes[..], [RowOutcome::Retrying(_), RowOutcome::Retrying(_), RowOutcome::Failed(e)] if e.contains("errcode 88")),
        "{outcomes:?}"
    );
    let failed = db.store.inbox(Some("failed"), 10).await.unwrap();
    assert_eq!((failed.len(), failed[0].attempts), (1, 3));
    assert!(
        db.store
            .entries("zhangwei", 10, None)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        db.store.retry_inbox(None, Timestamp::now()).await.unwrap(),
        1
    );
    assert_eq!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Done { entries: 1 }
    );
    assert_eq!(fake.calls.load(Ordering::SeqCst), 4);
    assert_eq!(
        db.store.retry_inbox(None, Timestamp::now()).await.unwrap(),
        0
    );
}

async fn a_row_left_processing_by_a_crash_is_claimed_again_after_its_lease(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    fake.approvals
        .insert("PI-6".into(), points_request("表扬", "lina", "2"));
    let (p, _) = processor(
        db,
        fake,
        ProcessorSettings {
            lease: Duration::from_millis(50),
            ..fast()
        },
    );
    enqueue(
        db,
        "k6",
        "bpms_instance_change",
        &instance("PI-6", "PROC-JIFEN-POINTS", "finish", "agree"),
    )
    .await;
    // A worker claims the row and dies before finishing.
    let now = Timestamp::now();
    let claimed = db
        .store
        .claim_inbox(
            now,
            now + jiff::SignedDuration::from_millis(50),
            10,
            "a crashed worker",
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        p.run_once().await.unwrap().is_empty(),
        "leased rows are not claimed twice"
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Done { entries: 1 }
    );
    assert_eq!(
        db.store
            .account("lina")
            .await
            .unwrap()
            .unwrap()
            .totals
            .score,
        2
    );
}

async fn a_robot_message_without_the_robot_configured_fails_with_the_reason(db: &TestDb) {
    let (p, _) = processor(db, FakeDingTalk::default(), fast());
    enqueue(db, "robot:m1", "robot_message", r#"{"msgId":"m1"}"#).await;
    let mut outcomes = Vec::new();
    for _ in 0..50 {
        outcomes.extend(p.run_once().await.unwrap().into_iter().map(|(_, o)| o));
        if matches!(outcomes.last(), Some(RowOutcome::Failed(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        matches!(outcomes.last(), Some(RowOutcome::Failed(e)) if e.contains("JIFEN_DINGTALK_APP_SECRET")),
        "{outcomes:?}"
    );
}

/// A check-in push of `userid` at `check` (Unix ms), as an inbox payload.
fn check_in_push(biz: &str, userid: &str, check: i64) -> String {
    format!(
        r#"{{"EventType":"attendance_check_record","DataList":[{{"bizId":"{biz}","userId":"{userid}","checkTime":{check}}}]}}"#
    )
}

/// DingTalk's result for an on-time check-in at `check`.
fn on_time(userid: &str, check: i64) -> AttendanceResult {
    AttendanceResult {
        user_id: userid.into(),
        check_type: "OnDuty".into(),
        time_result: "Normal".into(),
        base_check_time: check + 8 * 60_000,
        user_check_time: check,
    }
}

/// Waits until the inbox has no row left to work on.
async fn until_settled(db: &TestDb, what: &str) {
    let started = std::time::Instant::now();
    loop {
        let pending = db.store.inbox(Some("pending"), 100).await.unwrap().len()
            + db.store.inbox(Some("processing"), 100).await.unwrap().len();
        if pending == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: rows never settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_slow_approval_holds_neither_the_rows_behind_it_nor_the_database(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    // Thursday 8 Oct 2026, 08:52 in Shanghai.
    let check = 1_791_420_720_000i64;
    let mut fake = FakeDingTalk {
        attendance: vec![on_time("zhangwei", check)],
        approval_delay: Duration::from_secs(3),
        ..FakeDingTalk::default()
    };
    fake.approvals
        .insert("PI-S".into(), points_request("表扬", "lina", "4"));
    let (p, _) = processor(db, fake, fast());
    approved(db, "PI-S", "PROC-JIFEN-POINTS").await;
    enqueue(
        db,
        "attendance:b-s",
        "attendance_check_record",
        &check_in_push("b-s", "zhangwei", check),
    )
    .await;
    let cancel = jifen::runtime::CancellationToken::new();
    let worker = tokio::spawn(Arc::new(p).run(cancel.clone()));
    let started = std::time::Instant::now();
    // The check-in behind the slow approval is posted long before the approval comes back.
    while db
        .store
        .entries("zhangwei", 1, None)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the check-in waited for the approval"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // DingTalk is asked before any transaction opens: others can write meanwhile.
    let write = std::time::Instant::now();
    let tx = db.store.begin().await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        write.elapsed() < Duration::from_secs(1),
        "a write waited {:?} for the processor",
        write.elapsed()
    );
    until_settled(db, "slow approval").await;
    assert_eq!(
        db.store
            .account("lina")
            .await
            .unwrap()
            .unwrap()
            .totals
            .score,
        4
    );
    cancel.cancel();
    worker.await.unwrap();
}

async fn a_malformed_row_is_set_aside_at_once_with_its_reason(db: &TestDb) {
    let (p, _) = processor(db, FakeDingTalk::default(), fast());
    // Signed and stored, but without the person it is about.
    enqueue(
        db,
        "attendance:no-user",
        "attendance_check_record",
        r#"{"EventType":"attendance_check_record","DataList":[{"bizId":"x","checkTime":1791420720000}]}"#,
    )
    .await;
    let outcomes = p.run_once().await.unwrap();
    assert!(
        matches!(&outcomes[..], [(_, RowOutcome::Failed(why))] if why.contains("userId is missing")),
        "{outcomes:?}"
    );
    let failed = db.store.inbox(Some("failed"), 10).await.unwrap();
    assert_eq!((failed[0].attempts, failed[0].retryable), (1, false));
    assert!(
        p.run_once().await.unwrap().is_empty(),
        "not tried again by itself"
    );
}

async fn a_retryable_failure_is_tried_again_on_the_slow_schedule_after_its_last_attempt(
    db: &TestDb,
) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    fake.approvals
        .insert("PI-R".into(), points_request("表扬", "zhangwei", "6"));
    // DingTalk is down for the three quick attempts and the first slow one.
    fake.failures.store(4, Ordering::SeqCst);
    let settings = ProcessorSettings {
        slow_retry_base: Duration::from_millis(100),
        slow_retry_max: Duration::from_millis(100),
        ..fast()
    };
    let (p, _) = processor(db, fake, settings);
    enqueue(
        db,
        "k-r",
        "bpms_instance_change",
        &instance("PI-R", "PROC-JIFEN-POINTS", "finish", "agree"),
    )
    .await;
    let mut outcomes = Vec::new();
    for _ in 0..200 {
        outcomes.extend(p.run_once().await.unwrap().into_iter().map(|(_, o)| o));
        if matches!(outcomes.last(), Some(RowOutcome::Done { .. })) {
            break;
        }
        if matches!(outcomes.last(), Some(RowOutcome::Failed(_))) {
            // Shown as failed meanwhile, with when it is tried again.
            let failed = db.store.inbox(Some("failed"), 10).await.unwrap();
            assert_eq!(failed.len(), 1);
            assert!(failed[0].retryable, "{failed:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let kinds: Vec<&str> = outcomes
        .iter()
        .map(|o| match o {
            RowOutcome::Retrying(_) => "retry",
            RowOutcome::Failed(_) => "failed",
            RowOutcome::Done { .. } => "done",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["retry", "retry", "failed", "failed", "done"]);
    assert_eq!(
        db.store
            .account("zhangwei")
            .await
            .unwrap()
            .unwrap()
            .totals
            .score,
        6
    );
}

async fn a_rate_limited_call_waits_without_spending_an_attempt(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    fake.approvals
        .insert("PI-L".into(), points_request("表扬", "zhangwei", "2"));
    // More rate limits than the row has attempts.
    fake.rate_limited.store(5, Ordering::SeqCst);
    let (p, _) = processor(db, fake, fast());
    enqueue(
        db,
        "k-l",
        "bpms_instance_change",
        &instance("PI-L", "PROC-JIFEN-POINTS", "finish", "agree"),
    )
    .await;
    let mut outcomes = Vec::new();
    for _ in 0..200 {
        outcomes.extend(p.run_once().await.unwrap().into_iter().map(|(_, o)| o));
        if matches!(
            outcomes.last(),
            Some(RowOutcome::Done { .. } | RowOutcome::Failed(_))
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(outcomes.len(), 6, "{outcomes:?}");
    assert_eq!(outcomes.last(), Some(&RowOutcome::Done { entries: 1 }));
    let done = db.store.inbox(Some("done"), 10).await.unwrap();
    assert_eq!(done[0].attempts, 1, "rate limits spent no attempt");
}

async fn a_restarted_processor_takes_back_its_own_claims_at_once(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let check = 1_791_420_720_000i64;
    let fake = FakeDingTalk {
        attendance: vec![on_time("wangfang", check)],
        ..FakeDingTalk::default()
    };
    let settings = ProcessorSettings {
        owner: "host-a:8080/processor".into(),
        ..fast()
    };
    let (p, _) = processor(db, fake, settings);
    enqueue(
        db,
        "attendance:b-c",
        "attendance_check_record",
        &check_in_push("b-c", "wangfang", check),
    )
    .await;
    // The process claimed the row for a minute, then was killed.
    let now = Timestamp::now();
    let minute = jiff::SignedDuration::from_secs(60);
    let held = db
        .store
        .claim_inbox(now, now + minute, 10, "host-a:8080/processor")
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    // Another replica's claims are left alone.
    enqueue(
        db,
        "attendance:b-d",
        "attendance_check_record",
        &check_in_push("b-d", "lina", check),
    )
    .await;
    let now = Timestamp::now();
    let theirs = db
        .store
        .claim_inbox(now, now + minute, 10, "host-b:8080/processor")
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    let cancel = jifen::runtime::CancellationToken::new();
    let worker = tokio::spawn(Arc::new(p).run(cancel.clone()));
    let started = std::time::Instant::now();
    while db
        .store
        .entries("wangfang", 1, None)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the restarted process waited out its own lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    worker.await.unwrap();
    let processing = db.store.inbox(Some("processing"), 10).await.unwrap();
    assert_eq!(
        processing.len(),
        1,
        "the other replica's row is still its own"
    );
    assert_eq!(processing[0].dedup_key, "attendance:b-d");
}

async fn a_check_in_of_someone_new_fetches_them_from_dingtalk_and_posts(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let check = 1_791_420_720_000i64;
    // 赵敏 joined today, in a team jifen has not seen either.
    let fake = FakeDingTalk {
        attendance: vec![on_time("zhaomin", check), on_time("nobody", check)],
        people: vec![Employee {
            userid: "zhaomin".into(),
            name: "赵敏".into(),
            departments: vec!["rd-app".into()],
            leads: vec![],
            active: true,
            hired_at: None,
            left_at: None,
        }],
        departments: vec![Department {
            id: "rd-app".into(),
            name: "移动组".into(),
            parent_id: Some("rd".into()),
        }],
        ..FakeDingTalk::default()
    };
    let (p, _) = processor(db, fake, fast());
    enqueue(
        db,
        "attendance:b-n",
        "attendance_check_record",
        &check_in_push("b-n", "zhaomin", check),
    )
    .await;
    enqueue(
        db,
        "attendance:b-x",
        "attendance_check_record",
        &check_in_push("b-x", "nobody", check),
    )
    .await;
    let outcomes = p.run_once().await.unwrap();
    assert_eq!(
        outcomes[0].1,
        RowOutcome::Done { entries: 1 },
        "{outcomes:?}"
    );
    let person = db.store.employee("zhaomin").await.unwrap().unwrap();
    assert_eq!(
        (person.name.as_str(), &person.departments[..]),
        ("赵敏", &["rd-app".to_string()][..])
    );
    assert_eq!(
        db.store.department("rd-app").await.unwrap().unwrap().name,
        "移动组"
    );
    // Someone DingTalk does not know either is set aside, saying so.
    assert!(
        matches!(&outcomes[1].1, RowOutcome::Failed(why) if why.contains("user nobody")),
        "{outcomes:?}"
    );
}

async fn check_ins_claimed_together_are_posted_together_each_once(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let check = 1_791_420_720_000i64;
    let people = ["zhangwei", "lina", "wangfang", "liuyang"];
    let fake = FakeDingTalk {
        attendance: people.iter().map(|u| on_time(u, check)).collect(),
        ..FakeDingTalk::default()
    };
    let (p, _) = processor(db, fake, fast());
    for (i, userid) in people.iter().enumerate() {
        let biz = format!("b-{i}");
        let push = check_in_push(&biz, userid, check);
        enqueue(
            db,
            &format!("attendance:{biz}"),
            "attendance_check_record",
            &push,
        )
        .await;
    }
    let outcomes = p.run_once().await.unwrap();
    assert_eq!(outcomes.len(), people.len());
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| *o == RowOutcome::Done { entries: 1 }),
        "{outcomes:?}"
    );
    for userid in people {
        let entries = db.store.entries(userid, 10, None).await.unwrap();
        assert_eq!(entries.len(), 1, "{userid}: {entries:?}");
        assert_eq!(
            db.store
                .account(userid)
                .await
                .unwrap()
                .unwrap()
                .totals
                .score,
            1
        );
    }
    // Each is told in the evening's digest, once.
    assert_eq!(
        db.store.outbox(None, 100).await.unwrap().len(),
        people.len()
    );
    assert!(
        p.run_once().await.unwrap().is_empty(),
        "nothing is left to claim"
    );
}

async fn steady_callback_traffic_while_processing_fails_no_row(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let people = ["zhangwei", "wangfang", "lina", "liuyang", "hr"];
    // A month of working days' check-ins for five people, a minute apart each day.
    let first = 1_791_420_720_000i64;
    let day = 86_400_000i64;
    let checks: Vec<(String, i64)> = (0..60)
        .flat_map(|d| people.iter().map(move |p| (p.to_string(), first + d * day)))
        .collect();
    let fake = FakeDingTalk {
        attendance: checks.iter().map(|(u, at)| on_time(u, *at)).collect(),
        ..FakeDingTalk::default()
    };
    let (p, _) = processor(db, fake, fast());
    let cancel = jifen::runtime::CancellationToken::new();
    let worker = tokio::spawn(Arc::new(p).run(cancel.clone()));
    // Callbacks keep arriving through the group-commit writer while the processor posts:
    // the check-ins, among many events jifen keeps but does not use.
    let writer = jifen::ingress::InboxWriter::spawn(db.store.clone());
    let mut senders = Vec::new();
    for (n, (userid, at)) in checks.iter().enumerate() {
        let writer = writer.clone();
        let push = check_in_push(&format!("b{n}"), userid, *at);
        senders.push(tokio::spawn(async move {
            let mut rows = vec![NewInboxRow {
                dedup_key: format!("attendance:b{n}"),
                source: "http".into(),
                event_type: "attendance_check_record".into(),
                payload: push,
                ignored: None,
                received_at: Timestamp::now(),
            }];
            for k in 0..10 {
                rows.push(NewInboxRow {
                    dedup_key: format!("raw:noise:{n}:{k}"),
                    source: "http".into(),
                    event_type: "user_modify_org".into(),
                    payload: "{}".into(),
                    ignored: Some("noise".into()),
                    received_at: Timestamp::now(),
                });
            }
            writer.store(rows).await.unwrap();
        }));
        if n % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for sender in senders {
        sender.await.unwrap();
    }
    until_settled(db, "steady traffic").await;
    cancel.cancel();
    worker.await.unwrap();
    let failed = db.store.inbox(Some("failed"), 10).await.unwrap();
    assert!(failed.is_empty(), "{failed:#?}");
    let done = db.store.inbox(Some("done"), 1000).await.unwrap();
    assert_eq!(done.len(), checks.len());
    let mut posted = 0;
    for userid in people {
        posted += db.store.entries(userid, 1000, None).await.unwrap().len();
    }
    assert_eq!(
        posted,
        checks.len(),
        "one entry per check-in (caps may make it 0 points)"
    );
}

/// A 奖扣申请 by 刘洋 naming `who` (userids), for `amount` points each.
fn request_for(who: &[&str], amount: &str) -> ApprovalDetail {
    let people: Vec<String> = who
        .iter()
        .map(|u| format!(r#"{{"emplId":"{u}","name":"{u}"}}"#))
        .collect();
    let mut detail = points_request("团队表彰：上线攻坚", who[0], amount);
    detail.form_component_values[0].ext_value = Some(format!("[{}]", people.join(",")));
    detail
}

async fn a_points_request_naming_several_people_awards_each_and_is_audited(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    fake.approvals.insert(
        "PI-M".into(),
        request_for(&["zhangwei", "wangfang", "lina"], "5"),
    );
    let (p, _) = processor(db, fake, fast());
    let payload = instance("PI-M", "PROC-JIFEN-POINTS", "finish", "agree");
    approved(db, "PI-M", "PROC-JIFEN-POINTS").await;
    let outcomes = p.run_once().await.unwrap();
    assert_eq!(
        outcomes[0].1,
        RowOutcome::Done { entries: 3 },
        "{outcomes:?}"
    );
    for userid in ["zhangwei", "wangfang", "lina"] {
        let entries = db.store.entries(userid, 10, None).await.unwrap();
        assert_eq!(entries.len(), 1, "{userid}");
        assert_eq!(
            (entries[0].points, entries[0].source_key.as_str()),
            (5, "bpms:PI-M")
        );
    }
    // Each award is in the audit trail, made by the form's originator.
    let trail = db.store.audit_log(Some("liuyang"), 10).await.unwrap();
    let mut named: Vec<&str> = trail
        .iter()
        .filter(|r| r.record.action == "form_award")
        .map(|r| r.record.subject.as_str())
        .collect();
    named.sort();
    assert_eq!(named, ["lina", "wangfang", "zhangwei"]);
    // The same approval again posts nothing more.
    enqueue(db, "reconcile:PI-M", "bpms_instance_change", &payload).await;
    assert_eq!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Done { entries: 0 }
    );
    assert_eq!(db.store.entries("lina", 10, None).await.unwrap().len(), 1);
}

async fn a_points_request_whose_originator_names_themself_awards_nobody(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    // 刘洋 files the request, naming 李娜 and himself.
    fake.approvals
        .insert("PI-SELF".into(), request_for(&["lina", "liuyang"], "9"));
    let (p, _) = processor(db, fake, fast());
    approved(db, "PI-SELF", "PROC-JIFEN-POINTS").await;
    let outcomes = p.run_once().await.unwrap();
    assert_eq!(
        outcomes[0].1,
        RowOutcome::Done { entries: 0 },
        "{outcomes:?}"
    );
    for userid in ["lina", "liuyang"] {
        assert!(db.store.entries(userid, 10, None).await.unwrap().is_empty());
    }
}

/// DingTalk's `terminate` for an instance: no `result`, as PROTOCOL.md says.
fn terminated(id: &str, code: &str) -> String {
    format!(
        r#"{{"EventType":"bpms_instance_change","processInstanceId":"{id}","processCode":"{code}","type":"terminate","title":"团队表彰：上线攻坚","staffId":"liuyang","finishTime":1760248800000}}"#
    )
}

async fn an_approval_withdrawn_after_it_was_approved_takes_its_points_back_and_says_so(
    db: &TestDb,
) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    fake.approvals
        .insert("PI-W".into(), request_for(&["zhangwei", "wangfang"], "6"));
    let (p, _) = processor(db, fake, fast());
    approved(db, "PI-W", "PROC-JIFEN-POINTS").await;
    assert_eq!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Done { entries: 2 }
    );

    let withdrawal = terminated("PI-W", "PROC-JIFEN-POINTS");
    enqueue(
        db,
        "bpms_instance:PI-W:terminate:",
        "bpms_instance_change",
        &withdrawal,
    )
    .await;
    assert_eq!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Done { entries: 2 }
    );
    for userid in ["zhangwei", "wangfang"] {
        let account = db.store.account(userid).await.unwrap().unwrap();
        assert_eq!(
            (account.totals.score, account.totals.balance),
            (0, 0),
            "{userid}"
        );
        let entries = db.store.entries(userid, 10, None).await.unwrap();
        let reversal = entries.iter().find(|e| e.reverses.is_some()).unwrap();
        assert_eq!(reversal.points, -6);
        assert!(
            reversal
                .explanation
                .zh
                .contains("钉钉审批「团队表彰：上线攻坚」已撤销"),
            "{}",
            reversal.explanation.zh
        );
        assert!(
            reversal.explanation.en.contains("was withdrawn"),
            "{}",
            reversal.explanation.en
        );
    }
    // Each person is told, and the trail says DingTalk took the points back.
    let outbox = db.store.outbox(None, 100).await.unwrap();
    let mut told: Vec<&str> = outbox
        .iter()
        .filter(|r| r.payload.to_string().contains("审批已撤销"))
        .map(|r| r.recipient.as_str())
        .collect();
    told.sort();
    assert_eq!(told, ["wangfang", "zhangwei"], "{outbox:#?}");
    let trail = db.store.audit_log(Some("dingtalk"), 10).await.unwrap();
    assert_eq!(
        trail
            .iter()
            .filter(|r| r.record.action == "reverse")
            .count(),
        2
    );

    // The same withdrawal again (a redelivery under another key) changes nothing.
    enqueue(
        db,
        "reconcile:PI-W:terminate",
        "bpms_instance_change",
        &withdrawal,
    )
    .await;
    assert!(matches!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Skipped(_)
    ));
    assert_eq!(
        db.store.entries("zhangwei", 10, None).await.unwrap().len(),
        2
    );
}

async fn a_withdrawn_approval_whose_points_wait_for_review_is_rejected_or_its_approval_reversed(
    db: &TestDb,
) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    // Two sharing sessions by 刘洋, held for HR's review; HR approves the second.
    for id in ["PI-S1", "PI-S2"] {
        fake.approvals
            .insert(id.into(), points_request("分享：Rust 入门", "liuyang", "1"));
    }
    let (p, _) = processor(db, fake, fast());
    for id in ["PI-S1", "PI-S2"] {
        approved(db, id, "PROC-JIFEN-SHARING").await;
    }
    p.run_once().await.unwrap();
    let held = db.store.entries("liuyang", 10, None).await.unwrap();
    let second = held.iter().find(|e| e.source_key == "bpms:PI-S2").unwrap();
    let mut tx = db.store.begin().await.unwrap();
    jifen::ledger::resolve(
        tx.as_mut(),
        second.id,
        jifen::ledger::Decision::Approve,
        "hr",
        "",
        Timestamp::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let totals = db.store.account("liuyang").await.unwrap().unwrap().totals;
    assert_eq!((totals.score, totals.pending), (5, 5));

    for id in ["PI-S1", "PI-S2"] {
        enqueue(
            db,
            &format!("bpms_instance:{id}:terminate:"),
            "bpms_instance_change",
            &terminated(id, "PROC-JIFEN-SHARING"),
        )
        .await;
    }
    let outcomes = p.run_once().await.unwrap();
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| *o == RowOutcome::Done { entries: 1 }),
        "{outcomes:?}"
    );
    let totals = db.store.account("liuyang").await.unwrap().unwrap().totals;
    assert_eq!(
        (totals.score, totals.balance, totals.pending),
        (0, 0, 0),
        "the pending one rejected, the approved one reversed"
    );
}

async fn an_approval_withdrawn_before_it_was_read_posts_nothing(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let mut fake = FakeDingTalk::default();
    let mut detail = points_request("表扬", "zhangwei", "5");
    detail.status = "TERMINATED".into();
    fake.approvals.insert("PI-T".into(), detail);
    let (p, _) = processor(db, fake, fast());
    // The finish callback is read only after the instance was withdrawn; a withdrawal of an
    // instance that was never approved has nothing to take back.
    approved(db, "PI-T", "PROC-JIFEN-POINTS").await;
    enqueue(
        db,
        "bpms_instance:PI-R:terminate:",
        "bpms_instance_change",
        &terminated("PI-R", "PROC-JIFEN-POINTS"),
    )
    .await;
    let outcomes = p.run_once().await.unwrap();
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| matches!(o, RowOutcome::Skipped(_))),
        "{outcomes:?}"
    );
    assert!(
        db.store
            .entries("zhangwei", 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(db.store.outbox(None, 10).await.unwrap().is_empty());
}

const REWARDS: &str = r#"
[[reward]]
id = "coffee"
name = "咖啡券"
name_en = "Coffee voucher"
cost = 30
stock = 1
"#;

fn with_redemption_form() -> ProcessorSettings {
    ProcessorSettings {
        redemption_form: Some(RedemptionForm {
            process_code: "PROC-JIFEN-REDEEM".into(),
            catalogue: Arc::new(load_catalogue(REWARDS).unwrap()),
        }),
        ..fast()
    }
}

fn redemption_request(who: &str, reward: &str, status: &str) -> ApprovalDetail {
    ApprovalDetail {
        title: format!("{who}提交的积分兑换"),
        status: status.into(),
        originator_userid: who.into(),
        form_component_values: vec![FormValue {
            component_type: "DDSelectField".into(),
            name: "奖品".into(),
            value: Some(reward.into()),
            ext_value: None,
        }],
    }
}

/// Queues one change of 积分兑换 instance `id`, under the key DingTalk's callback gets.
async fn redemption_change(db: &TestDb, id: &str, kind: &str, result: &str) {
    let payload = instance(id, "PROC-JIFEN-REDEEM", kind, result);
    let key = format!("bpms_instance:{id}:{kind}:{result}");
    enqueue(db, &key, "bpms_instance_change", &payload).await;
}

async fn balance(db: &TestDb, userid: &str) -> (i64, i64) {
    let totals = db.store.account(userid).await.unwrap().unwrap().totals;
    (totals.score, totals.balance)
}

async fn only_redemption(db: &TestDb, userid: &str) -> jifen::domain::Redemption {
    let mine = db.store.redemptions(Some(userid), None, 10).await.unwrap();
    assert_eq!(mine.len(), 1, "{mine:#?}");
    mine.into_iter().next().unwrap()
}

async fn a_redemption_form_holds_when_started_and_is_approved_when_agreed(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    support::manual(
        db.store.as_ref(),
        "hr",
        "zhangwei",
        40,
        false,
        "2026-11-02T02:00:00Z",
    )
    .await;
    let mut fake = FakeDingTalk::default();
    fake.approvals.insert(
        "PI-R".into(),
        redemption_request("zhangwei", "咖啡券", "RUNNING"),
    );
    let (p, _) = processor(db, fake, with_redemption_form());

    redemption_change(db, "PI-R", "start", "").await;
    assert_eq!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Done { entries: 1 }
    );
    assert_eq!(
        balance(db, "zhangwei").await,
        (40, 10),
        "score kept, cost held"
    );
    let held = only_redemption(db, "zhangwei").await;
    assert_eq!(
        (held.reward_id.as_str(), held.status),
        ("coffee", RedemptionStatus::Held)
    );

    // DingTalk delivers the start again, then the approval.
    enqueue(
        db,
        "reconcile:PI-R:start",
        "bpms_instance_change",
        &instance("PI-R", "PROC-JIFEN-REDEEM", "start", ""),
    )
    .await;
    redemption_change(db, "PI-R", "finish", "agree").await;
    p.run_once().await.unwrap();
    let approved = only_redemption(db, "zhangwei").await;
    assert_eq!(approved.status, RedemptionStatus::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("dingtalk"));
    assert_eq!(balance(db, "zhangwei").await, (40, 10), "held once");
    let told: Vec<String> = db
        .store
        .outbox(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.payload.to_string())
        .filter(|text| text.contains("兑换"))
        .collect();
    assert_eq!(told.len(), 2, "placed, then approved: {told:#?}");
    assert!(told.iter().any(|t| t.contains("兑换已通过")), "{told:#?}");
    assert_eq!(db.store.verify_totals().await.unwrap(), vec![]);
}

async fn a_refused_or_withdrawn_redemption_form_refunds_the_hold_once(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    support::manual(
        db.store.as_ref(),
        "hr",
        "zhangwei",
        40,
        false,
        "2026-11-02T02:00:00Z",
    )
    .await;
    support::manual(
        db.store.as_ref(),
        "hr",
        "wangfang",
        40,
        false,
        "2026-11-02T02:00:00Z",
    )
    .await;
    let mut fake = FakeDingTalk::default();
    fake.approvals.insert(
        "PI-A".into(),
        redemption_request("zhangwei", "coffee", "RUNNING"),
    );
    fake.approvals.insert(
        "PI-B".into(),
        redemption_request("wangfang", "coffee", "RUNNING"),
    );
    let (p, _) = processor(db, fake, with_redemption_form());

    // 张伟's request is refused by the approver: refunded, and the one coffee is back.
    redemption_change(db, "PI-A", "start", "").await;
    p.run_once().await.unwrap();
    redemption_change(db, "PI-A", "finish", "refuse").await;
    assert_eq!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Done { entries: 1 }
    );
    let refused = only_redemption(db, "zhangwei").await;
    assert_eq!(refused.status, RedemptionStatus::Rejected);
    assert!(
        refused
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("未通过"),
        "{refused:?}"
    );
    assert_eq!(balance(db, "zhangwei").await, (40, 40));

    // 王芳 gets that coffee, then withdraws her request: cancelled and refunded.
    redemption_change(db, "PI-B", "start", "").await;
    p.run_once().await.unwrap();
    assert_eq!(balance(db, "wangfang").await, (40, 10));
    enqueue(
        db,
        "bpms_instance:PI-B:terminate:",
        "bpms_instance_change",
        &terminated("PI-B", "PROC-JIFEN-REDEEM"),
    )
    .await;
    p.run_once().await.unwrap();
    let cancelled = only_redemption(db, "wangfang").await;
    assert_eq!(cancelled.status, RedemptionStatus::Cancelled);
    assert_eq!(cancelled.decided_by.as_deref(), Some("wangfang"));
    assert_eq!(balance(db, "wangfang").await, (40, 40));

    // The withdrawal again, under another key, refunds nothing more.
    enqueue(
        db,
        "reconcile:PI-B:terminate",
        "bpms_instance_change",
        &terminated("PI-B", "PROC-JIFEN-REDEEM"),
    )
    .await;
    assert!(matches!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Skipped(_)
    ));
    assert_eq!(balance(db, "wangfang").await, (40, 40));
    assert_eq!(
        db.store
            .rewards_out()
            .await
            .unwrap()
            .get("coffee")
            .copied()
            .unwrap_or(0),
        0
    );
    assert_eq!(db.store.verify_totals().await.unwrap(), vec![]);
}

async fn a_redemption_form_asking_for_what_cannot_be_had_holds_nothing_and_says_why(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    support::manual(
        db.store.as_ref(),
        "hr",
        "wangfang",
        10,
        false,
        "2026-11-02T02:00:00Z",
    )
    .await;
    let mut fake = FakeDingTalk::default();
    fake.approvals.insert(
        "PI-POOR".into(),
        redemption_request("wangfang", "coffee", "RUNNING"),
    );
    fake.approvals.insert(
        "PI-NONE".into(),
        redemption_request("wangfang", "游艇", "RUNNING"),
    );
    let (p, _) = processor(db, fake, with_redemption_form());
    redemption_change(db, "PI-POOR", "start", "").await;
    redemption_change(db, "PI-NONE", "start", "").await;
    let outcomes = p.run_once().await.unwrap();
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| matches!(o, RowOutcome::Skipped(_))),
        "{outcomes:?}"
    );
    assert_eq!(balance(db, "wangfang").await, (10, 10), "nothing held");
    assert!(
        db.store
            .redemptions(Some("wangfang"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let told: Vec<String> = db
        .store
        .outbox(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.dedup_key.starts_with("notify:redemption-form:"))
        .map(|r| {
            assert_eq!(r.recipient, "wangfang");
            r.payload.to_string()
        })
        .collect();
    assert_eq!(told.len(), 2, "{told:#?}");
    assert!(told.iter().any(|t| t.contains("可用积分不足")), "{told:#?}");
    assert!(
        told.iter().any(|t| t.contains("没有「游艇」这个奖品")),
        "{told:#?}"
    );

    // Its refusal later has nothing to refund.
    redemption_change(db, "PI-POOR", "finish", "refuse").await;
    assert!(matches!(
        p.run_once().await.unwrap()[0].1,
        RowOutcome::Skipped(_)
    ));
    assert_eq!(balance(db, "wangfang").await, (10, 10));
}

async fn a_redemption_form_approved_without_its_start_holds_and_approves_at_once(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    support::manual(
        db.store.as_ref(),
        "hr",
        "zhangwei",
        40,
        false,
        "2026-11-02T02:00:00Z",
    )
    .await;
    let mut fake = FakeDingTalk::default();
    fake.approvals.insert(
        "PI-LATE".into(),
        redemption_request("zhangwei", "coffee", "COMPLETED"),
    );
    let (p, _) = processor(db, fake, with_redemption_form());
    redemption_change(db, "PI-LATE", "finish", "agree").await;
    p.run_once().await.unwrap();
    assert_eq!(
        only_redemption(db, "zhangwei").await.status,
        RedemptionStatus::Approved
    );
    assert_eq!(balance(db, "zhangwei").await, (40, 10));
}
