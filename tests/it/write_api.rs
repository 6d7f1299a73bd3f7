//! The API for other systems, on both backends: scoped API keys (a reader cannot write, a
//! revoked key is refused, the admin token still works), awards and deductions made through
//! the robot's checks and safe to retry under an Idempotency-Key, and a per-key rate limit.

use crate::http_api::serve_with;
use crate::support;

use jifen::domain::api_key::{ApiKey, Scopes, key_text, secret_digest};
use jifen::runtime::Health;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestDb, seed_org};

on_both_backends!(
    a_key_does_what_its_scopes_allow_and_nothing_once_revoked,
    an_award_retried_under_its_key_is_posted_once_and_answered_the_same,
    a_refused_or_malformed_write_changes_nothing_and_says_why,
    a_key_over_its_rate_limit_is_told_when_to_retry,
    another_systems_event_is_matched_by_the_rules_once_and_bad_ones_are_refused,
    balances_people_and_a_periods_entries_are_read_in_pages,
);

const ADMIN: &str = "write-api-admin-token";

/// Stores a key with `scopes`; returns the text its holder sends.
async fn key(db: &TestDb, name: &str, scopes: &str) -> String {
    let (prefix, secret, text) = key_text(rand::random());
    let stored = ApiKey {
        name: name.into(),
        prefix,
        secret_sha256: secret_digest(&secret),
        scopes: Scopes::parse(scopes).unwrap(),
        created_at: Timestamp::now(),
        revoked_at: None,
    };
    assert!(db.store.insert_key(&stored).await.unwrap());
    text
}

async fn call(
    method: reqwest::Method,
    url: &str,
    bearer: &str,
    idempotency: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(bearer);
    if let Some(k) = idempotency {
        request = request.header("Idempotency-Key", k);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn get(url: &str, bearer: &str) -> (StatusCode, Value) {
    let (status, _, body) = call(reqwest::Method::GET, url, bearer, None, None).await;
    (status, body)
}

async fn post(url: &str, bearer: &str, key: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, body) = call(reqwest::Method::POST, url, bearer, Some(key), Some(body)).await;
    (status, body)
}

async fn score(db: &TestDb, userid: &str) -> i64 {
    db.store
        .account(userid)
        .await
        .unwrap()
        .unwrap()
        .totals
        .score
}

fn award(points: i64, actor: &str) -> Value {
    json!({"userid": "lina", "points": points, "reason": "MES 安全巡检全优", "actor": actor})
}

async fn a_key_does_what_its_scopes_allow_and_nothing_once_revoked(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let base = serve_with(db, Some(ADMIN), Health::default(), 0).await;
    let reader = key(db, "dashboard", "read").await;
    let writer = key(db, "mes-line-3", "awards:write").await;
    let account = format!("{base}/api/v1/employees/lina/account");

    assert_eq!(get(&account, &reader).await.0, StatusCode::OK);
    assert_eq!(
        get(&account, ADMIN).await.0,
        StatusCode::OK,
        "the admin token is an admin key"
    );
    let (status, body) = get(&account, &writer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("lacks the scope read"), "{body}");
    let (status, body) = post(
        &format!("{base}/api/v1/awards"),
        &reader,
        "k1",
        award(5, "hr"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("awards:write"), "{body}");
    assert_eq!(score(db, "lina").await, 0);

    // A key's prefix with another secret, and a revoked key, are refused alike.
    let forged = format!("{}{}", &writer[..writer.len() - 4], "0000");
    assert_eq!(get(&account, &forged).await.0, StatusCode::UNAUTHORIZED);
    assert!(
        db.store
            .revoke_key("dashboard", Timestamp::now())
            .await
            .unwrap()
    );
    let (status, body) = get(&account, &reader).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.to_string().contains("revoked"), "{body}");
    assert!(
        !db.store
            .revoke_key("dashboard", Timestamp::now())
            .await
            .unwrap(),
        "once"
    );
    let keys = db.store.keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .all(|k| !k.secret_sha256.is_empty() && !writer.contains(&k.secret_sha256))
    );
}

async fn an_award_retried_under_its_key_is_posted_once_and_answered_the_same(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let base = serve_with(db, None, Health::default(), 0).await;
    let mes = key(db, "mes", "awards:write").await;
    let url = format!("{base}/api/v1/awards");
    let (status, headers, first) = call(
        reqwest::Method::POST,
        &url,
        &mes,
        Some("insp-1"),
        Some(award(5, "hr")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "done");
    assert_eq!(first["entry"]["points"], 5);
    assert_eq!(first["entry"]["actor"], "hr");
    assert!(headers.get("idempotent-replayed").is_none());
    for _ in 0..3 {
        let (status, headers, again) = call(
            reqwest::Method::POST,
            &url,
            &mes,
            Some("insp-1"),
            Some(award(5, "hr")),
        )
        .await;
        assert_eq!((status, &again), (StatusCode::CREATED, &first));
        assert_eq!(headers.get("idempotent-replayed").unwrap(), "true");
    }
    assert_eq!(score(db, "lina").await, 5, "posted once");
    // The same key for another request is refused; a new key is a new award.
    let (status, body) = post(&url, &mes, "insp-1", award(6, "hr")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("different request")
    );
    // Keys are per API key: another system's insp-1 is its own.
    let lms = key(db, "lms", "awards:write").await;
    assert_eq!(
        post(&url, &lms, "insp-1", award(6, "hr")).await.0,
        StatusCode::CREATED
    );
    assert_eq!(score(db, "lina").await, 11);

    let (status, deducted) = post(
        &format!("{base}/api/v1/deductions"),
        &mes,
        "insp-2",
        award(2, "hr"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{deducted}");
    assert_eq!(deducted["entry"]["points"], -2);
    assert_eq!(score(db, "lina").await, 9);
    let id = first["entry"]["id"].as_i64().unwrap();
    let revoke = format!("{base}/api/v1/entries/{id}/revoke");
    let body = json!({"reason": "巡检记录有误", "actor": "hr"});
    let (status, revoked) = post(&revoke, &mes, "insp-1-undo", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{revoked}");
    assert_eq!(revoked["entry"]["reverses"], id);
    assert_eq!(post(&revoke, &mes, "insp-1-undo", body).await.1, revoked);
    assert_eq!(score(db, "lina").await, 4);
    assert_eq!(db.store.verify_totals().await.unwrap(), vec![]);
}

async fn a_refused_or_malformed_write_changes_nothing_and_says_why(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let base = serve_with(db, None, Health::default(), 0).await;
    let mes = key(db, "mes", "awards:write").await;
    let url = format!("{base}/api/v1/awards");
    let cases = [
        (
            None,
            award(5, "hr"),
            StatusCode::BAD_REQUEST,
            "Idempotency-Key header is required",
        ),
        (
            Some("a"),
            award(0, "hr"),
            StatusCode::BAD_REQUEST,
            "points must be 1 to",
        ),
        (
            Some("b"),
            award(-3, "hr"),
            StatusCode::BAD_REQUEST,
            "/deductions",
        ),
        (
            Some("c"),
            json!({"userid": "lina", "points": 5}),
            StatusCode::BAD_REQUEST,
            "missing field",
        ),
        (
            Some("d"),
            json!({"userid": "lina", "points": 5, "reason": "x", "actor": "hr", "bonus": 1}),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            Some("e"),
            award(5, " "),
            StatusCode::BAD_REQUEST,
            "actor must not be empty",
        ),
        // The robot's own checks: an employee awards nobody, a manager only in their
        // departments, nobody themself, and only people jifen knows.
        (
            Some("f"),
            award(5, "lina"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "只有部门主管和 HR",
        ),
        (
            Some("g"),
            award(5, "zhangwei"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "不在你管理的部门",
        ),
        (
            Some("h"),
            json!({"userid": "hr", "points": 5, "reason": "x", "actor": "hr"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "不能给自己加分或扣分",
        ),
        (
            Some("i"),
            json!({"userid": "nobody", "points": 5, "reason": "x", "actor": "hr", "lang": "en"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not in jifen's address book",
        ),
    ];
    for (key, body, status, says) in cases {
        let (got, _, answer) =
            call(reqwest::Method::POST, &url, &mes, key, Some(body.clone())).await;
        assert_eq!(got, status, "{key:?} {body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(says),
            "{key:?}: {message:?} should say {says:?}"
        );
        if let Some(k) = key {
            // Asked again, the same refusal: nothing was written in between.
            let (again, headers, replayed) =
                call(reqwest::Method::POST, &url, &mes, Some(k), Some(body)).await;
            assert_eq!((again, &replayed), (status, &answer));
            assert_eq!(headers.get("idempotent-replayed").unwrap(), "true");
        }
    }
    let revoke = format!("{base}/api/v1/entries/999/revoke");
    let (status, body) = post(&revoke, &mes, "r1", json!({"reason": "x", "actor": "hr"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(score(db, "lina").await, 0);
    assert!(db.store.entries("lina", 10, None).await.unwrap().is_empty());
}

async fn a_key_over_its_rate_limit_is_told_when_to_retry(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let base = serve_with(db, None, Health::default(), 3).await;
    let reader = key(db, "dashboard", "read").await;
    let other = key(db, "wallboard", "read").await;
    let account = format!("{base}/api/v1/employees/lina/account");
    for _ in 0..3 {
        assert_eq!(get(&account, &reader).await.0, StatusCode::OK);
    }
    let (status, headers, body) = call(reqwest::Method::GET, &account, &reader, None, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        get(&account, &other).await.0,
        StatusCode::OK,
        "each key has its own limit"
    );
}

async fn another_systems_event_is_matched_by_the_rules_once_and_bad_ones_are_refused(db: &TestDb) {
    seed_org(db.store.as_ref()).await;
    let base = serve_with(db, None, Health::default(), 0).await;
    let lms = key(db, "lms", "events:write").await;
    let url = format!("{base}/api/v1/events");
    let course = |hours: Value| {
        json!({"type": "lms.course_completed", "userid": "lina",
               "occurred_at": "2026-11-03T12:00:00Z",
               "data": {"course": "数据安全基础", "hours": hours}})
    };
    let (status, first) = post(&url, &lms, "course-8812", course(json!(3))).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["entries"][0]["points"], 3);
    assert_eq!(first["entries"][0]["rule_id"], "lms.course_completed");
    assert!(
        first["entries"][0]["explanation"]["zh"]
            .as_str()
            .unwrap()
            .contains("完成在线课程"),
        "{first}"
    );
    assert_eq!(
        post(&url, &lms, "course-8812", course(json!(3))).await.1,
        first
    );
    assert_eq!(score(db, "lina").await, 3, "posted once");
    let told = db.store.outbox(None, 10).await.unwrap();
    assert!(told.iter().any(|r| r.recipient == "lina"), "{told:#?}");

    let cases = [
        (course(json!("3")), "data.hours must be a number"),
        (
            json!({"type": "lms.course_completed", "userid": "lina", "data": {"hours": 1}}),
            "data.course is missing",
        ),
        (
            json!({"type": "lms.course_completed", "userid": "lina",
                   "data": {"course": "x", "hours": 1, "grade": "A"}}),
            "data.grade is not a field of lms.course_completed",
        ),
        (
            json!({"type": "approval.approved", "userid": "lina", "data": {}}),
            "unknown event type \"approval.approved\"; the rules file declares lms.course_completed",
        ),
        (
            json!({"type": "lms.course_completed", "userid": "lina",
                   "occurred_at": "2099-01-01T00:00:00Z", "data": {"course": "x", "hours": 1}}),
            "is in the future",
        ),
        (
            json!({"kind": "lms.course_completed"}),
            "not the JSON of an event",
        ),
    ];
    for (i, (body, says)) in cases.into_iter().enumerate() {
        let (status, answer) = post(&url, &lms, &format!("bad-{i}"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message:?} should say {says:?}");
    }
    let (status, answer) = post(
        &url,
        &lms,
        "nobody",
        json!({"type": "lms.course_completed", "userid": "nobody",
               "data": {"course": "x", "hours": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(score(db, "lina").await, 3, "nothing more");
    // An awards key may not post events.
    let mes = key(db, "mes", "awards:write").await;
    assert_eq!(
        post(&url, &mes, "x", course(json!(1))).await.0,
        StatusCode::FORBIDDEN
    );
}

async fn balances_people_and_a_periods_entries_are_read_in_pages(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    support::manual(store, "hr", "lina", 7, false, "2026-10-05T02:00:00Z").await;
    support::manual(store, "hr", "zhangwei", 4, false, "2026-10-06T02:00:00Z").await;
    support::manual(store, "hr", "wangfang", 2, false, "2026-10-07T02:00:00Z").await;
    support::manual(store, "hr", "lina", 9, false, "2026-11-02T02:00:00Z").await;
    let base = serve_with(db, None, Health::default(), 0).await;
    let reader = key(db, "bi", "read").await;

    // Everyone's balances, two at a time.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (status, page) = get(
            &format!("{base}/api/v1/balances?limit=2&after={after}"),
            &reader,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for b in page["balances"].as_array().unwrap() {
            seen.push((
                b["userid"].as_str().unwrap().to_string(),
                b["score"].as_i64().unwrap(),
            ));
        }
        match page["next_after"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    let lina = seen.iter().find(|(u, _)| u == "lina").unwrap();
    assert_eq!(lina.1, 16);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "by userid, each once");
    assert_eq!(seen.len(), 5, "{seen:?}");

    let (_, people) = get(&format!("{base}/api/v1/employees?limit=500"), &reader).await;
    let people = people["employees"].as_array().unwrap().clone();
    assert_eq!(people.len(), 5);
    let zhangwei = people.iter().find(|p| p["userid"] == "zhangwei").unwrap();
    assert_eq!(zhangwei["departments"], json!(["rd"]));
    assert_eq!(zhangwei["leads"], json!(["rd"]));

    // October's entries of 研发部 and the teams under it: 张伟's and 王芳's, not 李娜's.
    let (status, rd) = get(
        &format!("{base}/api/v1/entries?from=2026-10-01&to=2026-10-31&department=rd"),
        &reader,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rd}");
    let mut who: Vec<&str> = rd["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["userid"].as_str().unwrap())
        .collect();
    who.sort();
    assert_eq!(who, ["wangfang", "zhangwei"]);
    let (_, october) = get(
        &format!("{base}/api/v1/entries?from=2026-10-01&to=2026-10-31&limit=2"),
        &reader,
    )
    .await;
    assert_eq!(october["entries"].as_array().unwrap().len(), 2);
    let next = october["next_after"].as_i64().unwrap();
    let (_, rest) = get(
        &format!("{base}/api/v1/entries?from=2026-10-01&to=2026-10-31&limit=2&after={next}"),
        &reader,
    )
    .await;
    assert_eq!(rest["entries"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest["next_after"].is_null());

    for (query, status, says) in [
        (
            "from=2026-10-31&to=2026-10-01",
            StatusCode::BAD_REQUEST,
            "is before from",
        ),
        (
            "from=2026-01-01&to=2027-06-30",
            StatusCode::BAD_REQUEST,
            "at most 366 days",
        ),
        (
            "from=2026-10-01",
            StatusCode::BAD_REQUEST,
            "missing field `to`",
        ),
        (
            "from=2026-10-01&to=2026-10-31&department=nope",
            StatusCode::NOT_FOUND,
            "unknown department",
        ),
        (
            "from=2026-10-01&to=2026-10-31&limit=0",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
    ] {
        let (got, body) = get(&format!("{base}/api/v1/entries?{query}"), &reader).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(body.to_string().contains(says), "{query}: {body}");
    }
}
