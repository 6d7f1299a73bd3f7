//! The whole path, with real processes: `jifen serve` reads the address book from the
//! DingTalk emulator, a callback sent by `jifen simulate` (or pushed by the emulator, as
//! DingTalk would) becomes ledger entries with explanations, and redeliveries add nothing.
//! On SQLite and on PostgreSQL.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use jifen::dingtalk::crypto::CallbackCrypto;
use jifen::emulator::org::{AGENT_ID, APP_KEY, APP_SECRET, CORP_ID};
use jifen::emulator::{self, EmulatorSettings, RunningEmulator};
use secrecy::SecretString;
use serde_json::Value;

const TOKEN: &str = "e2e-callback-token";
const AES_KEY: &str = "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo";
const ADMIN: &str = "e2e-admin-token";
const LI_QIANG: &str = "281826612426286785";
const ZHANG_WEI: &str = "0941516526848432";
const WANG_FANG: &str = "manager4220";

fn env(emu: &RunningEmulator, database_url: &str) -> Vec<(&'static str, String)> {
    let agent = AGENT_ID.to_string();
    vec![
        ("JIFEN_DATABASE_URL", database_url.to_string()),
        ("JIFEN_ADMIN_TOKEN", ADMIN.into()),
        ("JIFEN_DINGTALK_CALLBACK_TOKEN", TOKEN.into()),
        ("JIFEN_DINGTALK_AES_KEY", AES_KEY.into()),
        ("JIFEN_DINGTALK_RECEIVE_ID", CORP_ID.into()),
        ("JIFEN_DINGTALK_APP_KEY", APP_KEY.into()),
        ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET.into()),
        ("JIFEN_DINGTALK_AGENT_ID", agent),
        ("JIFEN_DINGTALK_ROBOT_CODE", APP_KEY.into()),
        ("JIFEN_DINGTALK_API_BASE", emu.base_url()),
        ("JIFEN_DINGTALK_OAPI_BASE", emu.base_url()),
    ]
}

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

/// Polls until `check` holds for a person's entries, or fails after 20 s with what there was.
async fn wait_for_entries(
    server: &support::Server,
    userid: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let addr = &server.addr;
    let started = Instant::now();
    loop {
        let (status, body) = get(
            addr,
            &format!("/api/v1/employees/{userid}/entries?limit=500"),
        )
        .await;
        let entries = body["entries"].as_array().cloned().unwrap_or_default();
        if status == 200 && check(&entries) {
            return entries;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "gave up waiting; HTTP {status}: {body:#}\nserver log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until a person's latest redemption is in `status`, or fails after 20 s.
async fn wait_for_redemption(server: &support::Server, userid: &str, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, body) = get(
            &server.addr,
            &format!("/api/v1/redemptions?userid={userid}"),
        )
        .await;
        let latest = body["redemptions"][0].clone();
        if latest["status"] == status {
            return latest;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no {status} redemption: {body:#}\nserver log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_simulated_approval_becomes_one_explained_entry_however_often_it_arrives(
    database_url: &str,
) {
    let emu = emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let env = env(&emu, database_url);
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = support::spawn_server(&env_refs);
    let addr = server.addr.clone();
    let callback_url = format!("http://{addr}/dingtalk/callback");

    // The address book comes from DingTalk when the server starts.
    let started = Instant::now();
    while get(&addr, &format!("/api/v1/employees/{LI_QIANG}/account"))
        .await
        .0
        != 200
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "address book never synced"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An approved 奖扣申请 saying +8 for 张伟, announced a hundred times by `jifen simulate`.
    let instance = emu
        .emulator
        .file_approval(
            "PROC-JIFEN-POINTS",
            WANG_FANG,
            &[
                ("对象", ZHANG_WEI),
                ("积分", "8"),
                ("事由", "协助完成客户回访"),
            ],
            Some("agree"),
            jiff::Timestamp::now().as_millisecond(),
        )
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_jifen"))
        .args([
            "simulate",
            "--url",
            &callback_url,
            "--repeat",
            "100",
            "approval",
        ])
        .args([
            "--instance",
            &instance.id,
            "--process-code",
            "PROC-JIFEN-POINTS",
        ])
        .args(["--originator", WANG_FANG, "--title", &instance.title])
        .env_remove("JIFEN_CONFIG")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let entries = wait_for_entries(&server, ZHANG_WEI, |e| !e.is_empty()).await;
    // Give redeliveries time to do harm, were they to.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let entries_after = wait_for_entries(&server, ZHANG_WEI, |_| true).await;
    assert_eq!(entries_after.len(), 1, "{entries_after:#?}");
    let entry = &entries[0];
    assert_eq!(entry["points"], 8);
    assert_eq!(entry["rule_id"], "approval.points_request");
    let explanation = entry["explanation"].to_string();
    assert!(explanation.contains("奖扣申请"), "{explanation}");
    assert!(explanation.contains(&instance.title), "{explanation}");

    // 张伟 is told, through a work notification, exactly once.
    let started = Instant::now();
    while !emu
        .emulator
        .messages()
        .iter()
        .any(|m| m.to == [ZHANG_WEI] && m.text.contains("+8 积分 · 奖扣申请"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no notification; emulator saw {:#?}\nserver log:\n{}",
            emu.emulator.messages(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(emu.emulator.messages().len(), 1);

    // From here on DingTalk's own pushes, through the same endpoint.
    let crypto = CallbackCrypto::new(SecretString::from(TOKEN), AES_KEY, CORP_ID).unwrap();
    emu.emulator.set_callback(callback_url, crypto);

    // An admin withdraws the approval in DingTalk: the 8 points are taken back, and 张伟 is
    // told why.
    emu.emulator.withdraw_approval(&instance.id).unwrap();
    let withdrawn = emu.emulator.approval(&instance.id).unwrap();
    assert!(emu.emulator.push_withdrawal(&withdrawn).await);
    let entries = wait_for_entries(&server, ZHANG_WEI, |e| e.len() == 2).await;
    let reversal = entries
        .iter()
        .find(|e| e["points"] == -8)
        .unwrap_or_else(|| panic!("{entries:#?}"));
    assert!(
        reversal["explanation"].to_string().contains("已撤销"),
        "{reversal}"
    );
    let started = Instant::now();
    while !emu
        .emulator
        .messages()
        .iter()
        .any(|m| m.to == [ZHANG_WEI] && m.text.contains("审批已撤销"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no withdrawal notice; emulator saw {:#?}",
            emu.emulator.messages()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 张伟 asks for a coffee voucher with the 积分兑换 form, once he has the points: its
    // start holds the 30 points, its approval approves the redemption.
    let award = emu
        .emulator
        .file_approval(
            "PROC-JIFEN-POINTS",
            WANG_FANG,
            &[("对象", ZHANG_WEI), ("积分", "30"), ("事由", "季度之星")],
            Some("agree"),
            jiff::Timestamp::now().as_millisecond(),
        )
        .unwrap();
    assert!(emu.emulator.push_approval(&award).await);
    wait_for_entries(&server, ZHANG_WEI, |e| e.len() == 3).await;
    let asked = emu
        .emulator
        .file_approval(
            "PROC-JIFEN-REDEEM",
            ZHANG_WEI,
            &[("奖品", "咖啡券"), ("备注", "")],
            None,
            jiff::Timestamp::now().as_millisecond(),
        )
        .unwrap();
    assert!(emu.emulator.push_start(&asked).await);
    let redemption = wait_for_redemption(&server, ZHANG_WEI, "held").await;
    assert_eq!(redemption["reward_id"], "coffee");
    let (_, account) = get(&addr, &format!("/api/v1/employees/{ZHANG_WEI}/account")).await;
    assert_eq!(
        (account["score"].clone(), account["balance"].clone()),
        (30.into(), 0.into()),
        "{account}"
    );
    let finished = emu
        .emulator
        .finish_approval(&asked.id, "agree", jiff::Timestamp::now().as_millisecond())
        .unwrap();
    assert!(emu.emulator.push_approval(&finished).await);
    wait_for_redemption(&server, ZHANG_WEI, "approved").await;

    // A day's check-ins.
    let day = jiff::civil::date(2026, 10, 13);
    let pushed = emu.emulator.push_check_ins(LI_QIANG, day).await;
    assert!(pushed > 0);
    // Only some check-ins earn points (an on-time check-out does not, by the shipped rules).
    let entries = wait_for_entries(&server, LI_QIANG, |e| {
        e.iter()
            .any(|x| x["source_key"].as_str().unwrap_or("").starts_with("att:"))
    })
    .await;
    for e in entries
        .iter()
        .filter(|x| x["source_key"].as_str().unwrap().starts_with("att:"))
    {
        assert!(
            e["source_key"].as_str().unwrap().contains("2026-10-13"),
            "{e}"
        );
        assert!(
            e["rule_id"].as_str().unwrap().starts_with("attendance."),
            "{e}"
        );
    }
    // A replay of the same check-ins changes nothing.
    emu.emulator.push_check_ins(LI_QIANG, day).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = wait_for_entries(&server, LI_QIANG, |_| true).await;
    assert_eq!(again.len(), entries.len());

    let log = server.stop();
    assert!(log.contains("address book synced"), "{log}");
    assert!(
        !log.contains(APP_SECRET) && !log.contains(AES_KEY),
        "no secrets in the log"
    );
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_simulated_approval_becomes_one_explained_entry_however_often_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    a_simulated_approval_becomes_one_explained_entry_however_often_it_arrives(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_simulated_approval_becomes_one_explained_entry_however_often_it_arrives() {
    if support::skip_postgres() {
        return;
    }
    let db = support::FreshPgDatabase::create("jifen_e2e").await;
    a_simulated_approval_becomes_one_explained_entry_however_often_it_arrives(&db.url).await;
    db.drop().await;
}
