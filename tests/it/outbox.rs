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
use jifen::store::{Lane, NewOutboxRow, Store};
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
    a_robot_reply_does_not_wait_behind_a_slow_work_notification,
    what_dingtalk_did_with_each_work_notification_is_read_back,
    a_push_to_someone_dingtalk_does_not_know_is_dead_lettered_at_once,
    a_restarted_deliverer_takes_back_its_own_claims_at_once,
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
        left_at: None,
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
        .claim_outbox(
            now,
            now + jiff::SignedDuration::from_millis(100),
            10,
            "a crashed sender",
            Lane::Others,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        store
            .claim_outbox(now, now, 10, "another sender", Lane::Others)
            .await
            .unwrap()
            .is_empty(),
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
    // Posted yesterday morning, so the digest's evening has come whatever the hour now.
    let yesterday = shanghai().local_date(Timestamp::now()).yesterday().unwrap();
    let now = yesterday
        .at(9, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .unwrap()
        .timestamp();
    for (key, at) in [
        ("att:1", "2026-10-08T01:00:00Z"),
        ("att:2", "2026-10-09T01:00:00Z"),
    ] {
        post(store, &checked(LI_QIANG, key, at, "late"), now).await;
    }
    let day = yesterday;
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

/// A push of `message` to `recipient` on `channel`, queued now.
async fn queue(
    store: &dyn Store,
    key: &str,
    channel: &str,
    recipient: &str,
    payload: serde_json::Value,
) {
    let now = Timestamp::now();
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_outbox(&NewOutboxRow {
        dedup_key: key.into(),
        channel: channel.into(),
        recipient: recipient.into(),
        payload,
        due_at: now,
        created_at: now,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

fn markdown(title: &str, text: &str) -> serde_json::Value {
    json!({"type": "markdown", "title": title, "text": text})
}

async fn a_robot_reply_does_not_wait_behind_a_slow_work_notification(db: &TestDb) {
    let store = db.store.as_ref();
    seed(store).await;
    let emu = emulator().await;
    emu.emulator.gate.inject(Fault {
        api: "/topapi/message/corpconversation/asyncsend_v2".into(),
        kind: FaultKind::Slow { millis: 3_000 },
        times: 10,
    });
    for n in 0..6 {
        queue(
            store,
            &format!("notify:{n}"),
            "work_notification",
            LI_QIANG,
            markdown("积分", &format!("第 {n} 条")),
        )
        .await;
    }
    let reply = json!({"message": markdown("积分", "帮助"), "at": LI_QIANG, "webhook": null, "webhook_expires_at": null});
    queue(store, "reply:m1", "robot_reply", LI_QIANG, reply).await;
    let deliverer = Arc::new(deliverer(db, &emu, &[10]));
    let cancel = jifen::runtime::CancellationToken::new();
    let worker = tokio::spawn({
        let (deliverer, cancel) = (deliverer.clone(), cancel.clone());
        async move { deliverer.run(cancel).await }
    });
    let started = std::time::Instant::now();
    while !emu
        .emulator
        .messages()
        .iter()
        .any(|m| m.channel == "robot_oto")
    {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the reply waited behind the work notifications"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    worker.await.unwrap();
    emu.stop().await;
}

async fn what_dingtalk_did_with_each_work_notification_is_read_back(db: &TestDb) {
    let store = db.store.as_ref();
    seed(store).await;
    let emu = emulator().await;
    // The same content twice in a day: DingTalk accepts both and delivers one.
    queue(
        store,
        "notify:a",
        "work_notification",
        LI_QIANG,
        markdown("积分 +5", "准时打卡"),
    )
    .await;
    queue(
        store,
        "notify:b",
        "work_notification",
        LI_QIANG,
        markdown("积分 +5", "准时打卡"),
    )
    .await;
    let deliverer = deliverer(db, &emu, &[10]);
    assert_eq!(deliverer.run_once().await.unwrap(), 2);
    let later = Timestamp::now() + jiff::SignedDuration::from_secs(60);
    assert_eq!(deliverer.check_results(later).await.unwrap(), 2);
    assert_eq!(
        deliverer.check_results(later).await.unwrap(),
        0,
        "read back once"
    );
    let mut results: Vec<String> = store
        .outbox(Some("sent"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.result.unwrap_or_default())
        .collect();
    results.sort();
    assert!(results[0].starts_with("delivered"), "{results:?}");
    assert!(
        results[1].starts_with("refused: held back by DingTalk's limits"),
        "{results:?}"
    );
    emu.stop().await;
}

async fn a_push_to_someone_dingtalk_does_not_know_is_dead_lettered_at_once(db: &TestDb) {
    let store = db.store.as_ref();
    let emu = emulator().await;
    queue(
        store,
        "oto:ghost",
        "robot_oto",
        "ghost-0001",
        markdown("积分", "你好"),
    )
    .await;
    let deliverer = deliverer(db, &emu, &[10, 10, 10]);
    assert_eq!(deliverer.run_once().await.unwrap(), 1);
    let dead = store.outbox(Some("dead"), 10).await.unwrap();
    assert_eq!(dead.len(), 1, "no retry can help");
    assert_eq!(dead[0].attempts, 1);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("does not know user ghost-0001"),
        "{:?}",
        dead[0]
    );
    emu.stop().await;
}

async fn a_restarted_deliverer_takes_back_its_own_claims_at_once(db: &TestDb) {
    let store = db.store.as_ref();
    seed(store).await;
    queue(
        store,
        "notify:c",
        "work_notification",
        LI_QIANG,
        markdown("积分", "第 1 条"),
    )
    .await;
    let now = Timestamp::now();
    let minute = jiff::SignedDuration::from_secs(60);
    let held = store
        .claim_outbox(now, now + minute, 10, "host-a:8080/delivery", Lane::Others)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    let emu = emulator().await;
    let mut deliverer = deliverer(db, &emu, &[10]);
    deliverer.settings.owner = "host-a:8080/delivery".into();
    let deliverer = Arc::new(deliverer);
    let cancel = jifen::runtime::CancellationToken::new();
    let worker = tokio::spawn({
        let (deliverer, cancel) = (deliverer.clone(), cancel.clone());
        async move { deliverer.run(cancel).await }
    });
    let started = std::time::Instant::now();
    while emu.emulator.messages().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the restarted process waited out its own lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    worker.await.unwrap();
    emu.stop().await;
}
