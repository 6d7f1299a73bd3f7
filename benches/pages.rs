//! Page benchmark of the employee page and the HR console at scale: the pages rendered by
//! jifen's own router over a real listener, for random people of the leaderboard benchmark's
//! organisation (100,000 people, 10 million entries by default). Reports p50/p99 per page
//! and the largest page, against the targets (20 ms p99, 100 KB), and apart from them each
//! page's first request, which may build boards the index did not keep (an earlier month's
//! trend, say).
//!
//!   cargo bench --bench leaderboard -- --runs 0      # generates the data, once
//!   cargo bench --bench pages -- [--people 100000] [--entries 10000000] [--requests 300]

// A benchmark that cannot set up has nothing to measure: it stops with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::number;
use jifen::bot::roles::RoleConfig;
use jifen::bot::{Bot, BotSettings};
use jifen::dingtalk::openapi::{OpenApiClient, OpenApiSettings};
use jifen::domain::Calendar;
use jifen::ingress::InboxWriter;
use jifen::ingress::callback::CallbackState;
use jifen::ingress::robot::RobotState;
use jifen::leaderboard::{LeaderboardIndex, LeaderboardSettings, TiePolicy};
use jifen::store::{SqliteStore, Store};
use jifen::web::app::MicroApp;
use jifen::web::app::session::SessionKeys;
use jifen::web::{AppState, router};
use jiff::{SignedDuration, Timestamp};
use secrecy::SecretString;

const TARGET_P99_MS: f64 = 20.0;
const TARGET_BYTES: usize = 100 * 1024;

struct Options {
    people: u64,
    entries: u64,
    requests: usize,
}

fn options() -> Options {
    let mut o = Options {
        people: 100_000,
        entries: 10_000_000,
        requests: 300,
    };
    for (name, value) in common::arguments() {
        match name.as_str() {
            "--people" => o.people = number(&name, &value),
            "--entries" => o.entries = number(&name, &value),
            "--requests" => o.requests = number(&name, &value),
            other => panic!("unknown option {other}; see the top of benches/pages.rs"),
        }
    }
    o
}

struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    let path = format!(
        "target/bench-data/leaderboard-{}-{}.db",
        o.people, o.entries
    );
    assert!(
        std::path::Path::new(&path).exists(),
        "no {path}: run `cargo bench --bench leaderboard -- --people {} --entries {} --runs 0` first (it generates the data)",
        o.people,
        o.entries
    );
    let store = SqliteStore::connect(&format!("sqlite:{path}"), 4)
        .await
        .unwrap();
    // The data may predate the latest indexes.
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let calendar = Calendar::new("Asia/Shanghai", jiff::civil::Weekday::Monday).unwrap();
    let started = Instant::now();
    let settings = LeaderboardSettings {
        tie: TiePolicy::Shared,
        ..LeaderboardSettings::default()
    };
    let leaderboard = Arc::new(
        LeaderboardIndex::load(store.clone(), calendar.clone(), settings, Timestamp::now())
            .await
            .unwrap(),
    );
    println!(
        "pages benchmark: {} people, {} entries (SQLite); boards built in {:.1} s",
        o.people,
        o.entries,
        started.elapsed().as_secs_f64()
    );
    let secret = SecretString::from("bench-secret");
    let rules = Arc::new(jifen::rules::load_rules_file("config/rules.toml".as_ref()).unwrap());
    let bot = Arc::new(Bot {
        store: store.clone(),
        rules: rules.clone(),
        catalogue: Default::default(),
        badging: Default::default(),
        calendar: calendar.clone(),
        leaderboard: leaderboard.clone(),
        settings: BotSettings {
            roles: RoleConfig {
                hr_admins: vec!["u1".into()],
                ..RoleConfig::default()
            },
            manager_monthly_budget: 200,
            review_threshold: 50,
            appeal_window_days: 30,
            recognition: Default::default(),
            leaderboard_card: None,
        },
        export: None,
        wake: Arc::new(tokio::sync::Notify::new()),
    });
    let sessions = SessionKeys::new(&secret, SignedDuration::from_hours(8));
    // Never called: nobody signs in through DingTalk here, sessions are issued directly.
    let client =
        Arc::new(OpenApiClient::new(OpenApiSettings::new("bench".into(), secret.clone())).unwrap());
    let state = AppState {
        store: store.clone(),
        calendar,
        admin_token: None,
        api_limit: None,
        bot: None,
        export: None,
        leaderboard,
        health: Default::default(),
        catalogue: Default::default(),
        hr_admins: Vec::new().into(),
        appeal_window_days: 30,
        badging: Default::default(),
        recognition: Default::default(),
        micro_app: Some(Arc::new(MicroApp {
            client,
            bot,
            rules,
            sessions: sessions.clone(),
            jsapi_url: "https://g.alicdn.com/dingding/dingtalk-jsapi/3.0.27/dingtalk.open.js"
                .into(),
            corp_id: "dingbench".into(),
            client_id: "bench".into(),
            secure_cookie: false,
        })),
    };
    let inbox = InboxWriter::spawn(store.clone());
    let robot = RobotState {
        secret: None,
        inbox: inbox.clone(),
        robot_code: None,
        corp_id: None,
        window_ms: jifen::dingtalk::robot::sign::WINDOW_MS,
    };
    let callback = CallbackState { keys: None, inbox };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(listener, router(state, callback, robot, 64 * 1024)).await },
    );
    let http = reqwest::Client::new();

    let pages: [(&str, &str, usize); 7] = [
        ("home", "/app", o.requests),
        ("history", "/app/history?month=2026-11", o.requests),
        (
            "history, a category",
            "/app/history?month=2026-10&category=attendance",
            o.requests,
        ),
        ("leaderboard", "/app/rank?window=year", o.requests),
        ("rules", "/app/rules", o.requests),
        ("HR analytics", "/app/analytics", (o.requests / 10).max(5)),
        (
            "HR analytics, 2026-11",
            "/app/analytics?window=month&period=2026-11",
            (o.requests / 10).max(5),
        ),
    ];
    let mut rng = Random(7);
    let mut all_ok = true;
    for (name, path, requests) in pages {
        let mut times = Vec::with_capacity(requests);
        let mut first = None;
        let mut largest = 0;
        for _ in 0..=requests {
            let userid = if name.starts_with("HR analytics") {
                "u1".to_string()
            } else {
                format!("u{}", rng.next() % o.people)
            };
            let (cookie, _) = sessions.issue(&userid, Timestamp::now());
            let sent = Instant::now();
            let response = http
                .get(format!("http://{addr}{path}"))
                .header("cookie", format!("jifen_session={cookie}"))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.bytes().await.unwrap();
            match first {
                None => first = Some(sent.elapsed()),
                Some(_) => times.push(sent.elapsed()),
            }
            assert!(status.is_success(), "{path} as {userid}: HTTP {status}");
            largest = largest.max(body.len());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p50 = ms(times[times.len() / 2]);
        let p99 = ms(times[((times.len() as f64 * 0.99) as usize).min(times.len() - 1)]);
        let ok = p99 <= TARGET_P99_MS && largest <= TARGET_BYTES;
        all_ok &= ok;
        println!(
            "  {name:<22} first {:>7.2} ms  p50 {p50:>6.2} ms  p99 {p99:>6.2} ms  largest {:>5.1} KB  ({requests} requests){}",
            ms(first.unwrap_or_default()),
            largest as f64 / 1024.0,
            if ok { "" } else { "  ← over target" }
        );
    }
    println!(
        "{} (targets: p99 ≤ {TARGET_P99_MS} ms, ≤ {} KB)",
        if all_ok {
            "PASS"
        } else {
            "some pages miss the targets"
        },
        TARGET_BYTES / 1024
    );
}
