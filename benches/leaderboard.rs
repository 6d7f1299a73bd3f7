//! Leaderboard benchmark: builds the index over a generated organisation (100,000 people,
//! 10 million ledger entries over two years by default), then times the top 20 and single
//! people's ranks for every window, places within a team and a division, the divisions'
//! board, and how long one new entry takes to update the boards.
//!
//!   cargo bench --bench leaderboard -- [--backend sqlite|postgres] [--people 100000]
//!                                      [--entries 10000000] [--queries 20000] [--runs 3]
//!
//! The data is generated once inside the database (a few minutes at full size) and kept for
//! later runs: SQLite in target/bench-data/, PostgreSQL in the database
//! `jifen_bench_leaderboard` on JIFEN_TEST_POSTGRES_URL's server.

// A benchmark that cannot set up has nothing to measure: it stops with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jifen::domain::Calendar;
use jifen::leaderboard::{
    BoardQuery, DepartmentOrder, LeaderboardIndex, LeaderboardSettings, TiePolicy, Window,
};
use jifen::store::{LedgerTick, PgStore, SqliteStore, Store};
use jiff::Timestamp;
use sqlx::Connection;

/// The benchmark's "now": the generated entries cover the two years up to here.
const NOW: &str = "2026-11-18T04:00:00Z";
const SPAN_MS: i64 = 730 * 86_400_000;
const TEAMS: u64 = 200;
const DIVISIONS: u64 = 20;
const CHUNK: u64 = 500_000;

struct Options {
    backend: String,
    people: u64,
    entries: u64,
    queries: usize,
    runs: usize,
}

fn options() -> Options {
    let mut o = Options {
        backend: "sqlite".into(),
        people: 100_000,
        entries: 10_000_000,
        queries: 20_000,
        runs: 3,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        let number = |what: &str| -> u64 {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{what} takes a number, not {value:?}"))
        };
        match args[i].as_str() {
            "--backend" => o.backend = value.clone(),
            "--people" => o.people = number("--people"),
            "--entries" => o.entries = number("--entries"),
            "--queries" => o.queries = number("--queries") as usize,
            "--runs" => o.runs = number("--runs") as usize,
            _ => {
                i += 1;
                continue; // cargo bench passes --bench
            }
        }
        i += 2;
    }
    o
}

/// A connection for generating data, outside jifen's store.
enum Generator {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Generator {
    async fn run(&mut self, sql: &str) {
        let result = match self {
            Generator::Sqlite(c) => sqlx::query(sql).execute(c).await.map(|_| ()),
            Generator::Postgres(c) => sqlx::query(sql).execute(c).await.map(|_| ()),
        };
        result.unwrap_or_else(|e| panic!("generating data: {e}\n{sql}"));
    }

    async fn count(&mut self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self {
            Generator::Sqlite(c) => sqlx::query_scalar(&sql).fetch_one(c).await.unwrap(),
            Generator::Postgres(c) => sqlx::query_scalar(&sql).fetch_one(c).await.unwrap(),
        }
    }

    /// `SELECT … FROM` a sequence of numbers `x` from `a` to `b`.
    fn numbers(&self, a: u64, b: u64) -> (String, String) {
        match self {
            Generator::Sqlite(_) => (
                format!(
                    "WITH RECURSIVE seq(x) AS (SELECT {a} UNION ALL SELECT x + 1 FROM seq WHERE x < {b}) "
                ),
                "seq".into(),
            ),
            Generator::Postgres(_) => (
                String::new(),
                format!("generate_series(CAST({a} AS BIGINT), CAST({b} AS BIGINT)) AS seq(x)"),
            ),
        }
    }
}

/// Opens the store, generating the organisation and its ledger unless a previous run did.
async fn prepare(o: &Options) -> Arc<dyn Store> {
    let (store, mut generator): (Arc<dyn Store>, Generator) = match o.backend.as_str() {
        "sqlite" => {
            let dir = PathBuf::from("target/bench-data");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("leaderboard-{}-{}.db", o.people, o.entries));
            let url = format!("sqlite:{}", path.display());
            let store = SqliteStore::connect(&url, 4).await.unwrap();
            store.migrate().await.unwrap();
            let generator = sqlx::SqliteConnection::connect(&url).await.unwrap();
            (Arc::new(store), Generator::Sqlite(generator))
        }
        "postgres" => {
            let admin_url = std::env::var("JIFEN_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("PostgreSQL at JIFEN_TEST_POSTGRES_URL");
            let name = "jifen_bench_leaderboard";
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(name)
                    .fetch_optional(&mut admin)
                    .await
                    .unwrap();
            if exists.is_none() {
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
            let options = sqlx::postgres::PgConnectOptions::from_str(&admin_url)
                .unwrap()
                .database(name);
            let store = PgStore::connect_with(options.clone(), 4).await.unwrap();
            store.migrate().await.unwrap();
            let generator = sqlx::PgConnection::connect_with(&options).await.unwrap();
            (Arc::new(store), Generator::Postgres(generator))
        }
        other => panic!("--backend sqlite|postgres, not {other}"),
    };
    let have = generator.count("ledger_entries").await as u64;
    if generator.count("employees").await as u64 == o.people && have == o.entries {
        println!(
            "data: {} people, {} entries (kept from an earlier run)",
            o.people, have
        );
        return store;
    }
    assert!(
        have == 0,
        "the bench database holds {have} entries, not {}: delete it to generate again",
        o.entries
    );
    generate(&mut generator, o).await;
    store
}

async fn generate(g: &mut Generator, o: &Options) {
    let started = Instant::now();
    let now = Timestamp::from_str(NOW).unwrap().as_millisecond();
    g.run("INSERT INTO departments (id, name, parent_id, updated_at) VALUES ('1', '基准公司', NULL, 0)")
        .await;
    let (with, from) = g.numbers(0, DIVISIONS - 1);
    g.run(&format!(
        "{with}INSERT INTO departments (id, name, parent_id, updated_at) \
         SELECT 'd' || x, '事业部' || x, '1', 0 FROM {from}"
    ))
    .await;
    let (with, from) = g.numbers(0, TEAMS - 1);
    g.run(&format!(
        "{with}INSERT INTO departments (id, name, parent_id, updated_at) \
         SELECT 't' || x, '小组' || x, 'd' || (x % {DIVISIONS}), 0 FROM {from}"
    ))
    .await;
    let (with, from) = g.numbers(0, o.people - 1);
    g.run(&format!(
        "{with}INSERT INTO employees (userid, name, active, updated_at, hired_at) \
         SELECT 'u' || x, '员工' || x, TRUE, 0, {} FROM {from}",
        now - 3 * SPAN_MS
    ))
    .await;
    let (with, from) = g.numbers(0, o.people - 1);
    g.run(&format!(
        "{with}INSERT INTO department_members (userid, department_id) \
         SELECT 'u' || x, 't' || (x % {TEAMS}) FROM {from}"
    ))
    .await;
    let start = now - SPAN_MS;
    let mut done = 0;
    while done < o.entries {
        let last = (done + CHUNK).min(o.entries);
        let (with, from) = g.numbers(done + 1, last);
        // Spread over people and time by multiplying with primes; points from -2 to 8.
        g.run(&format!(
            "{with}INSERT INTO ledger_entries (userid, kind, points, score_delta, balance_delta, \
             pending_delta, source_key, rule_key, category, explanation_zh, explanation_en, inputs, \
             occurred_at, posted_at) \
             SELECT 'u' || ((x * 7919) % {people}), 'manual', (x * 37) % 11 - 2, (x * 37) % 11 - 2, \
             (x * 37) % 11 - 2, 0, 'bench:' || x, '', 'bench', '基准数据', 'bench data', '{{}}', \
             {start} + (x * 104729) % {SPAN_MS}, {start} + (x * 104729) % {SPAN_MS} FROM {from}",
            people = o.people,
        ))
        .await;
        done = last;
        println!(
            "data: {done} of {} entries ({:.0} s)",
            o.entries,
            started.elapsed().as_secs_f64()
        );
    }
    if let Generator::Postgres(_) = g {
        g.run("ANALYZE").await;
    }
    println!(
        "data: generated {} people and {} entries in {:.0} s",
        o.people,
        o.entries,
        started.elapsed().as_secs_f64()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A small deterministic generator, so every run asks the same questions.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

struct RunFigures {
    build_s: f64,
    top_p99: f64,
    rank_p99: f64,
    top_p50: f64,
    rank_p50: f64,
    team_rank_p99: f64,
    division_rank_p99: f64,
    divisions_p99: f64,
    refresh_ms: f64,
    update_p50: f64,
    update_p99: f64,
}

async fn run(store: Arc<dyn Store>, o: &Options, run: usize) -> RunFigures {
    let now = Timestamp::from_str(NOW).unwrap();
    let calendar = Calendar::new("Asia/Shanghai", jiff::civil::Weekday::Monday).unwrap();
    let started = Instant::now();
    let settings = LeaderboardSettings {
        tie: TiePolicy::Shared,
        ..LeaderboardSettings::default()
    };
    let index = LeaderboardIndex::load(store, calendar, settings, now)
        .await
        .unwrap();
    let build_s = started.elapsed().as_secs_f64();
    let mut rng = SplitMix(run as u64);
    let windows = [
        Window::Week,
        Window::Month,
        Window::Quarter,
        Window::Year,
        Window::All,
    ];
    let query = |window: Window, limit: usize, department: Option<String>| BoardQuery {
        window,
        period: None,
        department,
        limit,
    };
    // Warm up: every board once.
    for &window in &windows {
        index
            .people(&query(window, 20, None), None, now)
            .await
            .unwrap();
    }
    let (mut tops, mut ranks) = (Vec::new(), Vec::new());
    for i in 0..o.queries {
        let window = windows[i % windows.len()];
        if i % 2 == 0 {
            let q = query(window, 20, None);
            let t = Instant::now();
            let board = index.people(&q, None, now).await.unwrap();
            tops.push(t.elapsed());
            assert_eq!(board.top.len(), 20);
        } else {
            let userid = format!("u{}", rng.next() % o.people);
            let q = query(window, 0, None);
            let t = Instant::now();
            let board = index.people(&q, Some(&userid), now).await.unwrap();
            ranks.push(t.elapsed());
            assert!(board.me.is_some());
        }
    }
    // A person's place within their team (500 people: sorted when asked) and within their
    // division (5,000: kept in order), and the divisions against each other.
    let (mut team_ranks, mut division_ranks, mut divisions) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..(o.queries / 10).max(1) {
        let person = rng.next() % o.people;
        let team = person % TEAMS;
        let userid = format!("u{person}");
        let q = query(Window::Month, 0, Some(format!("t{team}")));
        let t = Instant::now();
        let board = index.people(&q, Some(&userid), now).await.unwrap();
        team_ranks.push(t.elapsed());
        assert!(board.me.is_some());
        let q = query(Window::Month, 0, Some(format!("d{}", team % DIVISIONS)));
        let t = Instant::now();
        let board = index.people(&q, Some(&userid), now).await.unwrap();
        division_ranks.push(t.elapsed());
        assert!(board.me.is_some());
        let q = query(Window::Month, 20, None);
        let t = Instant::now();
        let board = index
            .departments(&q, DepartmentOrder::PerHead, now)
            .await
            .unwrap();
        divisions.push(t.elapsed());
        assert_eq!(board.top.len(), DIVISIONS as usize);
    }
    // One new entry at a time, occurring now: it lands on the current week, month,
    // quarter, year and all-time boards.
    let mut updates = Vec::new();
    for i in 0..o.queries {
        let tick = LedgerTick {
            id: i64::MAX - i as i64,
            userid: format!("u{}", rng.next() % o.people),
            score_delta: (rng.next() % 10) as i64 + 1,
            occurred_at: now.as_millisecond(),
        };
        let t = Instant::now();
        index.apply(std::slice::from_ref(&tick));
        updates.push(t.elapsed());
    }
    // An address-book sync that changed nothing: everyone's standing is checked again.
    let t = Instant::now();
    index.refresh_directory().await.unwrap();
    let refresh_ms = t.elapsed().as_secs_f64() * 1e3;
    for v in [
        &mut tops,
        &mut ranks,
        &mut team_ranks,
        &mut division_ranks,
        &mut divisions,
        &mut updates,
    ] {
        v.sort();
    }
    let f = RunFigures {
        build_s,
        top_p50: micros(percentile(&tops, 0.5)),
        top_p99: micros(percentile(&tops, 0.99)),
        rank_p50: micros(percentile(&ranks, 0.5)),
        rank_p99: micros(percentile(&ranks, 0.99)),
        team_rank_p99: micros(percentile(&team_ranks, 0.99)),
        division_rank_p99: micros(percentile(&division_ranks, 0.99)),
        divisions_p99: micros(percentile(&divisions, 0.99)),
        refresh_ms,
        update_p50: micros(percentile(&updates, 0.5)),
        update_p99: micros(percentile(&updates, 0.99)),
    };
    println!(
        "run {}: build {:.1} s; top 20 p50 {:.1} µs p99 {:.1} µs; rank p50 {:.1} µs p99 {:.1} µs; \
         rank in a team p99 {:.0} µs, in a division p99 {:.0} µs; divisions board p99 {:.0} µs; \
         update p50 {:.1} µs p99 {:.1} µs; address-book refresh {:.0} ms",
        run + 1,
        f.build_s,
        f.top_p50,
        f.top_p99,
        f.rank_p50,
        f.rank_p99,
        f.team_rank_p99,
        f.division_rank_p99,
        f.divisions_p99,
        f.update_p50,
        f.update_p99,
        f.refresh_ms
    );
    f
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    println!(
        "leaderboard benchmark: {} people, {} entries, {}, {} queries per run, {} runs",
        o.people, o.entries, o.backend, o.queries, o.runs
    );
    let store = prepare(&o).await;
    let mut figures = Vec::new();
    for r in 0..o.runs {
        figures.push(run(store.clone(), &o, r).await);
    }
    if figures.is_empty() {
        return; // --runs 0: only generate the data
    }
    let m = |f: fn(&RunFigures) -> f64| median(figures.iter().map(f).collect());
    println!(
        "median of {} runs ({}): build {:.1} s; top 20 p99 {:.1} µs; rank p99 {:.1} µs; \
         rank in a team p99 {:.0} µs, in a division p99 {:.0} µs; divisions board p99 {:.0} µs; \
         update p50 {:.1} µs p99 {:.1} µs; address-book refresh {:.0} ms",
        o.runs,
        o.backend,
        m(|f| f.build_s),
        m(|f| f.top_p99),
        m(|f| f.rank_p99),
        m(|f| f.team_rank_p99),
        m(|f| f.division_rank_p99),
        m(|f| f.divisions_p99),
        m(|f| f.update_p50),
        m(|f| f.update_p99),
        m(|f| f.refresh_ms),
    );
    store.close().await;
}
