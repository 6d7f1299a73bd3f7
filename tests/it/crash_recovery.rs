//! SIGKILL under load: every callback the server acknowledged is in the inbox after a crash,
//! once; after a restart, redeliveries of all of them are acknowledged and add nothing.

use crate::support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jifen::dingtalk::crypto::CallbackCrypto;
use jifen::dingtalk::simulate::{approval_message, send_callback};
use secrecy::SecretString;

const TOKEN: &str = "crash-token";
const AES_KEY: &str = "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo";
const CORP_ID: &str = "ding8a7c6e5d4b3a2f10";

fn start(database_url: &str) -> (support::Server, String) {
    let server = support::spawn_server(&[
        ("JIFEN_DATABASE_URL", database_url),
        ("JIFEN_DINGTALK_CALLBACK_TOKEN", TOKEN),
        ("JIFEN_DINGTALK_AES_KEY", AES_KEY),
        ("JIFEN_DINGTALK_RECEIVE_ID", CORP_ID),
    ]);
    let url = format!("http://{}/dingtalk/callback", server.addr);
    (server, url)
}

fn message(n: usize) -> String {
    approval_message(
        CORP_ID,
        &format!("PI-CRASH-{n}"),
        "PROC-JIFEN-POINTS",
        "liuyang",
        "积分申请",
        "agree",
        jiff::Timestamp::now().as_millisecond(),
    )
}

async fn acknowledged_events_survive_sigkill(database_url: &str) {
    let crypto = Arc::new(
        CallbackCrypto::new(SecretString::from(TOKEN.to_string()), AES_KEY, CORP_ID).unwrap(),
    );
    let (server, url) = start(database_url);
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (crypto, acked, next, client, url) = (
            crypto.clone(),
            acked.clone(),
            next.clone(),
            client.clone(),
            url.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match send_callback(&client, &url, &crypto, &message(n)).await {
                    Ok(()) => acked.lock().unwrap().push(n),
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    // Let load build up, then kill the server mid-flight.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 1500 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    for t in tasks {
        t.await.unwrap();
    }
    let acked: Vec<usize> = acked.lock().unwrap().clone();
    let sent = next.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        acked.len() >= 1500,
        "only {} callbacks acknowledged before the kill",
        acked.len()
    );

    let keys = support::inbox_keys(database_url).await;
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "no event is stored twice");
    for n in &acked {
        let key = format!("bpms_instance:PI-CRASH-{n}:finish:agree");
        assert!(
            unique.contains(&key),
            "acknowledged event {n} was lost ({} acked, {} sent, {} stored)",
            acked.len(),
            sent,
            keys.len()
        );
    }

    // Restart on the same database; DingTalk redelivers everything it saw acknowledged.
    let (server, url) = start(database_url);
    for n in &acked {
        send_callback(&client, &url, &crypto, &message(*n))
            .await
            .unwrap();
    }
    let after = support::inbox_keys(database_url).await;
    server.stop();
    assert_eq!(
        after.len(),
        keys.len(),
        "redeliveries after the restart add nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_acknowledged_events_survive_sigkill_and_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_events_survive_sigkill(&format!(
        "sqlite:{}",
        dir.path().join("jifen.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_acknowledged_events_survive_sigkill_and_are_stored_once() {
    if support::skip_postgres() {
        return;
    }
    let db = support::FreshPgDatabase::create("jifen_crash").await;
    let url = db.url.clone();
    acknowledged_events_survive_sigkill(&url).await;
    db.drop().await;
}
