//! The HTTP API over a real listener, on both backends: health, bearer auth, accounts and
//! entries, and clean refusals.

use crate::support;

use std::sync::Arc;

use jifen::config::Config;
use jifen::domain::DomainEvent;
use jifen::ingress::InboxWriter;
use jifen::ingress::callback::CallbackState;
use jifen::ingress::robot::RobotState;
use jifen::leaderboard::keep_current;
use jifen::ledger;
use jifen::rules::{load_catalogue_file, load_rules_file};
use jifen::runtime::{CancellationToken, Health, Supervisor};
use jifen::web::{AppState, router};
use jiff::Timestamp;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use support::{TestDb, leaderboards, manual, seed_org, shanghai};

const TOKEN: &str = "test-admin-token";

on_both_backends!(
    health_check_names_the_database,
    health_check_names_a_worker_that_died_until_it_runs_again,
    the_api_refuses_requests_without_the_right_token,
    account_shows_score_balance_and_pending,
    entries_come_newest_first_with_explanation_rule_and_source,
    unknown_people_and_paths_get_404_with_a_json_error,
    bad_paging_parameters_get_400,
    callbacks_are_refused_until_configured,
    robot_messages_and_exports_are_refused_until_configured,
    the_audit_trail_is_served_newest_first_and_by_person,
    the_leaderboard_is_served_by_person_and_by_department,
    bad_leaderboard_queries_are_refused_with_the_reason,
    metrics_show_the_queues_the_ledger_and_what_arrived,
    the_shop_redeems_once_per_key_and_refuses_each_wrong_step_with_its_reason,
    appeals_are_filed_once_and_decided_by_hr_with_clear_refusals,
    hr_sees_the_pairs_who_thanked_only_each_other,
    a_persons_level_badges_and_allowance_are_served,
);

/// Serves the API over `db` on a free port; returns its base URL.
async fn serve(db: &TestDb, token: Option<&str>) -> String {
    serve_with(db, token, Health::default(), 0).await
}

/// Serves the API with `health` as the workers' state, each caller allowed `per_minute`
/// requests (0: no limit); HR is `hr`, managers may award 200 a month, more than 20 at once
/// is reviewed.
pub(crate) async fn serve_with(
    db: &TestDb,
    token: Option<&str>,
    health: Health,
    per_minute: u32,
) -> String {
    let rules = Arc::new(load_rules_file("config/rules.toml".as_ref()).unwrap());
    let leaderboard = leaderboards(&db.store, Default::default(), Timestamp::now()).await;
    let bot = jifen::bot::Bot {
        store: db.store.clone(),
        rules,
        catalogue: Default::default(),
        badging: Default::default(),
        calendar: shanghai(),
        leaderboard: leaderboard.clone(),
        settings: jifen::bot::BotSettings {
            roles: jifen::bot::roles::RoleConfig {
                hr_admins: vec!["hr".into()],
                ..Default::default()
            },
            manager_monthly_budget: 200,
            review_threshold: 20,
            appeal_window_days: 30,
            recognition: Default::default(),
            leaderboard_card: None,
        },
        export: None,
        wake: Arc::new(tokio::sync::Notify::new()),
    };
    let state = AppState {
        store: db.store.clone(),
        calendar: shanghai(),
        admin_token: token.map(|t| Arc::new(SecretString::from(t.to_string()))),
        api_limit: jifen::web::auth::ApiLimiter::per_minute(per_minute),
        bot: Some(Arc::new(bot)),
        export: None,
        leaderboard,
        health,
        micro_app: None,
        catalogue: Arc::new(load_catalogue_file("config/rewards.toml".as_ref()).unwrap()),
        hr_admins: vec!["hr".to_string()].into(),
        appeal_window_days: 30,
        badging: jifen::badges::Badging {
            book: Arc::new(
                jifen::rules::load_badges_file(
                    "config/badges.toml".as_ref(),
                    &load_rules_file("config/rules.toml".as_ref()).unwrap(),
                )
                .unwrap(),
            ),
            groups: vec![],
        },
        recognition: Default::default(),
    };
    let index = state.leaderboard.clone();
    tokio::spawn(async move {
        let every = std::time::Duration::from_millis(20);
        keep_current(&index, every, CancellationToken::new()).await
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let inbox = InboxWriter::spawn(db.store.clone());
    let robot = RobotState {
        secret: None,
        inbox: inbox.clone(),
        robot_code: None,
        corp_id: None,
        window_ms: jifen::dingtalk::robot::sign::WINDOW_MS,
    };
    let callback = CallbackState { keys: None, inbox };
    tokio::spawn(
        async move { axum::serve(listener, router(state, callback, robot, 64 * 1024)).await },
    );
    format!("http://{addr}")
}

async fn post(url: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(url: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Posts the shipped sample events through the shipped rules.
async fn post_samples(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    let text = std::fs::read_to_string("config/examples/events.jsonl").unwrap();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let event: DomainEvent = serde_json::from_str(line).unwrap();
        let mut tx = db.store.begin().await.unwrap();
        ledger::post_event(tx.as_mut(), &rules, &shanghai(), &event, Timestamp::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

async fn health_check_names_the_database(db: &TestDb) {
    let base = serve(db, None).await;
    let (status, body) = get(&format!("{base}/healthz"), None).await;
    assert_eq!(status, StatusCode::OK);
    let backend = db.store.backend();
    assert_eq!(body, json!({ "status": "ok", "database": backend }));
    assert!(["sqlite", "postgres"].contains(&body["database"].as_str().unwrap()));
}

async fn health_check_names_a_worker_that_died_until_it_runs_again(db: &TestDb) {
    let mut workers = Supervisor::new();
    let starts = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = starts.clone();
    workers.spawn("processor", move |cancel| {
        let first = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        async move {
            if first {
                panic!("inbox row 7 is unreadable");
            }
            cancel.cancelled().await;
        }
    });
    let base = serve_with(db, None, workers.health(), 0).await;
    let health = format!("{base}/healthz");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (status, body) = loop {
        let (status, body) = get(&health, None).await;
        if status != StatusCode::OK || std::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["database"], json!(db.store.backend()));
    let why = body["down"]["processor"].as_str().unwrap();
    assert!(why.contains("panicked: inbox row 7 is unreadable"), "{why}");
    // Restarted after its backoff, it is healthy again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, _) = get(&health, None).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker was not restarted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(starts.load(std::sync::atomic::Ordering::SeqCst), 2);
    workers.stop(std::time::Duration::from_secs(1)).await;
}

async fn the_api_refuses_requests_without_the_right_token(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let base = serve(db, Some(TOKEN)).await;
    let url = format!("{base}/api/v1/employees/zhangwei/account");
    for (token, reason) in [
        (None, "missing bearer token"),
        (Some("wrong"), "wrong bearer token"),
        (Some(""), "missing bearer token"),
    ] {
        let (status, body) = get(&url, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(reason),
            "{body}"
        );
        assert!(!body.to_string().contains(TOKEN));
    }
    assert_eq!(get(&url, Some(TOKEN)).await.0, StatusCode::OK);
    // With no token configured the API is off, and says how to turn it on.
    let closed = serve(db, None).await;
    let (status, body) = get(
        &format!("{closed}/api/v1/employees/zhangwei/account"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JIFEN_ADMIN_TOKEN")
    );
}

async fn account_shows_score_balance_and_pending(db: &TestDb) {
    post_samples(db).await;
    let base = serve(db, Some(TOKEN)).await;
    // 王芳: -3 missing check-in, +30 innovation; +5 +5 +0 +5 knowledge sharing pending review.
    let (status, body) = get(
        &format!("{base}/api/v1/employees/wangfang/account"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "userid": "wangfang", "name": "王芳", "score": 27, "balance": 27, "pending": 15 })
    );
    let (_, body) = get(
        &format!("{base}/api/v1/employees/wangfang/entries"),
        Some(TOKEN),
    )
    .await;
    let statuses: Vec<(&str, &str)> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rule_id"].as_str().unwrap(),
                e["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("knowledge.sharing", "pending")),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("innovation.adopted", "posted")),
        "{statuses:?}"
    );
    // 张伟: +1 on time (redelivery ignored), +20 full attendance, +8 points request, +10 innovation.
    let (_, body) = get(
        &format!("{base}/api/v1/employees/zhangwei/account"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (
            body["score"].as_i64(),
            body["balance"].as_i64(),
            body["pending"].as_i64()
        ),
        (Some(39), Some(39), Some(0))
    );
}

async fn entries_come_newest_first_with_explanation_rule_and_source(db: &TestDb) {
    post_samples(db).await;
    let base = serve(db, Some(TOKEN)).await;
    let (status, body) = get(
        &format!("{base}/api/v1/employees/zhangwei/entries"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let entries = body["entries"].as_array().unwrap();
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let request = entries
        .iter()
        .find(|e| e["rule_id"] == "approval.points_request")
        .unwrap();
    assert_eq!(request["points"], 8);
    assert_eq!(request["rule_version"], 2);
    assert_eq!(request["source_key"], "bpms:PI-20261012-0001");
    assert_eq!(request["status"], "posted");
    assert_eq!(request["occurred_local"], "2026-10-12 15:20:00 +08:00");
    assert!(
        request["explanation"]["zh"]
            .as_str()
            .unwrap()
            .starts_with("奖扣申请「表扬：客户现场问题当晚解决」：+8 积分")
    );
    assert!(
        request["explanation"]["en"]
            .as_str()
            .unwrap()
            .starts_with("Points request “表扬：客户现场问题当晚解决”: +8 points")
    );
    assert_eq!(body["next_before"], Value::Null);
    // Paging: one at a time walks the same list.
    let (_, page) = get(
        &format!("{base}/api/v1/employees/zhangwei/entries?limit=1"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(page["entries"][0]["id"].as_i64(), Some(ids[0]));
    let next = page["next_before"].as_i64().unwrap();
    let (_, page) = get(
        &format!("{base}/api/v1/employees/zhangwei/entries?limit=1&before={next}"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(page["entries"][0]["id"].as_i64(), Some(ids[1]));
}

async fn unknown_people_and_paths_get_404_with_a_json_error(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let base = serve(db, Some(TOKEN)).await;
    for path in [
        "employees/ghost/account",
        "employees/ghost/entries",
        "employees/zhangwei/nothing",
        "nowhere",
    ] {
        let (status, body) = get(&format!("{base}/api/v1/{path}"), Some(TOKEN)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let (_, body) = get(
        &format!("{base}/api/v1/employees/ghost/account"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(body["error"]["message"], "unknown employee \"ghost\"");
}

async fn bad_paging_parameters_get_400(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let base = serve(db, Some(TOKEN)).await;
    for query in [
        "limit=0",
        "limit=501",
        "limit=ten",
        "before=x",
        "colour=red",
    ] {
        let (status, body) = get(
            &format!("{base}/api/v1/employees/zhangwei/entries?{query}"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["error"]["code"], "bad_request", "{query}");
    }
}

async fn callbacks_are_refused_until_configured(db: &TestDb) {
    let base = serve(db, None).await;
    let (status, body) = post(
        &format!("{base}/dingtalk/callback?msg_signature=x&timestamp=1&nonce=n"),
        json!({ "encrypt": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("JIFEN_DINGTALK_AES_KEY"), "{message}");
}

async fn robot_messages_and_exports_are_refused_until_configured(db: &TestDb) {
    let base = serve(db, None).await;
    let (status, body) = post(&format!("{base}/dingtalk/robot"), json!({ "msgId": "m1" })).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("JIFEN_DINGTALK_APP_SECRET"), "{message}");
    let (status, _) = get(
        &format!("{base}/export/2026-10.csv?expires=1&signature=00"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_audit_trail_is_served_newest_first_and_by_person(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    for (who, points) in [("lina", 2), ("wangfang", 3)] {
        let mut tx = store.begin().await.unwrap();
        let post = ledger::ManualPost {
            actor: "hr".into(),
            userid: who.into(),
            points,
            reason: "帮忙".into(),
            category: "manual".into(),
            source_key: format!("audit-test:{who}"),
            review: false,
            occurred_at: Timestamp::now(),
        };
        ledger::post_manual(tx.as_mut(), &post, Timestamp::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let base = serve(db, Some("t0ken")).await;
    let (status, _) = get(&format!("{base}/api/v1/audit"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = get(&format!("{base}/api/v1/audit"), Some("t0ken")).await;
    assert_eq!(status, StatusCode::OK);
    let subjects: Vec<&str> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["wangfang", "lina"]);
    let (_, body) = get(&format!("{base}/api/v1/audit?userid=lina"), Some("t0ken")).await;
    assert_eq!(body["records"].as_array().unwrap().len(), 1);
    assert_eq!(body["records"][0]["actor"], "hr");
    let (status, _) = get(&format!("{base}/api/v1/audit?limit=0"), Some("t0ken")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_app_starts_from_the_shipped_config_on_a_fresh_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite:{}",
        dir.path().join("nested/folder/jifen.db").display()
    );
    let env: Vec<(String, String)> = [
        ("JIFEN_LISTEN", "127.0.0.1:0"),
        ("JIFEN_DATABASE_URL", url.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Config::load(Some("config/jifen.toml".as_ref()), &env).unwrap();
    let running = jifen::app::start(&config).await.unwrap();
    let (status, body) = get(&format!("http://{}/healthz", running.addr), None).await;
    assert_eq!(
        (status, body["database"].as_str()),
        (StatusCode::OK, Some("sqlite"))
    );
    assert_eq!(
        running.rules.rules.len(),
        load_rules_file("config/rules.toml".as_ref())
            .unwrap()
            .rules
            .len()
    );
    running.stop().await.unwrap();
    assert!(dir.path().join("nested/folder/jifen.db").exists());
}

async fn the_leaderboard_is_served_by_person_and_by_department(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let base = serve(db, Some(TOKEN)).await;
    for (userid, points, at) in [
        ("lina", 8, "2026-10-05T02:00:00Z"),
        ("zhangwei", 8, "2026-10-06T02:00:00Z"),
        ("wangfang", 3, "2026-10-31T15:59:00Z"), // 23:59 on 31 October in Shanghai
        ("wangfang", 50, "2026-10-31T16:00:00Z"), // already November
    ] {
        manual(db.store.as_ref(), "boss", userid, points, false, at).await;
    }
    let url = format!("{base}/api/v1/leaderboard");
    // The index reads new entries on its own, a moment after they commit.
    let settled = |query: &'static str, ready: fn(&Value) -> bool| {
        let url = format!("{url}?{query}");
        async move {
            let mut body = Value::Null;
            for _ in 0..200 {
                let (status, b) = get(&url, Some(TOKEN)).await;
                assert_eq!(status, StatusCode::OK, "{b}");
                body = b;
                if ready(&body) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            body
        }
    };
    let body = settled("window=month&period=2026-10&limit=3&userid=wangfang", |b| {
        b["me"]["points"] == 3
    })
    .await;
    assert_eq!(body["period"], "2026-10");
    assert_eq!(body["tie"], "shared");
    let top: Vec<(String, u64, i64)> = body["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let userid = r["userid"].as_str().unwrap().to_string();
            (
                userid,
                r["rank"].as_u64().unwrap(),
                r["points"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        top,
        [
            ("lina".into(), 1, 8),
            ("zhangwei".into(), 1, 8),
            ("wangfang".into(), 3, 3)
        ]
    );
    assert_eq!(body["me"]["rank"], 3);
    assert_eq!(body["ranked"], 5);

    let body = settled(
        "window=month&period=2026-10&by=department&order=per_head",
        |_| true,
    )
    .await;
    assert_eq!(body["parent"], "1");
    assert_eq!(body["top"][0]["department_id"], "rd");
    assert_eq!(body["top"][0]["per_head"], 5.5);
    assert_eq!(body["top"][1]["department_id"], "sales");

    let all = settled("window=all&limit=1", |b| b["top"][0]["points"] == 53).await;
    assert_eq!(all["top"][0]["userid"], "wangfang", "{all}");
    assert_eq!(all["top"][0]["points"], 53);
}

async fn bad_leaderboard_queries_are_refused_with_the_reason(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let base = serve(db, Some(TOKEN)).await;
    let url = format!("{base}/api/v1/leaderboard");
    let (status, _) = get(&url, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let cases = [
        ("window=fortnight", StatusCode::BAD_REQUEST, "fortnight"),
        (
            "window=month&period=2026-13",
            StatusCode::BAD_REQUEST,
            "2026-13",
        ),
        (
            "window=all&period=2026",
            StatusCode::BAD_REQUEST,
            "all-time",
        ),
        ("limit=0", StatusCode::BAD_REQUEST, "limit"),
        ("limit=101", StatusCode::BAD_REQUEST, "limit"),
        ("by=team", StatusCode::BAD_REQUEST, "team"),
        ("by=department&order=best", StatusCode::BAD_REQUEST, "best"),
        ("order=total", StatusCode::BAD_REQUEST, "by=department"),
        (
            "by=department&userid=lina",
            StatusCode::BAD_REQUEST,
            "by=person",
        ),
        ("colour=red", StatusCode::BAD_REQUEST, "colour"),
        ("userid=nobody", StatusCode::NOT_FOUND, "nobody"),
        ("dept=nowhere", StatusCode::NOT_FOUND, "nowhere"),
        (
            "by=department&dept=nowhere",
            StatusCode::NOT_FOUND,
            "nowhere",
        ),
    ];
    for (query, expected, mentions) in cases {
        let (status, body) = get(&format!("{url}?{query}"), Some(TOKEN)).await;
        assert_eq!(status, expected, "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(mentions), "{query}: {message}");
    }
}

async fn metrics_show_the_queues_the_ledger_and_what_arrived(db: &TestDb) {
    jifen::metrics::install();
    seed_org(db.store.as_ref()).await;
    let base = serve(db, Some(TOKEN)).await;
    let now = Timestamp::now();
    let rows = |n: usize, key: &str| -> Vec<jifen::store::NewInboxRow> {
        (0..n)
            .map(|i| jifen::store::NewInboxRow {
                dedup_key: format!("{key}{i}"),
                source: "http".into(),
                event_type: "bpms_instance_change".into(),
                payload: "{}".into(),
                ignored: None,
                received_at: now - jiff::SignedDuration::from_secs(90),
            })
            .collect()
    };
    db.store.insert_inbox(rows(3, "metrics:")).await.unwrap();
    let last = manual(
        db.store.as_ref(),
        "hr",
        "zhangwei",
        5,
        false,
        &now.to_string(),
    )
    .await;
    // A refused callback is counted with its reason.
    post(
        &format!("{base}/dingtalk/callback?msg_signature=x&timestamp=1&nonce=n"),
        json!({ "encrypt": "x" }),
    )
    .await;
    let (status, _) = get(&format!("{base}/metrics"), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the admin token guards it"
    );
    let response = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    for shown in [
        "# TYPE jifen_inbox_rows gauge".to_string(),
        "jifen_inbox_rows{status=\"pending\"} 3".to_string(),
        format!("jifen_ledger_last_entry_id {last}"),
        "jifen_workers_down 0".to_string(),
        "jifen_ingress_total{path=\"http\",outcome=\"refused\",reason=\"not_configured\"}"
            .to_string(),
    ] {
        assert!(text.contains(&shown), "{shown} missing from:\n{text}");
    }
    let age: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("jifen_inbox_oldest_waiting_seconds "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((89.0..600.0).contains(&age), "{age}");
    assert!(
        text.contains("jifen_outbox_oldest_waiting_seconds 0"),
        "{text}"
    );
}

/// Posts `body` with the admin token and, when given, an Idempotency-Key.
async fn write(url: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .bearer_auth(TOKEN)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn the_shop_redeems_once_per_key_and_refuses_each_wrong_step_with_its_reason(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    manual(
        db.store.as_ref(),
        "hr",
        "lina",
        100,
        false,
        "2026-11-02T02:00:00Z",
    )
    .await;
    let base = serve(db, Some(TOKEN)).await;
    let (status, body) = get(&format!("{base}/api/v1/rewards"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let coffee = &body["rewards"][0];
    assert_eq!(
        (coffee["id"].as_str(), coffee["cost"].as_i64()),
        (Some("coffee"), Some(30))
    );
    assert_eq!(coffee["left"], 200);

    let redemptions = format!("{base}/api/v1/redemptions");
    let lina_coffee = json!({ "userid": "lina", "reward": "coffee" });
    let (status, body) = write(&redemptions, None, lina_coffee.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );
    let refusals = [
        (
            json!({ "userid": "lina", "reward": "yacht" }),
            StatusCode::NOT_FOUND,
            "no reward \"yacht\"",
        ),
        (
            json!({ "userid": "nobody", "reward": "coffee" }),
            StatusCode::NOT_FOUND,
            "unknown employee",
        ),
        (
            json!({ "userid": "lina", "reward": "book" }),
            StatusCode::CONFLICT,
            "costs 150 balance points and the balance is 100",
        ),
        (
            json!({ "userid": "lina" }),
            StatusCode::BAD_REQUEST,
            "reward",
        ),
        (
            json!({ "userid": "lina", "reward": "coffee", "count": 2 }),
            StatusCode::BAD_REQUEST,
            "count",
        ),
    ];
    for (request, want, says) in refusals {
        let (status, body) = write(&redemptions, Some("refused"), request.clone()).await;
        assert_eq!(status, want, "{request}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{request}: {message}");
    }
    let (status, first) = write(&redemptions, Some("k1"), lina_coffee.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "approved", "coffee needs no review");
    let (status, again) = write(&redemptions, Some("k1"), lina_coffee.clone()).await;
    assert_eq!(
        (status, &again),
        (StatusCode::OK, &first),
        "a retry answers the same"
    );
    let (status, body) = write(
        &redemptions,
        Some("k1"),
        json!({ "userid": "lina", "reward": "leave" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let account = |body: Value| body["balance"].as_i64().unwrap();
    let (_, body) = get(
        &format!("{base}/api/v1/employees/lina/account"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(account(body), 70, "charged once");

    let id = first["id"].as_i64().unwrap();
    let step = |what: &str| format!("{redemptions}/{id}/{what}");
    let wrong = [
        (
            step("fulfil"),
            json!({ "actor": "lina" }),
            StatusCode::FORBIDDEN,
            "not an HR admin",
        ),
        (
            step("cancel"),
            json!({ "actor": "hr" }),
            StatusCode::FORBIDDEN,
            "only lina can cancel",
        ),
        (
            step("reject"),
            json!({ "actor": "hr" }),
            StatusCode::BAD_REQUEST,
            "needs a reason",
        ),
        (
            step("ship"),
            json!({ "actor": "hr" }),
            StatusCode::NOT_FOUND,
            "approve, fulfil, reject or cancel",
        ),
        (
            format!("{redemptions}/x/fulfil"),
            json!({ "actor": "hr" }),
            StatusCode::BAD_REQUEST,
            "not a redemption number",
        ),
        (
            format!("{redemptions}/999/fulfil"),
            json!({ "actor": "hr" }),
            StatusCode::NOT_FOUND,
            "no redemption #999",
        ),
    ];
    for (url, request, want, says) in wrong {
        let (status, body) = write(&url, None, request.clone()).await;
        assert_eq!(status, want, "{url} {request}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{url}: {message}");
    }
    let (status, body) = write(
        &step("fulfil"),
        None,
        json!({ "actor": "hr", "note": "券码 8812" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["note"].as_str()),
        (Some("fulfilled"), Some("券码 8812"))
    );
    let (status, body) = write(
        &step("reject"),
        None,
        json!({ "actor": "hr", "note": "late" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (_, second) = write(&redemptions, Some("k2"), lina_coffee).await;
    let id = second["id"].as_i64().unwrap();
    let (status, body) = write(
        &format!("{redemptions}/{id}/cancel"),
        None,
        json!({ "actor": "lina" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert!(body["refund_entry"].is_i64(), "{body}");
    let (_, body) = get(
        &format!("{base}/api/v1/employees/lina/account"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(account(body), 70, "refunded");

    let (status, body) = get(
        &format!("{redemptions}?userid=lina&status=cancelled"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["redemptions"].as_array().unwrap().len(), 1, "{body}");
    let (status, body) = get(&format!("{redemptions}?status=lost"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = get(&redemptions, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(db.store.verify_totals().await.unwrap(), vec![]);
}

async fn appeals_are_filed_once_and_decided_by_hr_with_clear_refusals(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let now = Timestamp::now().to_string();
    let deduction = manual(db.store.as_ref(), "zhangwei", "lina", -5, false, &now).await;
    let award = manual(db.store.as_ref(), "hr", "lina", 3, false, &now).await;
    let base = serve(db, Some(TOKEN)).await;
    let appeals = format!("{base}/api/v1/appeals");
    let filing = json!({ "userid": "lina", "entry": deduction, "reason": "客户现场" });
    let refusals = [
        (
            json!({ "userid": "lina", "entry": award, "reason": "x" }),
            StatusCode::CONFLICT,
            "only deductions",
        ),
        (
            json!({ "userid": "liuyang", "entry": deduction, "reason": "x" }),
            StatusCode::CONFLICT,
            "someone else's",
        ),
        (
            json!({ "userid": "lina", "entry": 9999, "reason": "x" }),
            StatusCode::NOT_FOUND,
            "no ledger entry #9999",
        ),
        (
            json!({ "userid": "lina", "entry": deduction, "reason": " " }),
            StatusCode::BAD_REQUEST,
            "needs a reason",
        ),
        (
            json!({ "userid": "lina", "entry": "five", "reason": "x" }),
            StatusCode::BAD_REQUEST,
            "entry",
        ),
    ];
    for (request, want, says) in refusals {
        let (status, body) = write(&appeals, None, request.clone()).await;
        assert_eq!(status, want, "{request}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{request}: {message}");
    }
    let (status, filed) = write(&appeals, None, filing.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let (status, again) = write(&appeals, None, filing).await;
    assert_eq!(
        (status, &again),
        (StatusCode::OK, &filed),
        "a retry answers the same"
    );
    let (status, body) = write(
        &appeals,
        None,
        json!({ "userid": "lina", "entry": deduction, "reason": "另一个理由" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let id = filed["id"].as_i64().unwrap();
    let decide = |what: &str| format!("{appeals}/{id}/{what}");
    let wrong = [
        (
            decide("uphold"),
            json!({ "actor": "zhangwei" }),
            StatusCode::FORBIDDEN,
            "not an HR admin",
        ),
        (
            decide("reject"),
            json!({ "actor": "hr" }),
            StatusCode::BAD_REQUEST,
            "needs a reason",
        ),
        (
            decide("reject"),
            json!({ "actor": "hr", "points": 2, "note": "x" }),
            StatusCode::BAD_REQUEST,
            "a rejection gives nothing",
        ),
        (
            decide("uphold"),
            json!({ "actor": "hr", "points": 6 }),
            StatusCode::BAD_REQUEST,
            "1 to 5 points",
        ),
        (
            decide("pardon"),
            json!({ "actor": "hr" }),
            StatusCode::NOT_FOUND,
            "uphold or reject",
        ),
        (
            format!("{appeals}/77/uphold"),
            json!({ "actor": "hr" }),
            StatusCode::NOT_FOUND,
            "no appeal #77",
        ),
    ];
    for (url, request, want, says) in wrong {
        let (status, body) = write(&url, None, request.clone()).await;
        assert_eq!(status, want, "{url} {request}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{url}: {message}");
    }
    let (status, body) = write(
        &decide("uphold"),
        None,
        json!({ "actor": "hr", "points": 2 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "upheld");
    let (status, body) = write(
        &decide("reject"),
        None,
        json!({ "actor": "hr", "note": "late" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, account) = get(
        &format!("{base}/api/v1/employees/lina/account"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(account["score"], -5 + 3 + 2);
    let (status, body) = get(&format!("{appeals}?status=upheld&userid=lina"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["appeals"].as_array().unwrap().len(), 1, "{body}");
    let (status, _) = get(&format!("{appeals}?status=maybe"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn hr_sees_the_pairs_who_thanked_only_each_other(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let now = Timestamp::now();
    for (giver, recipient, source) in [
        ("lina", "liuyang", "t1"),
        ("liuyang", "lina", "t2"),
        ("zhangwei", "wangfang", "t3"),
    ] {
        let mut tx = db.store.begin().await.unwrap();
        ledger::recognise(
            tx.as_mut(),
            &shanghai(),
            Default::default(),
            giver,
            recipient,
            2,
            "谢谢",
            source,
            now,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let base = serve(db, Some(TOKEN)).await;
    let (status, body) = get(&format!("{base}/api/v1/recognition/pairs"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["pairs"],
        json!([{ "a": "lina", "b": "liuyang", "a_to_b": 2, "b_to_a": 2 }])
    );
    let (status, body) = get(
        &format!("{base}/api/v1/recognition/pairs?month=2026-13"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = get(
        &format!("{base}/api/v1/recognition/pairs?month=2020-01"),
        Some(TOKEN),
    )
    .await;
    assert_eq!((status, &body["pairs"]), (StatusCode::OK, &json!([])));
}

async fn a_persons_level_badges_and_allowance_are_served(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let now = Timestamp::now();
    manual(
        db.store.as_ref(),
        "hr",
        "lina",
        120,
        false,
        &now.to_string(),
    )
    .await;
    let mut tx = db.store.begin().await.unwrap();
    let book = jifen::rules::load_badges_file(
        "config/badges.toml".as_ref(),
        &load_rules_file("config/rules.toml".as_ref()).unwrap(),
    )
    .unwrap();
    jifen::badges::grant_by_hand(tx.as_mut(), &book, "mentor", "lina", "hr", "带新人", now)
        .await
        .unwrap();
    ledger::recognise(
        tx.as_mut(),
        &shanghai(),
        Default::default(),
        "lina",
        "liuyang",
        3,
        "谢谢",
        "k",
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let base = serve(db, Some(TOKEN)).await;
    let (status, body) = get(&format!("{base}/api/v1/employees/lina/badges"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["level"]["name"], "白银");
    assert_eq!(body["level"]["next"]["to_go"], 180);
    assert_eq!(body["badges"][0]["id"], "mentor");
    assert_eq!(body["badges"][0]["actor"], "hr");
    assert_eq!(body["recognition"]["given"], 3);
    assert_eq!(body["recognition"]["left"], 7);
    let (status, _) = get(
        &format!("{base}/api/v1/employees/nobody/badges"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
