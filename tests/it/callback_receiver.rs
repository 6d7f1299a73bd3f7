//! `POST /dingtalk/callback` over a real listener, on both backends: signed events are stored
//! once and acknowledged as DingTalk requires; everything malformed is refused and stores nothing.

use crate::support;

use std::sync::Arc;

use jifen::dingtalk::crypto::{CallbackCrypto, EncryptedReply};
use jifen::ingress::callback::CallbackState;
use jifen::ingress::robot::RobotState;
use jifen::ingress::{CallbackKeys, InboxWriter};
use jifen::web::{AppState, router};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use support::{TestDb, leaderboards, shanghai};

on_both_backends!(
    a_signed_approval_is_stored_and_acknowledged_with_encrypted_success,
    check_url_is_answered_and_stores_nothing,
    an_event_delivered_a_hundred_times_is_stored_once,
    both_spellings_of_the_query_parameters_are_accepted,
    the_previous_key_set_still_works_during_rotation,
    an_unknown_but_signed_event_type_is_stored_as_ignored,
    bad_requests_are_refused_with_a_reason_and_store_nothing,
    an_attendance_push_stores_one_row_per_check_in,
);

const AES_KEY: &str = "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo";
const OLD_AES_KEY: &str = "lUByxRmXBYQ0DVbpag1xYKiuMw7TpHD8BHbNdZU0NYJ";
const CORP_ID: &str = "ding8a7c6e5d4b3a2f10";

fn keys(token: &str, aes: &str) -> CallbackCrypto {
    CallbackCrypto::new(SecretString::from(token.to_string()), aes, CORP_ID).unwrap()
}

async fn serve(db: &TestDb, max_body: usize) -> String {
    let state = AppState {
        store: db.store.clone(),
        calendar: shanghai(),
        admin_token: None,
        api_limit: None,
        bot: None,
        export: None,
        leaderboard: leaderboards(&db.store, Default::default(), jiff::Timestamp::now()).await,
        health: Default::default(),
        micro_app: None,
        catalogue: Default::default(),
        hr_admins: Vec::new().into(),
        appeal_window_days: 30,
        badging: Default::default(),
        recognition: Default::default(),
    };
    let callback = CallbackState {
        keys: Some(Arc::new(CallbackKeys {
            sets: vec![keys("token-now", AES_KEY), keys("token-old", OLD_AES_KEY)],
            window_ms: 3_600_000,
        })),
        inbox: InboxWriter::spawn(db.store.clone()),
    };
    let robot = RobotState {
        secret: None,
        inbox: callback.inbox.clone(),
        robot_code: None,
        corp_id: None,
        window_ms: jifen::dingtalk::robot::sign::WINDOW_MS,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(listener, router(state, callback, robot, max_body)).await },
    );
    format!("http://{addr}/dingtalk/callback")
}

fn now_ms() -> String {
    jiff::Timestamp::now().as_millisecond().to_string()
}

/// Sends `plaintext` as DingTalk would: encrypted, signed, with the given query spellings.
async fn send_with(
    url: &str,
    crypto: &CallbackCrypto,
    plaintext: &str,
    sig_name: &str,
    ts_name: &str,
    ts: &str,
) -> (StatusCode, Value) {
    let nonce = "nonce123";
    let encrypt = crypto.encrypt(plaintext);
    let signature = crypto.signature(ts, nonce, &encrypt);
    let response = reqwest::Client::new()
        .post(url)
        .query(&[
            (sig_name, signature.as_str()),
            (ts_name, ts),
            ("nonce", nonce),
        ])
        .json(&json!({ "encrypt": encrypt }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn send(url: &str, crypto: &CallbackCrypto, plaintext: &str) -> (StatusCode, Value) {
    send_with(
        url,
        crypto,
        plaintext,
        "msg_signature",
        "timestamp",
        &now_ms(),
    )
    .await
}

/// The reply is what DingTalk accepts: four fields, signed, encrypting `success`.
fn assert_success_reply(crypto: &CallbackCrypto, body: &Value) {
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["encrypt", "msg_signature", "nonce", "timeStamp"]);
    let reply: EncryptedReply = serde_json::from_value(body.clone()).unwrap();
    let plain = crypto
        .verify_and_decrypt(
            &reply.msg_signature,
            &reply.time_stamp,
            &reply.nonce,
            &reply.encrypt,
        )
        .unwrap();
    assert_eq!(plain, "success");
}

const APPROVED: &str = r#"{"EventType":"bpms_instance_change","processInstanceId":"PI-7","corpId":"ding8a7c6e5d4b3a2f10","type":"finish","result":"agree","processCode":"PROC-JIFEN-POINTS","staffId":"liuyang","title":"表扬","createTime":1718000000000,"finishTime":1718000100000}"#;

async fn a_signed_approval_is_stored_and_acknowledged_with_encrypted_success(db: &TestDb) {
    let url = serve(db, 64 * 1024).await;
    let crypto = keys("token-now", AES_KEY);
    let (status, body) = send(&url, &crypto, APPROVED).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_success_reply(&crypto, &body);
    let rows = db.store.inbox(None, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].dedup_key.as_str(),
            rows[0].event_type.as_str(),
            rows[0].status.as_str(),
            rows[0].source.as_str()
        ),
        (
            "bpms_instance:PI-7:finish:agree",
            "bpms_instance_change",
            "pending",
            "http"
        )
    );
    assert_eq!(rows[0].payload, APPROVED);
}

/// On PostgreSQL, where a closed pool is how a database that cannot take writes is made
/// here (SQLite's inbox has a connection of its own, which outlives `close`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_take_the_event_is_answered_503_without_its_words() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let url = serve(&db, 64 * 1024).await;
    db.store.close().await;
    let (status, body) = send(&url, &keys("token-now", AES_KEY), APPROVED).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("send it again"), "{message}");
    for word in ["database", "pool", "sqlx", "closed"] {
        assert!(!message.contains(word), "{message}");
    }
    db.cleanup().await;
}

async fn check_url_is_answered_and_stores_nothing(db: &TestDb) {
    let url = serve(db, 64 * 1024).await;
    let crypto = keys("token-now", AES_KEY);
    for check in [
        r#"{"EventType":"check_url"}"#,
        r#"{"EventType":"check_create_suite_url","Random":"abc","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}"#,
    ] {
        let (status, body) = send(&url, &crypto, check).await;
        assert_eq!(status, StatusCode::OK);
        assert_success_reply(&crypto, &body);
    }
    assert!(db.store.inbox(None, 10).await.unwrap().is_empty());
}

async fn an_event_delivered_a_hundred_times_is_stored_once(db: &TestDb) {
    let url = serve(db, 64 * 1024).await;
    let crypto = Arc::new(keys("token-now", AES_KEY));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (url, crypto) = (url.clone(), crypto.clone());
        tasks.push(tokio::spawn(
            async move { send(&url, &crypto, APPROVED).await },
        ));
    }
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "every delivery is acknowledged: {body}"
        );
    }
    assert_eq!(db.store.inbox(None, 1000).await.unwrap().len(), 1);
}

async fn both_spellings_of_the_query_parameters_are_accepted(db: &TestDb) {
    let url = serve(db, 64 * 1024).await;
    let crypto = keys("token-now", AES_KEY);
    for (sig, ts) in [
        ("msg_signature", "timestamp"),
        ("signature", "timeStamp"),
        ("signature", "timestamp"),
        ("msg_signature", "timeStamp"),
    ] {
        let (status, body) = send_with(
            &url,
            &crypto,
            r#"{"EventType":"check_url"}"#,
            sig,
            ts,
            &now_ms(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{sig}/{ts}: {body}");
    }
}

async fn the_previous_key_set_still_works_during_rotation(db: &TestDb) {
    let url = serve(db, 64 * 1024).await;
    let old = keys("token-old", OLD_AES_KEY);
    let (status, body) = send(&url, &old, APPROVED).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The reply is made with the set that signed the request.
    assert_success_reply(&old, &body);
    assert_eq!(db.store.inbox(None, 10).await.unwrap().len(), 1);
}

async fn an_unknown_but_signed_event_type_is_stored_as_ignored(db: &TestDb) {
    let url = serve(db, 64 * 1024).await;
    let crypto = keys("token-now", AES_KEY);
    let (status, _) = send(
        &url,
        &crypto,
        r#"{"EventType":"chat_add_member","ChatId":"c9","CorpId":"ding8a7c6e5d4b3a2f10"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let rows = db.store.inbox(Some("ignored"), 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].event_type, "chat_add_member");
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("not used by jifen")
    );
}

async fn an_attendance_push_stores_one_row_per_check_in(db: &TestDb) {
    let url = serve(db, 64 * 1024).await;
    let crypto = keys("token-now", AES_KEY);
    let push = r#"{"EventType":"attendance_check_record","DataList":[{"bizId":"b1","userId":"zhangwei","checkTime":1718000000000},{"bizId":"b2","userId":"lina","checkTime":1718000001000}]}"#;
    assert_eq!(send(&url, &crypto, push).await.0, StatusCode::OK);
    assert_eq!(send(&url, &crypto, push).await.0, StatusCode::OK);
    let mut keys: Vec<String> = db
        .store
        .inbox(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.dedup_key)
        .collect();
    keys.sort();
    assert_eq!(keys, ["attendance:b1", "attendance:b2"]);
}

async fn bad_requests_are_refused_with_a_reason_and_store_nothing(db: &TestDb) {
    let url = serve(db, 4 * 1024).await;
    let crypto = keys("token-now", AES_KEY);
    let client = reqwest::Client::new();
    let encrypt = crypto.encrypt(APPROVED);
    let ts = now_ms();
    let sig = crypto.signature(&ts, "n1", &encrypt);
    let stale = (jiff::Timestamp::now().as_millisecond() - 2 * 3_600_000).to_string();
    let stale_sig = crypto.signature(&stale, "n1", &encrypt);
    let other_corp = CallbackCrypto::new(
        SecretString::from("token-now".to_string()),
        AES_KEY,
        "dingOTHERCORP",
    )
    .unwrap();
    let foreign = other_corp.encrypt(APPROVED);
    let foreign_sig = other_corp.signature(&ts, "n1", &foreign);
    let not_json = crypto.encrypt("hello");
    let not_json_sig = crypto.signature(&ts, "n1", &not_json);
    let bad_b64 = "@@@@";
    let bad_b64_sig = crypto.signature(&ts, "n1", bad_b64);
    let huge = "A".repeat(8 * 1024);
    let huge_sig = crypto.signature(&ts, "n1", &huge);

    // (query, body, status, error code)
    let q = |sig: &str, ts: &str| {
        vec![
            ("msg_signature".to_string(), sig.to_string()),
            ("timestamp".to_string(), ts.to_string()),
            ("nonce".to_string(), "n1".to_string()),
        ]
    };
    type Case<'a> = (Vec<(String, String)>, String, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            q("0000", &ts),
            json!({"encrypt": encrypt}).to_string(),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
        (
            q(&stale_sig, &stale),
            json!({"encrypt": encrypt}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_timestamp",
        ),
        (
            q(&sig, "yesterday"),
            json!({"encrypt": encrypt}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_timestamp",
        ),
        (
            q(&sig, "-9223372036854775808"),
            json!({"encrypt": encrypt}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_timestamp",
        ),
        (
            q(&sig, "9223372036854775807"),
            json!({"encrypt": encrypt}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_timestamp",
        ),
        (
            q(&foreign_sig, &ts),
            json!({"encrypt": foreign}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_ciphertext",
        ),
        (
            q(&bad_b64_sig, &ts),
            json!({"encrypt": bad_b64}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_ciphertext",
        ),
        (
            q(&not_json_sig, &ts),
            json!({"encrypt": not_json}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_event",
        ),
        (
            q(&sig, &ts),
            "{not json".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_body",
        ),
        (
            q(&sig, &ts),
            json!({"cipher": encrypt}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_body",
        ),
        (
            q(&huge_sig, &ts),
            json!({"encrypt": huge}).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            vec![
                ("timestamp".to_string(), ts.clone()),
                ("nonce".to_string(), "n1".to_string()),
            ],
            json!({"encrypt": encrypt}).to_string(),
            StatusCode::BAD_REQUEST,
            "missing_parameter",
        ),
    ];
    for (query, body, status, code) in cases {
        let response = client
            .post(&url)
            .query(&query)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{code}: {query:?}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error"]["code"], code, "{json}");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("token-now") && !message.contains("PI-7"),
            "{message}"
        );
    }
    assert!(
        db.store.inbox(None, 10).await.unwrap().is_empty(),
        "nothing was stored"
    );
}
