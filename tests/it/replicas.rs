//! Two `jifen serve` replicas on one PostgreSQL database, with every callback delivered to
//! both of them (as DingTalk redelivers through a load balancer): each event is posted
//! once, each notification sent once, DingTalk's per-API limit is kept by both together,
//! and each replica's leaderboards follow the other's posts within a second.

use crate::support::{self, FreshPgDatabase, Server};

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jifen::dingtalk::crypto::CallbackCrypto;
use jifen::dingtalk::simulate::{approval_message, attendance_message, send_callback};
use jifen::emulator::gate::CallCount;
use jifen::emulator::org::{APP_KEY, APP_SECRET};
use jifen::emulator::{self, EmulatorSettings, RunningEmulator};
use jiff::civil::{Date, Weekday};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::{Connection, PgConnection};

const TOKEN: &str = "replica-token";
const AES_KEY: &str = "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo";
const RECEIVE_ID: &str = "ding8a7c6e5d4b3a2f10";
const ADMIN: &str = "replica-admin";
/// Enough people that their notifications keep DingTalk's limit busy for several seconds.
const PEOPLE: usize = 400;

fn spawn_replica(database_url: &str, emu: &RunningEmulator, name: &str) -> Server {
    let base = emu.base_url();
    support::spawn_server(&[
        ("JIFEN_DATABASE_URL", database_url),
        ("JIFEN_INSTANCE_ID", name),
        ("JIFEN_ADMIN_TOKEN", ADMIN),
        ("JIFEN_DINGTALK_CALLBACK_TOKEN", TOKEN),
        ("JIFEN_DINGTALK_AES_KEY", AES_KEY),
        ("JIFEN_DINGTALK_RECEIVE_ID", RECEIVE_ID),
        ("JIFEN_DINGTALK_APP_KEY", APP_KEY),
        ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET),
        (
            "JIFEN_DINGTALK_AGENT_ID",
            &emulator::org::AGENT_ID.to_string(),
        ),
        ("JIFEN_DINGTALK_API_BASE", &base),
        ("JIFEN_DINGTALK_OAPI_BASE", &base),
    ])
}

async fn get_json(server: &Server, path: &str) -> Option<Value> {
    let response = reqwest::Client::new()
        .get(format!("http://{}{path}", server.addr))
        .bearer_auth(ADMIN)
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Polls `done` every 50 ms for up to `within`; fails with `what` and the replicas' logs.
async fn wait_for(
    what: &str,
    within: Duration,
    replicas: &[&Server],
    mut done: impl AsyncFnMut() -> bool,
) {
    let started = Instant::now();
    while !done().await {
        if started.elapsed() > within {
            let logs: Vec<String> = replicas.iter().map(|r| r.log()).collect();
            panic!("{what}: not within {within:?}\n{}", logs.join("\n----\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last working day before today, and every check-in the emulator's people made on it.
fn check_ins(emu: &RunningEmulator) -> Vec<(String, i64)> {
    let mut day: Date = jiff::Zoned::now().date();
    loop {
        day = day.yesterday().unwrap();
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            break;
        }
    }
    let org = &emu.emulator.org;
    org.users
        .iter()
        .flat_map(|u| emu.emulator.attendance(&u.userid, day))
        .filter_map(|a| a.user_check_time.map(|at| (a.userid, at)))
        .collect()
}

async fn count(c: &mut PgConnection, query: &str) -> i64 {
    sqlx::query_scalar(query).fetch_one(c).await.unwrap()
}

/// A person's points on `server`'s all-time board, once it ranks them.
async fn points_on_board(server: &Server, userid: &str) -> Option<i64> {
    let board = get_json(
        server,
        &format!("/api/v1/leaderboard?window=all&userid={userid}"),
    )
    .await?;
    board["me"]["points"].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_post_each_event_once_notify_once_and_keep_dingtalks_limit_together() {
    if support::skip_postgres() {
        return;
    }
    let db = FreshPgDatabase::create("jifen_replicas").await;
    let emu = emulator::start(
        EmulatorSettings {
            people: PEOPLE,
            ..EmulatorSettings::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let replicas = [
        spawn_replica(&db.url, &emu, "replica-a"),
        spawn_replica(&db.url, &emu, "replica-b"),
    ];
    let [a, b] = &replicas;
    let someone = emu.emulator.org.users[PEOPLE - 1].userid.clone();
    for replica in &replicas {
        let path = format!("/api/v1/employees/{someone}/account");
        wait_for(
            "the address book read",
            Duration::from_secs(60),
            &[a, b],
            async || get_json(replica, &path).await.is_some(),
        )
        .await;
    }

    // Every check-in goes to both replicas, at once, from eight senders.
    let crypto = std::sync::Arc::new(
        CallbackCrypto::new(SecretString::from(TOKEN.to_string()), AES_KEY, RECEIVE_ID).unwrap(),
    );
    let check_ins = check_ins(&emu);
    assert!(
        check_ins.len() > PEOPLE / 2,
        "{} check-ins",
        check_ins.len()
    );
    let urls: Vec<String> = replicas
        .iter()
        .map(|r| format!("http://{}/dingtalk/callback", r.addr))
        .collect();
    let http = reqwest::Client::new();
    let mut senders = tokio::task::JoinSet::new();
    for lane in 0..8 {
        let (crypto, urls, http) = (crypto.clone(), urls.clone(), http.clone());
        let mine: Vec<(usize, (String, i64))> = check_ins
            .iter()
            .cloned()
            .enumerate()
            .filter(|(i, _)| i % 8 == lane)
            .collect();
        senders.spawn(async move {
            for (i, (userid, at)) in mine {
                let message = attendance_message(RECEIVE_ID, &userid, at, &format!("{i:032x}"));
                let (first, second) = (&urls[i % 2], &urls[(i + 1) % 2]);
                let (x, y) = tokio::join!(
                    send_callback(&http, first, &crypto, &message),
                    send_callback(&http, second, &crypto, &message)
                );
                x.unwrap();
                y.unwrap();
            }
        });
    }
    senders.join_all().await;

    let mut c = PgConnection::connect(&db.url).await.unwrap();
    let processing = "SELECT COUNT(*) FROM inbox WHERE status IN ('pending', 'processing')";
    let delivering = "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')";
    let drained = Duration::from_secs(120);
    wait_for("the inbox draining", drained, &[a, b], async || {
        count(&mut c, processing).await == 0
    })
    .await;
    // Check-ins are told in the evening's digest: let the evening come now.
    sqlx::query("UPDATE outbox SET next_attempt_at = $1 WHERE channel = 'daily_digest'")
        .bind(jiff::Timestamp::now().as_millisecond())
        .execute(&mut c)
        .await
        .unwrap();
    wait_for("the outbox draining", drained, &[a, b], async || {
        count(&mut c, delivering).await == 0
    })
    .await;

    // Each check-in once in the inbox, done, and posted at most once per rule.
    let done = count(
        &mut c,
        "SELECT COUNT(*) FROM inbox WHERE event_type = 'attendance_check_record' AND status = 'done'",
    )
    .await;
    assert_eq!(done, check_ins.len() as i64);
    assert_eq!(
        count(&mut c, "SELECT COUNT(*) FROM inbox WHERE status = 'failed'").await,
        0
    );
    let entries = count(&mut c, "SELECT COUNT(*) FROM ledger_entries").await;
    assert!(entries > 0, "the check-ins earned nothing");
    let twice = count(
        &mut c,
        "SELECT COUNT(*) FROM (SELECT source_key, rule_key FROM ledger_entries \
         GROUP BY source_key, rule_key HAVING COUNT(*) > 1) AS doubles",
    )
    .await;
    assert_eq!(twice, 0, "an event was posted twice");

    // Each queued notification reached DingTalk once: nothing dead, one message per row.
    let sent = count(&mut c, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'").await;
    assert_eq!(
        count(&mut c, "SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await,
        0
    );
    let messages = emu.emulator.messages();
    assert!(sent >= PEOPLE as i64 / 4, "only {sent} notifications");
    assert_eq!(messages.len() as i64, sent, "one message per notification");
    let mut per_text: HashMap<(&[String], &str), usize> = HashMap::new();
    for m in &messages {
        *per_text.entry((&m.to, &m.text)).or_default() += 1;
    }
    assert!(per_text.values().all(|&n| n == 1), "a message went twice");

    // Two replicas at full speed would make twice the calls DingTalk allows; the shared
    // schedule keeps them to it. A call or two may still land a hair early.
    let calls: std::collections::BTreeMap<String, CallCount> =
        reqwest::get(format!("{}/_emulator/calls", emu.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let admitted: u64 = calls.values().map(|c| c.admitted).sum();
    let throttled: u64 = calls.values().map(|c| c.throttled).sum();
    assert!(
        throttled * 100 <= admitted,
        "DingTalk refused {throttled} of {} calls for going over its limit: {calls:?}",
        admitted + throttled
    );

    // A post on one replica shows on the other's boards within a second.
    let (lucky, before) = (
        someone.as_str(),
        points_on_board(b, &someone).await.unwrap_or(0),
    );
    let now = jiff::Timestamp::now().as_millisecond();
    let form = [("对象", lucky), ("积分", "7"), ("事由", "协助客户回访")];
    let manager = &emu.emulator.org.users[0].userid;
    let instance = emu
        .emulator
        .file_approval("PROC-JIFEN-POINTS", manager, &form, Some("agree"), now)
        .unwrap();
    let message = approval_message(
        RECEIVE_ID,
        &instance.id,
        &instance.process_code,
        &instance.originator,
        &instance.title,
        "agree",
        now,
    );
    send_callback(&http, &urls[0], &crypto, &message)
        .await
        .unwrap();
    let posted = "SELECT COUNT(*) FROM ledger_entries WHERE source_key LIKE 'bpms:%'";
    wait_for(
        "the approval posted",
        Duration::from_secs(20),
        &[a, b],
        async || count(&mut c, posted).await > 0,
    )
    .await;
    let posted_at = Instant::now();
    wait_for(
        "replica B's board",
        Duration::from_secs(1),
        &[a, b],
        async || points_on_board(b, lucky).await == Some(before + 7),
    )
    .await;
    eprintln!(
        "{} check-ins, {entries} entries, {sent} notifications, {admitted} calls ({throttled} throttled); \
         replica B's board caught up {} ms after the post",
        check_ins.len(),
        posted_at.elapsed().as_millis()
    );

    c.close().await.ok();
    for replica in replicas {
        replica.stop();
    }
    emu.stop().await;
    db.drop().await;
}
