//! The organisation follows DingTalk, end to end: a real `jifen serve` reads the emulator's
//! address book, then follows its contact events as people join and leave, and the daily
//! address-book job catches a departure whose event never came. On SQLite and PostgreSQL.

use crate::support;

use std::time::{Duration, Instant};

use jifen::dingtalk::crypto::CallbackCrypto;
use jifen::emulator::contacts::ContactChange;
use jifen::emulator::org::{AGENT_ID, APP_KEY, APP_SECRET, CORP_ID};
use jifen::emulator::{self, EmulatorSettings};
use secrecy::SecretString;
use serde_json::Value;

const TOKEN: &str = "org-callback-token";
const AES_KEY: &str = "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo";
const ADMIN: &str = "org-admin-token";
const LI_QIANG: &str = "281826612426286785";
const ZHANG_WEI: &str = "0941516526848432";
const WANG_FANG: &str = "manager4220";
const EAST_SALES: i64 = 575401962;

async fn get(addr: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until `check` holds of what `path` answers, or fails after 20 s.
async fn until(
    server: &support::Server,
    path: &str,
    what: &str,
    check: impl Fn(u16, &Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = get(&server.addr, path).await;
        if check(status, &body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: gave up; HTTP {status}: {body:#}\nserver log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn people_join_and_leave_as_dingtalk_says(database_url: &str) {
    let emu = emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let agent = AGENT_ID.to_string();
    let base = emu.base_url();
    let env: Vec<(&str, &str)> = vec![
        ("JIFEN_DATABASE_URL", database_url),
        ("JIFEN_ADMIN_TOKEN", ADMIN),
        ("JIFEN_DINGTALK_CALLBACK_TOKEN", TOKEN),
        ("JIFEN_DINGTALK_AES_KEY", AES_KEY),
        ("JIFEN_DINGTALK_RECEIVE_ID", CORP_ID),
        ("JIFEN_DINGTALK_APP_KEY", APP_KEY),
        ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET),
        ("JIFEN_DINGTALK_AGENT_ID", &agent),
        ("JIFEN_DINGTALK_ROBOT_CODE", APP_KEY),
        ("JIFEN_DINGTALK_API_BASE", &base),
        ("JIFEN_DINGTALK_OAPI_BASE", &base),
    ];
    let server = support::spawn_server(&env);
    let crypto = CallbackCrypto::new(SecretString::from(TOKEN), AES_KEY, CORP_ID).unwrap();
    emu.emulator
        .set_callback(format!("http://{}/dingtalk/callback", server.addr), crypto);
    let account = |userid: &str| format!("/api/v1/employees/{userid}/account");
    until(&server, &account(LI_QIANG), "address book", |s, _| s == 200).await;

    // 李强 earns points from an approved points request, and is ranked.
    let instance = emu
        .emulator
        .file_approval(
            "PROC-JIFEN-POINTS",
            WANG_FANG,
            &[("对象", LI_QIANG), ("积分", "8"), ("事由", "季度之星")],
            Some("agree"),
            jiff::Timestamp::now().as_millisecond(),
        )
        .unwrap();
    assert!(emu.emulator.push_approval(&instance).await);
    let board = format!("/api/v1/leaderboard?window=all&userid={LI_QIANG}");
    until(&server, &board, "李强 ranked", |s, b| {
        s == 200 && !b["me"].is_null()
    })
    .await;

    // Someone joins: user_add_org, and jifen reads them from DingTalk.
    let joined = ContactChange::Hire {
        userid: "newhire0001".into(),
        name: "周新".into(),
        dept: EAST_SALES,
    };
    assert!(emu.emulator.change_contacts(joined, true).await);
    until(&server, &account("newhire0001"), "the new hire", |s, _| {
        s == 200
    })
    .await;

    // 李强 leaves: user_leave_org takes him off every board; his entries stay his.
    let left = ContactChange::Dismiss {
        userid: LI_QIANG.into(),
    };
    assert!(emu.emulator.change_contacts(left, true).await);
    let body = until(&server, &board, "李强 off the board", |s, b| {
        s == 200 && b["me"].is_null()
    })
    .await;
    assert!(
        body["top"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["userid"] != LI_QIANG),
        "{body:#}"
    );
    for window in ["week", "month", "year"] {
        let (_, body) = get(
            &server.addr,
            &format!("/api/v1/leaderboard?window={window}&userid={LI_QIANG}"),
        )
        .await;
        assert!(body["me"].is_null(), "{window}: {body:#}");
    }
    let (status, entries) = get(
        &server.addr,
        &format!("/api/v1/employees/{LI_QIANG}/entries"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(entries["entries"].as_array().unwrap().len(), 1);

    // 张伟 leaves without DingTalk telling jifen: the daily address-book job finds him gone.
    let missed = ContactChange::Dismiss {
        userid: ZHANG_WEI.into(),
    };
    assert!(emu.emulator.change_contacts(missed, false).await);
    // A slot of its own: after 05:00 in Shanghai the server's scheduler has run today's.
    let slot = jiff::Zoned::now()
        .in_tz("Asia/Shanghai")
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jifen"))
        .args(["jobs", "run", "address_book", "--slot", &slot])
        .env_remove("JIFEN_CONFIG")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("0 joined") && stdout.contains("1 left"),
        "{stdout}"
    );
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_jifen"))
        .args(["jobs", "run", "address_book", "--slot", &slot])
        .env_remove("JIFEN_CONFIG")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already ran"),
        "a slot runs once: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    server.stop();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_people_join_and_leave_as_dingtalk_says() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    people_join_and_leave_as_dingtalk_says(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_people_join_and_leave_as_dingtalk_says() {
    if support::skip_postgres() {
        return;
    }
    let db = support::FreshPgDatabase::create("jifen_org").await;
    people_join_and_leave_as_dingtalk_says(&db.url).await;
    db.drop().await;
}
