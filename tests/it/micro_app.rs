//! The micro-app over a real listener, against the DingTalk emulator, on both backends: the
//! free login (a code from DingTalk, exchanged server-side, usable once) starts a signed
//! session; the home page shows the ledger's numbers; bad logins are refused and start none.

use crate::support;

use std::sync::Arc;

use jifen::bot::roles::RoleConfig;
use jifen::bot::{Bot, BotSettings};
use jifen::dingtalk::openapi::OpenApiClient;
use jifen::emulator::{self, EmulatorSettings, RunningEmulator};
use jifen::ingress::InboxWriter;
use jifen::ingress::callback::CallbackState;
use jifen::ingress::robot::RobotState;
use jifen::leaderboard::keep_current;
use jifen::runtime::CancellationToken;
use jifen::web::app::MicroApp;
use jifen::web::app::session::SessionKeys;
use jifen::web::{AppState, router};
use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, COOKIE, SET_COOKIE};
use secrecy::SecretString;
use serde_json::{Value, json};
use support::{TestDb, checked, leaderboards, manual, seed_org, shanghai};

on_both_backends!(
    the_rewards_page_redeems_cancels_and_appeals_as_the_robot_would,
    a_login_code_signs_in_once_and_the_home_page_shows_the_ledgers_numbers,
    without_a_session_the_page_asks_dingtalk_for_a_login_code,
    bad_logins_are_refused_and_start_no_session,
    the_page_follows_the_language_toggle,
    the_emulators_jsapi_stand_in_hands_out_login_codes_for_the_person_named,
    the_history_shows_a_months_entries_by_category_with_their_source_and_reversals,
    nobody_sees_another_persons_history_and_bad_filters_are_refused,
    the_leaderboard_page_shows_the_board_and_ones_own_place,
    the_rules_page_says_the_shipped_rules_in_plain_words,
    hr_approves_and_rejects_from_the_review_queue_and_the_scores_move,
    only_hr_reviews_forms_need_their_csrf_token_and_nobody_approves_their_own_award,
    hr_sees_the_periods_analytics_with_charts_and_tables_and_employees_do_not,
    a_manager_sees_analytics_of_their_own_departments_only,
    managers_award_and_revoke_on_the_page_within_the_robots_rules,
    the_navigation_offers_each_person_what_they_may_use,
);

const JSAPI: &str = "http://127.0.0.1:9/dingtalk.open.js";

/// jifen's HTTP server over `db`, its micro-app asking `emu` about login codes.
async fn serve(db: &TestDb, emu: &RunningEmulator) -> String {
    seed_org(db.store.as_ref()).await;
    let client = Arc::new(OpenApiClient::new(support::emulator_openapi(emu)).unwrap());
    let leaderboard = leaderboards(&db.store, Default::default(), Timestamp::now()).await;
    let rules = Arc::new(jifen::rules::load_rules_file("config/rules.toml".as_ref()).unwrap());
    let bot = Arc::new(Bot {
        store: db.store.clone(),
        rules: rules.clone(),
        catalogue: Arc::new(
            jifen::rules::load_catalogue_file("config/rewards.toml".as_ref()).unwrap(),
        ),
        // 销售部's challenge this month: 100 points of manual awards.
        badging: jifen::badges::Badging {
            book: Arc::new(jifen::domain::BadgeBook {
                challenges: vec![jifen::domain::Challenge {
                    id: "sales-push".into(),
                    name: "销售冲刺".into(),
                    name_en: "Sales push".into(),
                    department: "sales".into(),
                    category: "manual".into(),
                    target: 100,
                    month: jifen::domain::Month::of(shanghai().local_date(Timestamp::now())),
                    points: 5,
                    badge: None,
                    line: 0,
                }],
                ..Default::default()
            }),
            groups: vec![],
        },
        calendar: shanghai(),
        leaderboard: leaderboard.clone(),
        settings: BotSettings {
            roles: RoleConfig {
                hr_admins: vec!["hr".into()],
                ..RoleConfig::default()
            },
            manager_monthly_budget: 200,
            review_threshold: 20,
            appeal_window_days: 30,
            recognition: Default::default(),
            leaderboard_card: None,
        },
        export: None,
        wake: Arc::new(tokio::sync::Notify::new()),
    });
    let micro_app = MicroApp {
        client,
        bot,
        rules,
        sessions: SessionKeys::new(
            &SecretString::from("app-secret"),
            SignedDuration::from_hours(8),
        ),
        jsapi_url: JSAPI.into(),
        corp_id: jifen::emulator::org::CORP_ID.into(),
        client_id: jifen::emulator::org::APP_KEY.into(),
        secure_cookie: false,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let export = jifen::export::ExportLinks::new(
        &format!("http://{addr}"),
        &SecretString::from("app-secret"),
        std::time::Duration::from_secs(3600),
    );
    let state = AppState {
        store: db.store.clone(),
        calendar: shanghai(),
        admin_token: None,
        api_limit: None,
        bot: None,
        export: Some(export),
        leaderboard,
        health: Default::default(),
        micro_app: Some(Arc::new(micro_app)),
        catalogue: Default::default(),
        hr_admins: Vec::new().into(),
        appeal_window_days: 30,
        badging: Default::default(),
        recognition: Default::default(),
    };
    let index = state.leaderboard.clone();
    tokio::spawn(async move {
        let every = std::time::Duration::from_millis(20);
        keep_current(&index, every, CancellationToken::new()).await
    });
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

pub(crate) async fn start_emulator() -> RunningEmulator {
    emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// `POST /app/login`: the status, the body, and the session cookie it set, if any.
async fn login(base: &str, body: Value) -> (StatusCode, Value, Option<String>) {
    let response = reqwest::Client::new()
        .post(format!("{base}/app/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("jifen_session="))
        .map(str::to_string);
    (status, response.json().await.unwrap_or(Value::Null), cookie)
}

/// `GET /app` with these cookies: the status and the HTML.
async fn page(
    base: &str,
    query: &str,
    cookies: &str,
) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let response = reqwest::Client::new()
        .get(format!("{base}/app{query}"))
        .header(COOKIE, cookies)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, response.text().await.unwrap(), headers)
}

/// The `name=value` part of a Set-Cookie header.
fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

async fn a_login_code_signs_in_once_and_the_home_page_shows_the_ledgers_numbers(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let now = Timestamp::now().to_string();
    manual(db.store.as_ref(), "hr", "zhangwei", 12, false, &now).await;
    manual(db.store.as_ref(), "hr", "zhangwei", 7, true, &now).await;
    manual(db.store.as_ref(), "hr", "lina", 30, false, &now).await;

    let code = emu.emulator.login_code("zhangwei");
    let (status, body, cookie) = login(&base, json!({ "code": code })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = cookie.expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/app", "Max-Age=28800"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // The boards follow the ledger within moments.
    let started = std::time::Instant::now();
    let (status, html, headers) = loop {
        let (status, html, headers) = page(&base, "", pair(&cookie)).await;
        if (html.contains("<b>+12</b>") && html.contains("2 / 5"))
            || started.elapsed() > std::time::Duration::from_secs(5)
        {
            break (status, html, headers);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CACHE_CONTROL], "no-store, private");
    let totals = db.store.account("zhangwei").await.unwrap().unwrap().totals;
    assert_eq!((totals.score, totals.pending), (12, 7));
    for shown in [
        format!(r#"id="score">{}<"#, totals.score),
        format!(r#"id="balance">{}<"#, totals.balance),
        format!(r#"id="pending">{}<"#, totals.pending),
        "张伟".to_string(),
        "人事 手动奖励：+12 积分".to_string(),
        "待审核".to_string(),
        // This week: second of the company's five (李娜 has 30), first of 研发部's two.
        "<b>+12</b>".to_string(),
        "2 / 5".to_string(),
        "1 / 2".to_string(),
    ] {
        let body = &html[html.find("<body>").unwrap_or(0)..];
        assert!(html.contains(&shown), "{shown} missing from:\n{body}");
    }
    assert!(!html.contains("李娜"), "nobody else's entries");

    // The code was used; DingTalk refuses it a second time, and so does jifen.
    let (status, body, cookie) = login(&base, json!({ "code": code })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(cookie.is_none());
    emu.stop().await;
}

async fn without_a_session_the_page_asks_dingtalk_for_a_login_code(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let (status, html, _) = page(&base, "", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!(r#"<script src="{JSAPI}">"#)),
        "{html}"
    );
    assert!(html.contains("dd.requestAuthCode"), "{html}");
    assert!(
        html.contains("dd.runtime.permission.requestAuthCode"),
        "{html}"
    );
    assert!(html.contains(jifen::emulator::org::CORP_ID), "{html}");
    // Opened outside DingTalk there is no `dd`; the page says where to open it.
    assert!(html.contains("请在钉钉中打开此页面"), "{html}");
    emu.stop().await;
}

async fn bad_logins_are_refused_and_start_no_session(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let mut left = db.store.employee("liuyang").await.unwrap().unwrap();
    left.left_at = Some(Timestamp::now());
    let mut tx = db.store.begin().await.unwrap();
    tx.upsert_employee(&left).await.unwrap();
    tx.commit().await.unwrap();
    let cases = [
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({ "code": 5 }), StatusCode::BAD_REQUEST),
        (json!({ "code": "" }), StatusCode::BAD_REQUEST),
        (json!({ "code": "a\u{0}b" }), StatusCode::BAD_REQUEST),
        (json!({ "code": "x".repeat(300) }), StatusCode::BAD_REQUEST),
        (json!({ "code": "made-up" }), StatusCode::UNAUTHORIZED),
        (
            json!({ "code": emu.emulator.login_code("stranger") }),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({ "code": emu.emulator.login_code("liuyang") }),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (body, expected) in cases {
        let (status, answer, cookie) = login(&base, body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
        assert!(cookie.is_none(), "{body}");
    }
    // A cookie signed with another key, or for someone else, is no session: the login page.
    let other = SessionKeys::new(&SecretString::from("other"), SignedDuration::from_hours(8));
    let (forged, _) = other.issue("zhangwei", Timestamp::now());
    let (status, html, _) = page(&base, "", &format!("jifen_session={forged}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("requestAuthCode") && !html.contains(r#"id="score""#));
    emu.stop().await;
}

async fn the_page_follows_the_language_toggle(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let (_, _, cookie) = login(&base, json!({ "code": emu.emulator.login_code("lina") })).await;
    let session = cookie.unwrap();
    let (status, html, headers) = page(&base, "?lang=en", pair(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Balance") && html.contains(r#"lang="en""#),
        "{html}"
    );
    let kept = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("jifen_lang="))
        .unwrap();
    let both = format!("{}; {}", pair(&session), pair(kept));
    let (_, html, _) = page(&base, "", &both).await;
    assert!(html.contains("Balance"), "the choice is kept");
    let (_, html, _) = page(&base, "", pair(&session)).await;
    assert!(html.contains("可用积分"), "Chinese by default");
    emu.stop().await;
}

async fn the_emulators_jsapi_stand_in_hands_out_login_codes_for_the_person_named(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let script = reqwest::get(format!("{}/_emulator/dingtalk.js", emu.base_url()))
        .await
        .unwrap();
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let script = script.text().await.unwrap();
    for part in [
        "requestAuthCode",
        "runtime",
        "dd_user",
        emu.base_url().as_str(),
    ] {
        assert!(script.contains(part), "{part} missing from:\n{script}");
    }
    let issued = reqwest::get(format!(
        "{}/_emulator/login-codes?userid=wangfang",
        emu.base_url()
    ))
    .await
    .unwrap();
    assert_eq!(issued.headers()["access-control-allow-origin"], "*");
    let code: Value = issued.json().await.unwrap();
    let (status, _, cookie) = login(&base, json!({ "code": code["code"] })).await;
    assert_eq!(status, StatusCode::OK);
    let (_, html, _) = page(&base, "", pair(&cookie.unwrap())).await;
    assert!(html.contains("王芳"), "{html}");
    emu.stop().await;
}

/// Signs `userid` in through the emulator; returns the session cookie's `name=value`.
async fn signed_in(base: &str, emu: &RunningEmulator, userid: &str) -> String {
    let (status, body, cookie) =
        login(base, json!({ "code": emu.emulator.login_code(userid) })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    pair(&cookie.unwrap()).to_string()
}

async fn the_history_shows_a_months_entries_by_category_with_their_source_and_reversals(
    db: &TestDb,
) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let store = db.store.as_ref();
    let calendar = shanghai();
    let now = Timestamp::now();
    let last_month = now - SignedDuration::from_hours(24 * 40);
    let mistake = manual(store, "hr", "zhangwei", 12, false, &now.to_string()).await;
    manual(store, "hr", "zhangwei", 4, false, &last_month.to_string()).await;
    let rules = jifen::rules::load_rules_file("config/rules.toml".as_ref()).unwrap();
    let on_time = checked(
        "zhangwei",
        "att:zhangwei:today:OnDuty",
        &now.to_string(),
        "on_time",
    );
    let mut tx = store.begin().await.unwrap();
    jifen::ledger::post_event(tx.as_mut(), &rules, &calendar, &on_time, now)
        .await
        .unwrap();
    let reversal = jifen::ledger::reverse(tx.as_mut(), mistake, "hr", "录错了", now)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let session = signed_in(&base, &emu, "zhangwei").await;
    let (status, html, _) = page(&base, "/history", &session).await;
    assert_eq!(status, StatusCode::OK);
    for shown in [
        format!("id=\"entry-{mistake}\""),
        format!("id=\"entry-{}\"", reversal.id),
        "attendance.ontime v3".to_string(),
        "· 人事".to_string(),
        format!("撤销 #{mistake}"),
        format!("已被撤销： #{}", reversal.id),
    ] {
        assert!(html.contains(&shown), "{shown} missing from:\n{html}");
    }
    assert!(
        !html.contains("+4 积分"),
        "last month's entry is not this month's"
    );
    // Newest first.
    let at = |id: i64| html.find(&format!("id=\"entry-{id}\"")).unwrap();
    assert!(at(reversal.id) < at(mistake));

    let (_, html, _) = page(&base, "/history?category=attendance", &session).await;
    assert!(
        html.contains("attendance.ontime v3") && !html.contains(&format!("entry-{mistake}\"")),
        "{html}"
    );
    let month = jifen::domain::Month::of(calendar.local_date(last_month));
    let (_, html, _) = page(&base, &format!("/history?month={month}"), &session).await;
    assert!(
        html.contains("+4 积分") && !html.contains("+12 积分"),
        "{html}"
    );
    emu.stop().await;
}

async fn nobody_sees_another_persons_history_and_bad_filters_are_refused(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    manual(
        db.store.as_ref(),
        "hr",
        "lina",
        9,
        false,
        &Timestamp::now().to_string(),
    )
    .await;
    let session = signed_in(&base, &emu, "zhangwei").await;
    for path in ["/history?userid=lina", "?userid=lina"] {
        let (status, html, _) = page(&base, path, &session).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            html.contains("只能查看自己的积分明细") && !html.contains("+9"),
            "{html}"
        );
    }
    let (status, _, _) = page(&base, "/history?userid=zhangwei", &session).await;
    assert_eq!(status, StatusCode::OK, "one's own userid is fine");
    for bad in ["/history?month=2026-13", "/history?month=soon"] {
        let (status, html, _) = page(&base, bad, &session).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(html.contains("is not a month"), "{html}");
    }
    // Without a session every page is the login page.
    let (status, html, _) = page(&base, "/history?userid=lina", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("requestAuthCode") && !html.contains("+9"));
    emu.stop().await;
}

async fn the_leaderboard_page_shows_the_board_and_ones_own_place(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let now = Timestamp::now().to_string();
    for (userid, points) in [("lina", 30), ("zhangwei", 12), ("wangfang", 3)] {
        manual(db.store.as_ref(), "hr", userid, points, false, &now).await;
    }
    let session = signed_in(&base, &emu, "zhangwei").await;
    // The boards follow the ledger within moments.
    let started = std::time::Instant::now();
    let html = loop {
        let (status, html, _) = page(&base, "/rank", &session).await;
        assert_eq!(status, StatusCode::OK);
        if html.contains("<b>2</b> / 5 · +12")
            || started.elapsed() > std::time::Duration::from_secs(5)
        {
            break html;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let compact: String = html.split_whitespace().collect();
    for shown in [
        "<b>2</b>/5·+12",
        "<td>李娜</td><tdclass=\"num\">30</td>",
        "<trclass=\"mine\"><tdclass=\"num\">2</td><td>张伟</td>",
    ] {
        assert!(compact.contains(shown), "{shown} missing from:\n{html}");
    }
    let (_, html, _) = page(&base, "/rank?window=month&scope=department", &session).await;
    let compact: String = html.split_whitespace().collect();
    assert!(
        compact.contains("<b>1</b>/2·+12"),
        "研发部: 张伟 and 王芳\n{html}"
    );
    assert!(!compact.contains("李娜"), "{html}");
    for bad in ["/rank?window=decade", "/rank?scope=everyone"] {
        let (status, html, _) = page(&base, bad, &session).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {html}");
    }
    emu.stop().await;
}

async fn the_rules_page_says_the_shipped_rules_in_plain_words(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let session = signed_in(&base, &emu, "lina").await;
    let (status, html, _) = page(&base, "/rules", &session).await;
    assert_eq!(status, StatusCode::OK);
    let earn = &html[html.find("id=\"earn\"").unwrap()..html.find("id=\"cost\"").unwrap()];
    let cost = &html[html.find("id=\"cost\"").unwrap()..];
    for shown in [
        "准时打卡",
        "当日最多 1 · 本月最多 23",
        "知识分享",
        "需审核",
        "月度全勤",
    ] {
        assert!(earn.contains(shown), "{shown} missing from:\n{earn}");
    }
    for shown in ["迟到", "-2", "缺卡", "-3"] {
        assert!(cost.contains(shown), "{shown} missing from:\n{cost}");
    }
    let (_, html, _) = page(&base, "/rules?lang=en", &session).await;
    assert!(
        html.contains("On-time check-in") && html.contains("at most 23 a month"),
        "{html}"
    );
    emu.stop().await;
}

/// The CSRF token the review page's forms carry.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// `POST /app/review` as the form posts it.
async fn decide(base: &str, session: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/app/review"))
        .header(COOKIE, session)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn hr_approves_and_rejects_from_the_review_queue_and_the_scores_move(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let now = Timestamp::now().to_string();
    let store = db.store.as_ref();
    let big = manual(store, "zhangwei", "lina", 40, true, &now).await;
    let other = manual(store, "zhangwei", "liuyang", 25, true, &now).await;
    let session = signed_in(&base, &emu, "hr").await;
    let (status, html, _) = page(&base, "/review", &session).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for shown in [
        format!("pending-{big}"),
        format!("pending-{other}"),
        "李娜".into(),
        "刘洋".into(),
    ] {
        assert!(html.contains(&shown), "{shown} missing from:\n{html}");
    }
    let csrf = csrf_of(&html);
    let (status, html) = decide(
        &base,
        &session,
        &[
            ("csrf", &csrf),
            ("entry", &big.to_string()),
            ("decision", "approve"),
            ("reason", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        !html.contains(&format!("pending-{big}")),
        "decided entries leave the queue"
    );
    let (status, html) = decide(
        &base,
        &session,
        &[
            ("csrf", &csrf),
            ("entry", &other.to_string()),
            ("decision", "reject"),
            ("reason", "证据不足"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let lina = store.account("lina").await.unwrap().unwrap().totals;
    assert_eq!((lina.score, lina.pending), (40, 0));
    let liuyang = store.account("liuyang").await.unwrap().unwrap().totals;
    assert_eq!((liuyang.score, liuyang.pending), (0, 0));
    let trail = store.audit_log(Some("hr"), 20).await.unwrap();
    assert_eq!(
        trail
            .iter()
            .filter(|r| r.record.action == "app_command")
            .count(),
        2,
        "{trail:#?}"
    );
    assert!(trail.iter().any(|r| r.record.action == "approve"));
    emu.stop().await;
}

async fn only_hr_reviews_forms_need_their_csrf_token_and_nobody_approves_their_own_award(
    db: &TestDb,
) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let now = Timestamp::now().to_string();
    let store = db.store.as_ref();
    let own = manual(store, "hr", "lina", 30, true, &now).await;
    // An employee does not get the console.
    let employee = signed_in(&base, &emu, "zhangwei").await;
    let (status, html, _) = page(&base, "/review", &employee).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("只有人事管理员可以审核") && !html.contains("pending-"),
        "{html}"
    );
    let hr = signed_in(&base, &emu, "hr").await;
    let (_, html, _) = page(&base, "/review", &hr).await;
    let csrf = csrf_of(&html);
    let entry = own.to_string();
    // Without the token, with another session's, or without a session: refused, nothing done.
    for (session, token) in [
        (&hr, ""),
        (&hr, "forged"),
        (&employee, csrf.as_str()),
        (&String::new(), csrf.as_str()),
    ] {
        let (status, html) = decide(
            &base,
            session,
            &[("csrf", token), ("entry", &entry), ("decision", "approve")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{session} {token}: {html}");
    }
    let (status, _) = decide(
        &base,
        &hr,
        &[("csrf", &csrf), ("entry", &entry), ("decision", "maybe")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = decide(
        &base,
        &hr,
        &[
            ("csrf", &csrf),
            ("entry", "twelve"),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Four eyes: HR made this award, so HR does not approve it; the page says why.
    let (status, html) = decide(
        &base,
        &hr,
        &[("csrf", &csrf), ("entry", &entry), ("decision", "approve")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("pending-{own}")),
        "still waiting:\n{html}"
    );
    assert!(html.contains("id=\"outcome\""), "{html}");
    let lina = store.account("lina").await.unwrap().unwrap().totals;
    assert_eq!((lina.score, lina.pending), (0, 30));
    emu.stop().await;
}

async fn hr_sees_the_periods_analytics_with_charts_and_tables_and_employees_do_not(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let now = Timestamp::now();
    let store = db.store.as_ref();
    manual(store, "hr", "lina", 30, false, &now.to_string()).await;
    manual(store, "hr", "zhangwei", 12, false, &now.to_string()).await;
    let rules = jifen::rules::load_rules_file("config/rules.toml".as_ref()).unwrap();
    let on_time = checked(
        "zhangwei",
        "att:zhangwei:analytics:OnDuty",
        &now.to_string(),
        "on_time",
    );
    let mut tx = store.begin().await.unwrap();
    jifen::ledger::post_event(tx.as_mut(), &rules, &shanghai(), &on_time, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let hr = signed_in(&base, &emu, "hr").await;
    let started = std::time::Instant::now();
    let compact = loop {
        let (status, html, _) = page(&base, "/analytics", &hr).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        let compact: String = html.split_whitespace().collect();
        // Once the boards hold all three entries (张伟's 12 alone is in the same band).
        if compact.contains("<tdclass=\"num\">13</td></tr>")
            || started.elapsed() > std::time::Duration::from_secs(5)
        {
            break compact;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    for shown in [
        // 李娜 30, 张伟 13, the other three 0.
        "<td>20–49</td><tdclass=\"num\">1</td>",
        "<td>10–19</td><tdclass=\"num\">1</td>",
        "<td>0</td><tdclass=\"num\">3</td>",
        "<svg",
        "department=rd\">研发部</a></td>",
        "department=sales\">销售部</a></td>",
        // This month's trend: 张伟's 13 in 研发部, 李娜's 30 in 销售部, nothing before.
        "<td>研发部</td><tdclass=\"num\">0</td><tdclass=\"num\">0</td><tdclass=\"num\">0</td><tdclass=\"num\">0</td><tdclass=\"num\">0</td><tdclass=\"num\">13</td></tr>",
        "<td>销售部</td><tdclass=\"num\">0</td><tdclass=\"num\">0</td><tdclass=\"num\">0</td><tdclass=\"num\">0</td><tdclass=\"num\">0</td><tdclass=\"num\">30</td></tr>",
        "<td>准时打卡</td><tdclass=\"num\">1</td><tdclass=\"num\">1</td>",
        "id=\"failed-inbox\">0<",
    ] {
        assert!(compact.contains(shown), "{shown} missing from:\n{compact}");
    }
    let never = &compact[compact
        .find("id=\"never\"")
        .expect("rules that never fired")..];
    let head: String = never.chars().take(200).collect();
    assert!(never.contains("迟到") && !head.contains("准时打卡"));
    assert!(compact.contains("还没有结账的月份"), "{compact}");
    // A closed month is offered as a signed CSV link that works.
    let october = shanghai()
        .period_of(
            jifen::domain::PeriodKind::Month,
            jiff::civil::date(2026, 10, 1),
        )
        .unwrap();
    store
        .close_period("2026-10", october.start, october.end, now, "{}")
        .await
        .unwrap();
    let (_, html, _) = page(&base, "/analytics", &hr).await;
    let exports = &html[html.find("id=\"exports\"").unwrap()..];
    let links: Vec<String> = exports
        .split("href=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].replace("&#38;", "&"))
        .collect();
    assert!(
        links[0].contains("/export/2026-10.csv?expires="),
        "{links:?}"
    );
    let csv = reqwest::get(&links[0]).await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    // And its frozen totals, per person and per department, as a workbook.
    assert!(
        links[1].contains("/export/2026-10.xlsx?expires="),
        "{links:?}"
    );
    let xlsx = reqwest::get(&links[1]).await.unwrap();
    assert_eq!(xlsx.status(), StatusCode::OK);
    assert!(
        xlsx.headers()[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("jifen-2026-10.xlsx")
    );
    assert_eq!(
        &xlsx.bytes().await.unwrap()[..2],
        b"PK",
        "an XLSX file is a zip"
    );
    // A link is good for its own file only.
    let other = links[1].replace("2026-10.xlsx", "2026-09.xlsx");
    assert_eq!(
        reqwest::get(&other).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // A good signature for a month that is not closed: its totals are not frozen yet.
    let links_here = jifen::export::ExportLinks::new(
        &base,
        &SecretString::from("app-secret"),
        std::time::Duration::from_secs(60),
    );
    let open_month = jifen::domain::Month::new(2026, 9).unwrap();
    let link = links_here.link(open_month, jifen::export::Download::Archive, now);
    let refused = reqwest::get(&link).await.unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("jifen period close 2026-09"),
        "says how to close it"
    );
    let (status, _, _) = page(&base, "/analytics?department=nowhere", &hr).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = page(&base, "/analytics?window=decade", &hr).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = page(&base, "/analytics?window=month&period=previous", &hr).await;
    assert_eq!(status, StatusCode::OK);
    let employee = signed_in(&base, &emu, "lina").await;
    let (status, html, _) = page(&base, "/analytics", &employee).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!html.contains("<svg"), "{html}");
    emu.stop().await;
}

async fn a_manager_sees_analytics_of_their_own_departments_only(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let now = Timestamp::now();
    let store = db.store.as_ref();
    manual(store, "hr", "wangfang", 8, false, &now.to_string()).await;
    manual(store, "hr", "lina", 30, false, &now.to_string()).await;
    // 张伟 leads 研发部: he starts there and sees 前端组 under it, but no company sections.
    let manager = signed_in(&base, &emu, "zhangwei").await;
    let (status, html, _) = page(&base, "/", &manager).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("href=\"/app/analytics\""), "offered: {html}");
    let started = std::time::Instant::now();
    let compact = loop {
        let (status, html, _) = page(&base, "/analytics", &manager).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        let compact: String = html.split_whitespace().collect();
        if compact.contains("<td>前端组</td><tdclass=\"num\">0</td>")
            && compact.contains("<tdclass=\"num\">8</td></tr>")
            || started.elapsed() > std::time::Duration::from_secs(5)
        {
            break compact;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    for shown in [
        "<spanclass=\"muted\">示例科技</span>›<ahref=\"/app/analytics?window=month&amp;department=rd\">研发部</a>",
        "department=rd-web\">前端组</a></td><tdclass=\"num\">1</td><tdclass=\"num\">8</td>",
        "id=\"trend\"",
    ] {
        assert!(compact.contains(shown), "{shown} missing from:\n{compact}");
    }
    for hidden in ["销售部", "id=\"rules\"", "id=\"health\"", "id=\"exports\""] {
        assert!(!compact.contains(hidden), "{hidden} shown to a manager");
    }
    let (status, html, _) = page(&base, "/analytics?department=rd-web", &manager).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    // A department of his own without sub-departments is its own line in the trend.
    let compact: String = html.split_whitespace().collect();
    assert!(
        compact.contains("<td>前端组</td><tdclass=\"num\">0</td>"),
        "{compact}"
    );
    for (path, refused) in [
        ("/analytics?department=sales", StatusCode::FORBIDDEN),
        ("/analytics?department=1", StatusCode::FORBIDDEN),
        ("/analytics?department=nowhere", StatusCode::NOT_FOUND),
    ] {
        let (status, html, _) = page(&base, path, &manager).await;
        assert_eq!(status, refused, "{path}");
        assert!(!html.contains("<svg"), "{path}: {html}");
    }
    emu.stop().await;
}

/// `POST /app/adjust` as the form posts it.
async fn adjust(base: &str, session: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/app/adjust"))
        .header(COOKIE, session)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The hidden field `name` of the first form on a page.
fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let rest = &html[html
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + key.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

async fn managers_award_and_revoke_on_the_page_within_the_robots_rules(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let store = db.store.as_ref();
    // 张伟 leads 研发部, and so 王芳's 前端组 under it.
    let manager = signed_in(&base, &emu, "zhangwei").await;
    let (status, html, _) = page(&base, "/adjust", &manager).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (csrf, nonce) = (hidden(&html, "csrf"), hidden(&html, "nonce"));
    let award = [
        ("csrf", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("action", "adjust"),
        ("who", "wangfang"),
        ("points", "5"),
        ("reason", "帮同事排查线上问题"),
    ];
    for _ in 0..2 {
        // Submitted twice (a double tap): made once.
        let (status, html) = adjust(&base, &manager, &award).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("id=\"outcome\""), "{html}");
    }
    let entries = store.entries("wangfang", 10, None).await.unwrap();
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(
        (entries[0].points, entries[0].actor.as_deref()),
        (5, Some("zhangwei"))
    );
    // 李娜 is in 销售部, which 张伟 does not lead: refused, nothing posted.
    let outside = [
        ("csrf", csrf.as_str()),
        ("nonce", "abc123"),
        ("action", "adjust"),
        ("who", "lina"),
        ("points", "-3"),
        ("reason", "迟到"),
    ];
    let (status, html) = adjust(&base, &manager, &outside).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        store.entries("lina", 10, None).await.unwrap().is_empty(),
        "{html}"
    );
    // Revoked, as 撤销 would.
    let id = entries[0].id.to_string();
    let revoke = [
        ("csrf", csrf.as_str()),
        ("nonce", "def456"),
        ("action", "revoke"),
        ("entry", id.as_str()),
        ("reason", "重复申请"),
    ];
    let (status, _) = adjust(&base, &manager, &revoke).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        store
            .account("wangfang")
            .await
            .unwrap()
            .unwrap()
            .totals
            .score,
        0
    );
    // Wrong input is refused with the reason, and changes nothing.
    for (field, value, expected) in [
        ("points", "5.5", StatusCode::BAD_REQUEST),
        ("points", "0", StatusCode::BAD_REQUEST),
        ("points", "1e3", StatusCode::BAD_REQUEST),
        ("action", "delete", StatusCode::BAD_REQUEST),
        ("nonce", "not hex!", StatusCode::BAD_REQUEST),
        ("csrf", "forged", StatusCode::FORBIDDEN),
    ] {
        let form: Vec<(&str, &str)> = award
            .iter()
            .map(|(k, v)| if *k == field { (*k, value) } else { (*k, *v) })
            .collect();
        let (status, html) = adjust(&base, &manager, &form).await;
        assert_eq!(status, expected, "{field}={value}: {html}");
    }
    assert_eq!(
        store.entries("wangfang", 10, None).await.unwrap().len(),
        2,
        "the award and its reversal"
    );
    // Someone who manages nobody gets no form.
    let employee = signed_in(&base, &emu, "lina").await;
    let (status, html, _) = page(&base, "/adjust", &employee).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("只有经理和人事管理员可以奖扣积分"), "{html}");
    emu.stop().await;
}

async fn the_navigation_offers_each_person_what_they_may_use(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let cases = [
        ("lina", [false, false, false]),
        ("zhangwei", [true, false, true]),
        ("hr", [true, true, true]),
    ];
    for (userid, offered) in cases {
        let session = signed_in(&base, &emu, userid).await;
        let (_, html, _) = page(&base, "", &session).await;
        let links = [
            "href=\"/app/adjust\"",
            "href=\"/app/review\"",
            "href=\"/app/analytics\"",
        ];
        for (link, want) in links.iter().zip(offered) {
            assert_eq!(html.contains(link), want, "{userid}: {link}");
        }
    }
    emu.stop().await;
}

/// `POST /app/rewards` as its forms post it.
async fn rewards_form(base: &str, session: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/app/rewards"))
        .header(COOKIE, session)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn the_rewards_page_redeems_cancels_and_appeals_as_the_robot_would(db: &TestDb) {
    let emu = start_emulator().await;
    let base = serve(db, &emu).await;
    let store = db.store.as_ref();
    let now = Timestamp::now().to_string();
    manual(store, "hr", "lina", 40, false, &now).await;
    let deduction = manual(store, "zhangwei", "lina", -4, false, &now).await;
    let session = signed_in(&base, &emu, "lina").await;
    let (status, html, _) = page(&base, "/rewards", &session).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("id=\"reward-coffee\"") && html.contains("<b id=\"balance\">36</b>"),
        "{html}"
    );
    assert!(
        html.contains("销售冲刺") && html.contains("36/100"),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let form = |action: &'static str, field: &'static str, value: String| {
        let csrf = csrf.clone();
        move |nonce: &'static str| {
            vec![
                ("csrf", csrf.clone()),
                ("nonce", nonce.to_string()),
                ("action", action.to_string()),
                (field, value.clone()),
            ]
        }
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let (base, session) = (base.clone(), session.clone());
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            rewards_form(&base, &session, &pairs).await
        }
    };
    let (status, html) = send(form("redeem", "reward", "coffee".into())("aa01")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("已兑换 #"), "{html}");
    assert!(html.contains("<b id=\"balance\">6</b>"), "{html}");
    // The same form sent twice redeems once; another reward from that page is a new request.
    send(form("redeem", "reward", "coffee".into())("aa01")).await;
    assert_eq!(
        store.account("lina").await.unwrap().unwrap().totals.balance,
        6
    );
    let (_, html) = send(form("redeem", "reward", "book".into())("aa01")).await;
    assert!(html.contains("可用积分不足"), "{html}");
    let id = store.redemptions(Some("lina"), None, 5).await.unwrap()[0].id;
    let (_, html) = send(form("cancel", "redemption", id.to_string())("aa02")).await;
    assert!(html.contains("已取消，已退还 30 可用积分"), "{html}");
    let mut appeal = form("appeal", "entry", deduction.to_string())("aa03");
    appeal.push(("reason", "当天在客户现场".into()));
    let (_, html) = send(appeal).await;
    assert!(html.contains("已提交申诉 #"), "{html}");
    assert!(
        html.contains("当天在客户现场"),
        "the appeal is listed: {html}"
    );

    // Bad forms are refused and change nothing.
    let (status, _) = send(form("steal", "reward", "coffee".into())("aa04")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(form("cancel", "redemption", "x".into())("aa05")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(vec![
        ("csrf", "forged".into()),
        ("nonce", "aa06".into()),
        ("action", "redeem".into()),
        ("reward", "coffee".into()),
    ])
    .await;
    assert_ne!(status, StatusCode::OK);
    assert_eq!(
        store.account("lina").await.unwrap().unwrap().totals.balance,
        36
    );
    emu.stop().await;
}
