//! The processor on both backends: inbox rows become ledger entries through the rules, in
//! one transaction with completing the row; failures retry, then park as failed.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jifen::processor::source::{
    ApprovalDetail, AttendanceResult, DingTalkSource, FormValue, SourceError,
};
use jifen::processor::{Processor, ProcessorSettings, RowOutcome};
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
);

#[derive(Default)]
struct FakeDingTalk {
    approvals: HashMap<String, ApprovalDetail>,
    attendance: Vec<AttendanceResult>,
    /// Fail this many calls before answering.
    failures: AtomicUsize,
    calls: AtomicUsize,
}

#[async_trait]
impl DingTalkSource for FakeDingTalk {
    async fn approval(&self, id: &str) -> Result<ApprovalDetail, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
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
}

fn points_request(title: &str, who: &str, amount: &str) -> ApprovalDetail {
    ApprovalDetail {
        title: title.into(),
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
    enqueue(
        db,
        "bpms_instance:PI-1:finish:agree",
        "bpms_instance_change",
        &instance("PI-1", "PROC-JIFEN-POINTS", "finish", "agree"),
    )
    .await;
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
    enqueue(
        db,
        "bpms_instance:PI-4:finish:agree",
        "bpms_instance_change",
        &payload,
    )
    .await;
    enqueue(db, "reconcile:PI-4", "bpms_instance_change", &payload).await;
    let outcomes = p.run_once().await.unwrap();
    assert_eq!(
        outcomes.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>(),
        [
            RowOutcome::Done { entries: 1 },
            RowOutcome::Done { entries: 0 }
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
        .claim_inbox(now, now + jiff::SignedDuration::from_millis(50), 10)
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
