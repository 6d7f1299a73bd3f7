//! The outbox on both backends: a new entry queues its notification in the same transaction,
//! the delivery worker sends it to the DingTalk emulator and records the attempt, failures
//! are retried on schedule and then dead-lettered with the reason, and nothing is lost.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use jifen::dingtalk::openapi::{OpenApiClient, OpenApiSettings};
use jifen::domain::{DomainEvent, Employee};
use jifen::emulator::gate::{Fault, FaultKind};
use jifen::emulator::org::{AGENT_ID, APP_KEY, APP_SECRET};
use jifen::emulator::{self, EmulatorSettings, RunningEmulator};
use jifen::ledger;
use jifen::outbox;
use jifen::outbox::deliver::{Deliverer, DeliverySettings};
use jifen::rules::load_rules;
use jifen::store::{NewOutboxRow, Store};
use jiff::Timestamp;
use secrecy::SecretString;
use serde_json::json;
use support::{TestDb, checked, shanghai};

on_both_backends!(
    a_new_entry_queues_its_notification_in_the_same_transaction,
    a_digest_rule_queues_one_digest_per_person_per_day,
    the_deliverer_sends_due_pushes_and_records_the_attempt,
    a_failing_push_is_retried_on_schedule_then_dead_lettered_and_can_be_requeued,
    a_push_claimed_by_a_crashed_sender_is_sent_after_its_lease,
    rate_limits_and_server_errors_delay_pushes_but_each_arrives_once,
    a_daily_digest_summarises_the_days_entries,
);

const LI_QIANG: &str = "281826612426286785";

const RULES: &str = r#"
[[rule]]
id = "attendance.ontime"
version = 3
name = "准时打卡"
event = "attendance.checked"
when = 'result == "on_time"'
points = 5

[[rule]]
id = "late"
name = "迟到"
event = "attendance.checked"
when = 'result == "late"'
points = -2
notify = "digest"

[[rule]]
id = "quiet"
name = "静默"
event = "attendance.checked"
when = 'result == "early"'
points = 1
notify = "none"
"#;

async fn seed(store: &dyn Store) {
    let mut tx = store.begin().await.unwrap();
    tx.upsert_employee(&Employee {
        userid: LI_QIANG.into(),
        name: "李强".into(),
        departments: vec![],
        leads: vec![],
        active: true,
        hired_at: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn post(store: &dyn Store, event: &DomainEvent, now: Timestamp) {
    let rules = load_rules(RULES).unwrap();
    let mut tx = store.begin().await.unwrap();
    let posting = ledger::post_event(tx.as_mut(), &rules, &shanghai(), event, now)
        .await
        .unwrap();
    outbox::queue_notices(tx.as_mut(), &posting, &shanghai(), now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn emulator() -> RunningEmulator {
    emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn deliverer(db: &TestDb, emu: &RunningEmulator, schedule_ms: &[u64]) -> Deliverer {
    let mut s = OpenApiSettings::new(APP_KEY.into(), SecretString::from(APP_SECRET));
    s.api_base = emu.base_url();
    s.oapi_base = emu.base_url();
    s.agent_id = Some(AGENT_ID);
    s.robot_code = Some(APP_KEY.into());
    s.max_attempts = 1;
    Deliverer {
        store: db.store.clone(),
        client: Arc::new(OpenApiClient::new(s).unwrap()),
        calendar: shanghai(),
        settings: DeliverySettings {
            retry_schedule: schedule_ms
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            lease: Duration::from_millis(200),
            ..DeliverySettings::default()
        },
        wake: Default::default(),
    }
}

async fn a_new_entry_queues_its_notification_in_the_same_transaction(db: &TestDb) {
    let store = db.store.as_ref();
    seed(store).await;
    let event = checked(LI_QIANG, "att:1", "2026-10-08T00:52:00Z", "on_time");
    // A transaction that is not committed leaves no push behind.
    {
        let rules = load_rules(RULES).unwrap();
        let mut tx = store.begin().await.unwrap();
        let posting =
            ledger::post_event(tx.as_mut(), &rules, &shanghai(), &event, Timestamp::now())
                .await
                .unwrap();
        outbox::queue_notices(tx.as_mut(), &posting, &shanghai(), Timestamp::now())
            .await
            .unwrap();
    }
    assert!(store.outbox(None, 10).await.unwrap().is_empty());
    post(store, &event, Timestamp::now()).await;
    post(store, &event, Timestamp::now()).await; // redelivered
    post(
        store,
        &checked(LI_QIANG, "att:2", "2026-10-09T00:52:00Z", "early"),
        Timestamp::now(),
    )
    .await;
    let rows = store.outbox(None, 10).await.unwrap();
    assert_eq!(
        rows.len(),
        1,
        "one push for one entry; none for notify = none: {rows:#?}"
    );
    let row = &rows[0];
    assert_eq!(
        (
            row.channel.as_str(),
            row.recipient.as_str(),
            row.status.as_str()
        ),
        ("work_notification", LI_QIANG, "pending")
    );
    let text = row.payload["text"].as_str().unwrap();
    assert!(
        text.contains("+5 积分 · 准时打卡 (attendance.ontime v3)"),
        "{text}"
    );
    assert!(text.contains("余额 5 · 总积分 5 · 排名 1/1"), "{text}");
    assert!(
        text.contains(
            "You earned +5 积分 for 准时打卡 (attendance.ontime v3) — balance 5, rank 1 of 1"
        ),
        "{text}"
    );
}

async fn a_digest_rule_queues_one_digest_per_person_per_day(db: &TestDb) {
    let store = db.store.as_ref();
    seed(store).await;
    let morning: Timestamp = "2026-10-08T01:00:00Z".parse().unwrap();
    post(
        store,
        &checked(LI_QIANG, "att:1", "2026-10-08T01:00:00Z", "late"),
        morning,
    )
    .await;
    post(
        store,
        &checked(LI_QIANG, "att:2", "2026-10-08T01:05:00Z", "late"),
        morning,
    )
    .await;
    let rows = store.outbox(None, 10).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].channel, "daily_digest");
    assert_eq!(rows[0].dedup_key, format!("digest:{LI_QIANG}:2026-10-08"));
    // 20:00 in Shanghai.
    assert_eq!(
        rows[0].next_attempt_at,
        "2026-10-08T12:00:00Z".parse().unwrap()
    );
}

async fn the_deliverer_sends_due_pushes_and_records_the_attempt(db: &TestDb) {
    let store = db.store.as_ref();
    seed(store).await;
    post(
        store,
        &checked(LI_QIANG, "att:1", "2026-10-08T00:52:00Z", "on_time"),
        Timestamp::now(),
    )
    .await;
    let emu = emulator().await;
    let deliverer = deliverer(db, &emu, &[10]);
    assert_eq!(deliverer.run_once().await.unwrap(), 1);
    assert_eq!(deliverer.run_once().await.unwrap(), 0, "sent once");
    let messages = emu.emulator.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, vec![LI_QIANG]);
    assert_eq!(messages[0].title, "积分 +5");
    let row = &store.outbox(None, 10).await.unwrap()[0];
    assert_eq!(row.status, "sent");
    assert!(row.sent_at.is_some());
    let attempts = store.outbox_attempts(row.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "sent");
    assert!(
        attempts[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("work notification task")
    );
    emu.stop().await;
}

async fn a_failing_push_is_retried_on_schedule_then_dead_lettered_and_can_be_requeued(db: &TestDb) {
    let store = db.store.as_ref();
    seed(store).await;
    post(
        store,
        &checked(LI_QIANG, "att:1", "2026-10-08T00:52:00Z", "on_time"),
        Timestamp::now(),
    )
    .await;
    let emu = emulator().await;
    let api = "/topapi/message/corpconversation/asyncsend_v2";
    emu.emulator.gate.inject(Fault {
        api: api.into(),
        kind: FaultKind::ServerError,
        times: 3,
    });
    // Waits long enough that a busy machine (the whole suite runs at once) still asks
    // again before the retry is due.
    let deliverer = deliverer(db, &emu, &[400, 400]);
    for _ in 0..3 {
        assert_eq!(deliverer.run_once().await.unwrap(), 1);
        assert_eq!(
            deliverer.run_once().await.unwrap(),
            0,
            "not due before its retry time"
        );
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
    let dead = store.outbox(Some("dead"), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].last_error.as_deref().unwrap().contains("HTTP 502"),
        "{:?}",
        dead[0]
    );
    let outcomes: Vec<_> = store
        .outbox_attempts(dead[0].id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, ["retry", "retry", "dead"]);
    assert!(emu.emulator.messages().is_empty());
    assert_eq!(
        deliverer.run_once().await.unwrap(),
        0,
        "dead letters stay put"
    );
    // An operator requeues it (jifen outbox retry) and it goes.
    assert_eq!(
        store
            .retry_outbox(Some(dead[0].id), Timestamp::now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .retry_outbox(Some(dead[0].id), Timestamp::now())
            .await
            .unwrap(),
        0
    );
    assert_eq!(deliverer.run_once().await.unwrap(), 1);
    assert_eq!(emu.emulator.messages().len(), 1);
    assert_eq!(store.outbox(Some("sent"), 10).await.unwrap().len(), 1);
    emu.stop().await;
}

async fn a_push_claimed_by_a_crashed_sender_is_sent_after_its_lease(db: &TestDb) {
    let store = db.store.as_ref();
    seed(store).await;
    post(
        store,
        &checked(LI_QIANG, "att:1", "2026-10-08T00:52:00Z", "on_time"),
        Timestamp::now(),
    )
    .await;
    let now = Timestamp::now();
    // A sender claims it and dies before recording anything.
    let claimed = store
        .claim_outbox(now, now + jiff::SignedDuration::from_millis(100), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        store.claim_outbox(now, now, 10).await.unwrap().is_empty(),
        "leased"
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let emu = emulator().await;
    assert_eq!(deliverer(db, &emu, &[10]).run_once().await.unwrap(), 1);
    assert_eq!(emu.emulator.messages().len(), 1);
    emu.stop().await;
}

async fn a_daily_digest_summarises_the_days_entries(db: &TestDb) {
    let store = db.store.as_ref();
    seed(store).await;
    let now = Timestamp::now();
    post(
        store,
        &checked(LI_QIANG, "att:1", "2026-10-08T01:00:00Z", "late"),
        now,
    )
    .await;
    post(
        store,
        &checked(LI_QIANG, "att:2", "2026-10-09T01:00:00Z", "late"),
        now,
    )
    .await;
    // Make the evening come early.
    let mut tx = store.begin().await.unwrap();
    let day = shanghai().local_date(now);
    tx.enqueue_outbox(&NewOutboxRow {
        dedup_key: "digest-now".into(),
        channel: "daily_digest".into(),
        recipient: LI_QIANG.into(),
        payload: json!({ "date": day }),
        due_at: now,
        created_at: now,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let emu = emulator().await;
    assert_eq!(deliverer(db, &emu, &[10]).run_once().await.unwrap(), 1);
    let messages = emu.emulator.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].title, format!("{day} 积分小结 -4"));
    assert_eq!(
        messages[0].text.matches("- -2 ").count(),
        2,
        "{}",
        messages[0].text
    );
    emu.stop().await;
}

async fn rate_limits_and_server_errors_delay_pushes_but_each_arrives_once(db: &TestDb) {
    let store = db.store.as_ref();
    seed(store).await;
    for day in 1..=5 {
        let event = checked(
            LI_QIANG,
            &format!("att:{day}"),
            &format!("2026-10-0{day}T00:52:00Z"),
            "on_time",
        );
        post(store, &event, Timestamp::now()).await;
    }
    let emu = emulator().await;
    let api = "/topapi/message/corpconversation/asyncsend_v2";
    for kind in [
        FaultKind::RateLimit,
        FaultKind::ServerError,
        FaultKind::RateLimit,
    ] {
        emu.emulator.gate.inject(Fault {
            api: api.into(),
            kind,
            times: 1,
        });
    }
    let deliverer = deliverer(db, &emu, &[20, 20, 20, 20]);
    let started = std::time::Instant::now();
    while store.outbox(Some("sent"), 10).await.unwrap().len() < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:#?}",
            store.outbox(None, 10).await.unwrap()
        );
        deliverer.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let messages = emu.emulator.messages();
    assert_eq!(messages.len(), 5, "none lost, none twice");
    let mut texts: Vec<_> = messages.iter().map(|m| m.text.clone()).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 5);
    let retried: usize = {
        let mut n = 0;
        for row in store.outbox(None, 10).await.unwrap() {
            n += store
                .outbox_attempts(row.id)
                .await
                .unwrap()
                .iter()
                .filter(|a| a.outcome == "retry")
                .count();
        }
        n
    };
    assert_eq!(retried, 3, "each refusal cost one attempt");
    emu.stop().await;
}
