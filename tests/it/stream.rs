//! Stream mode end to end: `jifen serve` with `ingress.mode = "stream"` and no callback keys
//! holds a WebSocket to the emulator's gateway, and approvals, check-ins and robot messages
//! arrive over it and become points exactly once, across a disconnect notice, a dropped
//! socket, a silent socket, refused tickets and redeliveries. Frames that cannot be stored
//! are answered LATER. The honor board goes out as an interactive card whose buttons answer
//! over Stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jifen::dingtalk::card::CardSpace;
use jifen::dingtalk::stream::CARD_TOPIC;
use jifen::emulator::org::{APP_KEY, APP_SECRET, CORP_ID};
use jifen::emulator::robot::{GROUP_CONVERSATION, RobotSend};
use jifen::emulator::stream::{GatewaySettings, StreamFault};
use jifen::emulator::{EmulatorSettings, RunningEmulator};
use jifen::ingress::InboxWriter;
use jifen::ingress::stream::{StreamClient, StreamSettings};
use jifen::runtime::CancellationToken;
use serde_json::Value;

use crate::micro_app::start_emulator;
use crate::support::{self, Server, TestDb};

const LI_QIANG: &str = "281826612426286785";
const ZHANG_WEI: &str = "0941516526848432";
const WANG_FANG: &str = "manager4220";
const ADMIN: &str = "stream-admin";

on_both_databases!(
    stream_mode_turns_events_into_points_once_across_disconnects_drops_and_redeliveries,
    a_killed_jifen_under_stream_load_loses_no_acknowledged_frame,
    the_honor_board_goes_out_as_an_interactive_card_whose_buttons_answer_over_stream,
    a_leaderboard_asked_for_in_a_group_comes_as_a_card_that_refreshes_in_place,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_each_hold_a_connection_and_each_event_posts_once() {
    if support::skip_postgres() {
        return;
    }
    let db = support::FreshPgDatabase::create("jifen_stream_replicas").await;
    let emu = start_emulator().await;
    quick_gateway(&emu);
    let (one, two) = (
        spawn_stream(&db.url, &emu, "replica-1"),
        spawn_stream(&db.url, &emu, "replica-2"),
    );
    let log = || format!("{}\n---\n{}", one.log(), two.log());
    wait_until("both connections and the address book", log, async || {
        synced(&one).await && emu.emulator.stream_connections().0 == 2
    })
    .await;
    // DingTalk spreads the pushes over the connections; each event posts once all the same.
    let mut expected = 0;
    for points in 1..=12 {
        let instance = approval(&emu, &points.to_string());
        assert!(emu.emulator.push_approval(&instance).await, "{}", log());
        expected += points;
    }
    wait_until("twelve entries", log, async || {
        entries(&one, ZHANG_WEI).await.len() == 12
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posted = entries(&two, ZHANG_WEI).await;
    assert_eq!(
        posted.len(),
        12,
        "each event once, whichever replica took it"
    );
    let total: i64 = posted.iter().map(|e| e["points"].as_i64().unwrap()).sum();
    assert_eq!(total, expected);
    one.stop();
    two.stop();
    emu.stop().await;
    db.drop().await;
}

on_both_backends!(
    a_frame_that_cannot_be_stored_is_answered_later_and_stored_when_pushed_again,
    a_silent_socket_and_refused_tickets_are_outlasted,
);

fn quick_gateway(emu: &RunningEmulator) {
    emu.emulator.set_gateway(GatewaySettings {
        ack_timeout: Duration::from_millis(800),
        disconnect_grace: Duration::from_millis(300),
    });
}

async fn wait_until(what: &str, log: impl Fn() -> String, check: impl AsyncFn() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gave up waiting for {what}:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn entries(server: &Server, userid: &str) -> Vec<Value> {
    let response = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/employees/{userid}/entries?limit=500",
            server.addr
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    body["entries"].as_array().cloned().unwrap_or_default()
}

/// An approved 奖扣申请 of `points` for 张伟, filed by 王芳.
fn approval(emu: &RunningEmulator, points: &str) -> jifen::emulator::FakeInstance {
    emu.emulator
        .file_approval(
            "PROC-JIFEN-POINTS",
            WANG_FANG,
            &[("对象", ZHANG_WEI), ("积分", points), ("事由", "Stream")],
            Some("agree"),
            jiff::Timestamp::now().as_millisecond(),
        )
        .unwrap()
}

async fn stream_mode_turns_events_into_points_once_across_disconnects_drops_and_redeliveries(
    database_url: &str,
    _backend: &str,
) {
    let emu = start_emulator().await;
    quick_gateway(&emu);
    // No callback token, AES key or public address: only the app's credentials.
    let server = spawn_stream(database_url, &emu, "stream-1");
    let log = || server.log();
    wait_until(
        "the address book and a Stream connection",
        log,
        async || synced(&server).await && emu.emulator.streams("EVENT", "*"),
    )
    .await;

    let first = approval(&emu, "8");
    assert!(emu.emulator.push_approval(&first).await, "{}", log());
    // DingTalk says this connection will close; what it pushes meanwhile still arrives.
    emu.emulator.stream_fault(StreamFault::Disconnect);
    let second = approval(&emu, "5");
    assert!(emu.emulator.push_approval(&second).await, "{}", log());
    wait_until("the next connection", log, async || {
        emu.emulator.stream_connections().1 >= 2
    })
    .await;
    // The socket drops without a word: the push waits for the next connection.
    emu.emulator.stream_fault(StreamFault::Drop);
    let third = approval(&emu, "3");
    assert!(emu.emulator.push_approval(&third).await, "{}", log());
    // DingTalk pushes the first again, as it may even after an ACK.
    assert!(emu.emulator.push_approval(&first).await);
    wait_until("three entries for 张伟", log, async || {
        entries(&server, ZHANG_WEI).await.len() == 3
    })
    .await;
    // A day's check-ins, by Stream too.
    let day = jiff::civil::date(2026, 10, 13);
    assert!(emu.emulator.push_check_ins(LI_QIANG, day).await > 0);
    wait_until("李强's check-in entries", log, async || {
        entries(&server, LI_QIANG)
            .await
            .iter()
            .any(|e| e["source_key"].as_str().unwrap_or("").starts_with("att:"))
    })
    .await;
    let checked = entries(&server, LI_QIANG).await.len();
    emu.emulator.push_check_ins(LI_QIANG, day).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut points: Vec<i64> = entries(&server, ZHANG_WEI)
        .await
        .iter()
        .map(|e| e["points"].as_i64().unwrap())
        .collect();
    points.sort();
    assert_eq!(points, [3, 5, 8], "each approval once");
    assert_eq!(entries(&server, LI_QIANG).await.len(), checked, "replayed");

    // The gateway's pings are echoed; every event was acknowledged SUCCESS, as the
    // protocol's ACK frame has it.
    emu.emulator.stream_ping();
    wait_until("the ping's echo", log, async || {
        emu.emulator
            .stream_acks()
            .iter()
            .any(|a| a.message_id.starts_with("ping-") && a.data["opaque"] == a.message_id)
    })
    .await;
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/dingtalk/stream-event-bpms-instance-change.json")
            .unwrap(),
    )
    .unwrap();
    let expected = &fixture["ack_per_protocol"];
    let events: Vec<_> = emu
        .emulator
        .stream_acks()
        .into_iter()
        .filter(|a| a.message_id.starts_with("evt_"))
        .collect();
    assert!(events.len() >= 5, "{events:#?}");
    for ack in &events {
        let raw: Value = serde_json::from_str(&ack.raw).unwrap();
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&raw), keys(expected));
        assert_eq!(keys(&raw["headers"]), keys(&expected["headers"]));
        assert_eq!(raw["code"], 200);
        assert_eq!(ack.data["status"], "SUCCESS", "{}", ack.raw);
    }
    let log = server.stop();
    assert!(log.contains("Stream connection open"), "{log}");
    assert!(
        !log.contains(APP_SECRET),
        "the secret never reaches the log"
    );
    emu.stop().await;
}

/// The settings of jifen in Stream mode on `database_url`: the app's credentials and
/// nothing for HTTP callbacks.
fn stream_env(database_url: &str, emu: &RunningEmulator) -> Vec<(String, String)> {
    let base = emu.base_url();
    [
        ("JIFEN_DATABASE_URL", database_url),
        ("JIFEN_ADMIN_TOKEN", ADMIN),
        ("JIFEN_INGRESS_MODE", "stream"),
        ("JIFEN_DINGTALK_APP_KEY", APP_KEY),
        ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET),
        ("JIFEN_DINGTALK_CORP_ID", CORP_ID),
        ("JIFEN_DINGTALK_API_BASE", &base),
        ("JIFEN_DINGTALK_OAPI_BASE", &base),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec()
}

/// `jifen serve` with `env` as replica `instance`.
fn spawn_with(env: &[(String, String)], instance: &str) -> Server {
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("JIFEN_INSTANCE_ID", instance));
    support::spawn_server(&env)
}

/// `jifen serve` in Stream mode on `database_url` as replica `instance`.
fn spawn_stream(database_url: &str, emu: &RunningEmulator, instance: &str) -> Server {
    spawn_with(&stream_env(database_url, emu), instance)
}

/// Whether `server` has read the address book (张伟 has an account).
async fn synced(server: &Server) -> bool {
    reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/employees/{ZHANG_WEI}/account",
            server.addr
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// [`spawn_stream`], once its connection is open.
async fn serve_stream(database_url: &str, emu: &RunningEmulator) -> Server {
    let server = spawn_stream(database_url, emu, "stream-1");
    wait_until(
        "a Stream connection",
        || server.log(),
        async || emu.emulator.streams("EVENT", "*"),
    )
    .await;
    server
}

fn approval_event(n: usize) -> String {
    jifen::dingtalk::simulate::approval_message(
        CORP_ID,
        &format!("PI-STREAM-{n}"),
        "PROC-JIFEN-POINTS",
        WANG_FANG,
        "积分申请",
        "agree",
        jiff::Timestamp::now().as_millisecond(),
    )
}

async fn a_killed_jifen_under_stream_load_loses_no_acknowledged_frame(
    database_url: &str,
    _backend: &str,
) {
    let emu = start_emulator().await;
    quick_gateway(&emu);
    let server = serve_stream(database_url, &emu).await;
    let acked: Arc<std::sync::Mutex<Vec<usize>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut pushers = Vec::new();
    for _ in 0..16 {
        let (emu, acked, next) = (emu.emulator.clone(), acked.clone(), next.clone());
        pushers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match emu
                    .stream_event("bpms_instance_change", &approval_event(n))
                    .await
                {
                    true => acked.lock().unwrap().push(n),
                    false => break, // jifen is gone
                }
            }
        }));
    }
    let started = Instant::now();
    while acked.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    for p in pushers {
        p.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300,
        "only {} frames acknowledged",
        acked.len()
    );
    let keys = support::inbox_keys(database_url).await;
    let unique: std::collections::HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "no event is stored twice");
    for n in &acked {
        let key = format!("bpms_instance:PI-STREAM-{n}:finish:agree");
        assert!(unique.contains(&key), "acknowledged frame {n} was lost");
    }
    // Started again, it takes DingTalk's redeliveries and stores nothing twice.
    let server = serve_stream(database_url, &emu).await;
    for n in acked.iter().take(50) {
        assert!(
            emu.emulator
                .stream_event("bpms_instance_change", &approval_event(*n))
                .await
        );
    }
    server.stop();
    assert_eq!(support::inbox_keys(database_url).await.len(), keys.len());
    emu.stop().await;
}

/// `userid` presses 我的排名 on card `id`; what the card then shows them alone.
async fn my_place(
    emu: &RunningEmulator,
    id: &str,
    userid: &str,
    log: &impl Fn() -> String,
) -> String {
    let ack = emu
        .emulator
        .press_card(id, userid, "my_place")
        .await
        .unwrap();
    assert_eq!(ack.map(|a| a.code), Some(200), "the press is acknowledged");
    wait_until("a place on the card", log, async || {
        emu.emulator.card(id).unwrap().private.contains_key(userid)
    })
    .await;
    emu.emulator.card(id).unwrap().private[userid]["my_place"].clone()
}

/// Who leads this week's board, with how many points (the boards follow the ledger a
/// moment after a post).
async fn leader(server: &Server) -> Option<(String, i64)> {
    let board: Value = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/leaderboard?window=week",
            server.addr
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let top = &board["top"][0];
    let points = top["points"].as_i64().filter(|p| *p > 0)?;
    Some((top["userid"].as_str()?.to_string(), points))
}

/// jifen in Stream mode with the robot and `cards` settings, once it holds a connection taking
/// card presses and has posted 8 points to 张伟; its settings too.
async fn serve_cards_with_8_points(
    database_url: &str,
    emu: &RunningEmulator,
    cards: &[(&str, &str)],
) -> (Server, Vec<(String, String)>) {
    let mut env = stream_env(database_url, emu);
    env.extend(
        [("JIFEN_DINGTALK_ROBOT_CODE", APP_KEY)]
            .iter()
            .chain(cards)
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let server = spawn_with(&env, "stream-1");
    let log = || server.log();
    wait_until(
        "the address book and a Stream connection",
        log,
        async || synced(&server).await && emu.emulator.streams("CALLBACK", CARD_TOPIC),
    )
    .await;
    let approved = approval(emu, "8");
    assert!(emu.emulator.push_approval(&approved).await, "{}", log());
    wait_until("张伟's entry on this week's board", log, async || {
        leader(&server).await == Some((ZHANG_WEI.to_string(), 8))
    })
    .await;
    (server, env)
}

async fn the_honor_board_goes_out_as_an_interactive_card_whose_buttons_answer_over_stream(
    database_url: &str,
    _backend: &str,
) {
    let emu = start_emulator().await;
    quick_gateway(&emu);
    let group = "cidqE8f3kVb2T9nR5sLwZ7hYg==";
    let (server, env) = serve_cards_with_8_points(
        database_url,
        &emu,
        &[
            ("JIFEN_CARDS_HONOR_BOARD_TEMPLATE", "honor-board.schema"),
            ("JIFEN_HONOR_BOARD_GROUPS", group),
        ],
    )
    .await;
    let log = || server.log();

    // Next Monday's board covers this week, which holds 张伟's points.
    let today = jiff::Zoned::now().in_tz("Asia/Shanghai").unwrap().date();
    let mut monday = today.tomorrow().unwrap();
    while monday.weekday() != jiff::civil::Weekday::Monday {
        monday = monday.tomorrow().unwrap();
    }
    let slot = format!("{monday}T09:00:00");
    let run = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_jifen"));
        command
            .args(["jobs", "run", "honor_board", "--slot", &slot])
            .env_remove("JIFEN_CONFIG")
            .env("JIFEN_LOG", "warn")
            .envs(env.iter().cloned());
        command.output().unwrap()
    };
    let output = run();
    let said = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("queued for 1 of 1 groups"), "{said}");
    wait_until("the card in the group", log, async || {
        !emu.emulator.cards().is_empty()
    })
    .await;
    let card = emu.emulator.cards().remove(0);
    assert_eq!(card.template_id, "honor-board.schema");
    assert_eq!(card.spaces, [CardSpace::Group(group.into())]);
    assert_eq!(card.callback_type, "STREAM");
    assert!(
        card.params["board"].contains("**张伟** +8"),
        "{:?}",
        card.params
    );
    assert_eq!(
        (
            card.params["leaders"].as_str(),
            card.params["likes"].as_str()
        ),
        ("张伟", "0")
    );
    let id = card.out_track_id.clone();
    // The slot ran: a second run sends nothing.
    assert_eq!(run().status.code(), Some(2));

    // "My place", answered to whoever pressed it alone.
    let mine = my_place(&emu, &id, ZHANG_WEI, &log).await;
    let card = emu.emulator.card(&id).unwrap();
    assert!(
        mine.starts_with("榜单当周：第 1 名 +8 · 本周：第 1 名 +8"),
        "{mine}"
    );
    assert!(!card.private.contains_key(LI_QIANG));

    // 点赞: one per person, however often pressed; the count is the card's for all to see.
    for who in [LI_QIANG, WANG_FANG, LI_QIANG] {
        let ack = emu.emulator.press_card(&id, who, "like").await.unwrap();
        assert_eq!(ack.map(|a| a.code), Some(200));
    }
    wait_until(
        "two likes on the card, each shown to its giver",
        log,
        async || {
            let card = emu.emulator.card(&id).unwrap();
            card.params["likes"] == "2"
                && [LI_QIANG, WANG_FANG]
                    .iter()
                    .all(|u| card.private.contains_key(*u))
        },
    )
    .await;
    let card = emu.emulator.card(&id).unwrap();
    assert_eq!(card.private[LI_QIANG]["liked"], "true");
    assert_eq!(card.private[WANG_FANG]["liked"], "true");
    // A button the card does not have changes nothing, and is not pushed again.
    let ack = emu
        .emulator
        .press_card(&id, LI_QIANG, "explode")
        .await
        .unwrap();
    assert_eq!(ack.map(|a| a.code), Some(200));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = emu.emulator.card(&id).unwrap();
    assert_eq!(after.updates, card.updates, "{}", log());
    server.stop();
    emu.stop().await;
}

async fn a_leaderboard_asked_for_in_a_group_comes_as_a_card_that_refreshes_in_place(
    database_url: &str,
    _backend: &str,
) {
    let emu = start_emulator().await;
    quick_gateway(&emu);
    let (server, _) = serve_cards_with_8_points(
        database_url,
        &emu,
        &[("JIFEN_CARDS_LEADERBOARD_TEMPLATE", "leaderboard.schema")],
    )
    .await;
    let log = || server.log();
    let ask = RobotSend::in_group(LI_QIANG, "排行 本月", &[]);
    emu.emulator.send_robot_message(&ask).await.unwrap();
    wait_until("the leaderboard card", log, async || {
        !emu.emulator.cards().is_empty()
    })
    .await;
    let card = emu.emulator.cards().remove(0);
    assert_eq!(card.template_id, "leaderboard.schema");
    assert_eq!(card.spaces, [CardSpace::Group(GROUP_CONVERSATION.into())]);
    assert!(
        card.params["title"].contains("本月排行"),
        "{:?}",
        card.params
    );
    assert!(
        card.params["board"].starts_with("1. 张伟 **8**"),
        "{:?}",
        card.params
    );
    let id = card.out_track_id.clone();

    // More points, then 刷新: the same card shows the board as it stands.
    let second = approval(&emu, "5");
    assert!(emu.emulator.push_approval(&second).await);
    wait_until("张伟's 13 points on the board", log, async || {
        leader(&server).await == Some((ZHANG_WEI.to_string(), 13))
    })
    .await;
    let ack = emu
        .emulator
        .press_card(&id, LI_QIANG, "refresh")
        .await
        .unwrap();
    assert_eq!(ack.map(|a| a.code), Some(200));
    wait_until("the refreshed board", log, async || {
        emu.emulator.card(&id).unwrap().params["board"].starts_with("1. 张伟 **13**")
    })
    .await;
    assert_eq!(
        my_place(&emu, &id, ZHANG_WEI, &log).await,
        "第 1 名 +13",
        "asked in Chinese"
    );
    assert_eq!(
        emu.emulator.cards().len(),
        1,
        "updated in place, not sent again"
    );
    // Other questions are answered in the chat as before.
    let before = emu.emulator.messages().len();
    let help = RobotSend::in_group(LI_QIANG, "帮助", &[]);
    emu.emulator.send_robot_message(&help).await.unwrap();
    wait_until("the help answer", log, async || {
        emu.emulator.messages()[before..]
            .iter()
            .any(|m| m.channel.starts_with("robot_"))
    })
    .await;
    server.stop();
    emu.stop().await;
}

/// A Stream client over `inbox` against `emu`, with short waits.
fn client(emu: &RunningEmulator, inbox: InboxWriter) -> Arc<StreamClient> {
    let openapi = jifen::dingtalk::openapi::OpenApiClient::new(support::emulator_openapi(emu));
    Arc::new(StreamClient {
        client: Arc::new(openapi.unwrap()),
        inbox,
        settings: StreamSettings {
            keepalive: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(800),
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_millis(400),
            drain: Duration::from_millis(500),
            ..StreamSettings::default()
        },
    })
}

/// An inbox store whose first `failures` writes fail as a busy database does.
struct Flaky {
    store: Arc<dyn jifen::store::Store>,
    failures: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl jifen::store::InboxStore for Flaky {
    async fn insert_inbox(
        &self,
        rows: Vec<jifen::store::NewInboxRow>,
    ) -> Result<u64, jifen::store::StoreError> {
        use std::sync::atomic::Ordering;
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(jifen::store::StoreError::Inbox("busy (test)".into()));
        }
        self.store.insert_inbox(rows).await
    }
    async fn inbox(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<jifen::store::InboxRow>, jifen::store::StoreError> {
        self.store.inbox(status, limit).await
    }
    async fn claim_inbox(
        &self,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
        limit: i64,
        owner: &str,
    ) -> Result<Vec<jifen::store::InboxRow>, jifen::store::StoreError> {
        self.store.claim_inbox(now, lease_until, limit, owner).await
    }
    async fn reschedule_inbox(
        &self,
        id: i64,
        error: &str,
        setback: jifen::store::Setback,
    ) -> Result<(), jifen::store::StoreError> {
        self.store.reschedule_inbox(id, error, setback).await
    }
    async fn release_inbox(
        &self,
        owner: &str,
        now: jiff::Timestamp,
    ) -> Result<u64, jifen::store::StoreError> {
        self.store.release_inbox(owner, now).await
    }
    async fn retry_inbox(
        &self,
        id: Option<i64>,
        now: jiff::Timestamp,
    ) -> Result<u64, jifen::store::StoreError> {
        self.store.retry_inbox(id, now).await
    }
    async fn inbox_summary(&self) -> Result<jifen::store::QueueSummary, jifen::store::StoreError> {
        self.store.inbox_summary().await
    }
}

async fn a_frame_that_cannot_be_stored_is_answered_later_and_stored_when_pushed_again(db: &TestDb) {
    let emu = jifen::emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    quick_gateway(&emu);
    let flaky = Arc::new(Flaky {
        store: db.store.clone(),
        failures: 1.into(),
    });
    let cancel = CancellationToken::new();
    let running = tokio::spawn(client(&emu, InboxWriter::spawn(flaky)).run(cancel.clone()));
    wait_until("a connection", String::new, async || {
        emu.emulator.streams("EVENT", "*")
    })
    .await;
    let instance = approval(&emu, "4");
    assert!(emu.emulator.push_approval(&instance).await);
    let acks = emu.emulator.stream_acks();
    let statuses: Vec<&str> = acks
        .iter()
        .filter(|a| a.message_id.starts_with("evt_"))
        .map(|a| a.data["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["LATER", "SUCCESS"], "{acks:#?}");
    let rows = db.store.inbox(None, 100).await.unwrap();
    let key = format!("bpms_instance:{}:finish:agree", instance.id);
    assert_eq!(rows.iter().filter(|r| r.dedup_key == key).count(), 1);
    assert_eq!(rows[0].source, "stream");
    cancel.cancel();
    running.await.unwrap();
    emu.stop().await;
}

async fn a_silent_socket_and_refused_tickets_are_outlasted(db: &TestDb) {
    let emu = start_emulator().await;
    quick_gateway(&emu);
    let cancel = CancellationToken::new();
    let stream = client(&emu, InboxWriter::spawn(db.store.clone()));
    let running = tokio::spawn(stream.run(cancel.clone()));
    wait_until("a connection", String::new, async || {
        emu.emulator.streams("EVENT", "*")
    })
    .await;
    // The socket stays open but nothing comes back, not even pongs; and the next two
    // tickets are refused. The client notices, backs off, and gets through.
    emu.emulator
        .stream_fault(StreamFault::RefuseTickets { count: 2 });
    emu.emulator.stream_fault(StreamFault::Silence);
    wait_until("a fresh connection", String::new, async || {
        emu.emulator.streams("EVENT", "*")
    })
    .await;
    let (_, connected) = emu.emulator.stream_connections();
    assert_eq!(connected, 2, "the refused tickets opened nothing");
    let instance = approval(&emu, "6");
    assert!(emu.emulator.push_approval(&instance).await);
    let key = format!("bpms_instance:{}:finish:agree", instance.id);
    let rows = db.store.inbox(None, 100).await.unwrap();
    assert_eq!(rows.iter().filter(|r| r.dedup_key == key).count(), 1);
    // A robot message arrives by Stream too, keyed by its msgId.
    let sent = emu
        .emulator
        .send_robot_message(
            &serde_json::from_value(serde_json::json!({
                "from": LI_QIANG, "text": "积分", "msg_id": "msgStream1"
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(sent.status, 200, "{}", sent.body);
    let rows = db.store.inbox(None, 100).await.unwrap();
    assert!(
        rows.iter().any(|r| r.dedup_key == "robot:msgStream1"),
        "{rows:#?}"
    );
    cancel.cancel();
    running.await.unwrap();
    emu.stop().await;
}
