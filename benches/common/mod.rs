//! What the load benchmarks share: a `jifen serve` child process, its database on either
//! backend, callbacks signed and encrypted ahead of time, and a minimal HTTP/1.1 client that
//! only writes bytes and reads replies, so the load generator costs little next to the server.

// Each benchmark uses a part of this.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jifen::dingtalk::crypto::CallbackCrypto;
use secrecy::SecretString;

pub const TOKEN: &str = "bench-token";
pub const AES_KEY: &str = "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo";
pub const CORP_ID: &str = "ding8a7c6e5d4b3a2f10";

/// `--name value` pairs from the command line (cargo bench adds `--bench`, which is skipped).
pub fn arguments() -> Vec<(String, String)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--bench" || !args[i].starts_with("--") {
            i += 1;
            continue;
        }
        pairs.push((
            args[i].clone(),
            args.get(i + 1).cloned().unwrap_or_default(),
        ));
        i += 2;
    }
    pairs
}

/// A number given on the command line, or a clear stop.
pub fn number<T: std::str::FromStr>(name: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| panic!("{name} takes a number, not {value:?}"))
}

pub fn crypto() -> CallbackCrypto {
    CallbackCrypto::new(SecretString::from(TOKEN.to_string()), AES_KEY, CORP_ID).unwrap()
}

/// One callback request as DingTalk sends it, serialised ahead of time.
pub fn signed_callback(
    crypto: &CallbackCrypto,
    host: &str,
    plaintext: &str,
    nonce: &str,
) -> Vec<u8> {
    let ts = jiff::Timestamp::now().as_millisecond().to_string();
    let encrypt = crypto.encrypt(plaintext);
    let signature = crypto.signature(&ts, nonce, &encrypt);
    let body = serde_json::json!({ "encrypt": encrypt }).to_string();
    format!(
        "POST /dingtalk/callback?msg_signature={signature}&timestamp={ts}&nonce={nonce} HTTP/1.1\r\n\
         Host: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one HTTP/1.1 response from `buf`/`stream`; returns whether its status was 2xx.
pub async fn read_response(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
            let ok = head.starts_with("HTTP/1.1 2");
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let total = end + 4 + length;
            while buf.len() < total {
                if stream.read_buf(buf).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
            buf.drain(..total);
            return Ok(ok);
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// A fresh database for one run: a file in `dir`, or the PostgreSQL database `name` on
/// JIFEN_TEST_POSTGRES_URL's server, dropped and created again.
pub fn database_url(backend: &str, dir: &std::path::Path, name: &str) -> String {
    match backend {
        "sqlite" => format!("sqlite:{}", dir.join("bench.db").display()),
        "postgres" => {
            let admin = std::env::var("JIFEN_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("PostgreSQL reachable");
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await
                    .unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut c)
                    .await
                    .unwrap();
            });
            format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
        }
        other => panic!("--backend sqlite|postgres, not {other}"),
    }
}

/// Starts `jifen serve` on a free port with these settings (and the callback keys above);
/// returns it and its address. Its log goes to stderr when BENCH_LOG is set.
pub fn start_serve(database_url: &str, env: &[(&str, String)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jifen"))
        .arg("serve")
        .env_remove("JIFEN_CONFIG")
        .env(
            "RUST_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn,jifen::app=info".into()),
        )
        .env("JIFEN_LISTEN", "127.0.0.1:0")
        .env("JIFEN_DATABASE_URL", database_url)
        .env("JIFEN_DINGTALK_CALLBACK_TOKEN", TOKEN)
        .env("JIFEN_DINGTALK_AES_KEY", AES_KEY)
        .env("JIFEN_DINGTALK_RECEIVE_ID", CORP_ID)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start jifen serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("jifen serve exited").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split(',').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if std::env::var_os("BENCH_LOG").is_some() {
                eprintln!("{line}");
            }
        }
    });
    (child, addr)
}

/// The middle value (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// The value `p` of the way up a sorted list of microseconds, in milliseconds.
pub fn percentile_ms(sorted_micros: &[u32], p: f64) -> f64 {
    let i = ((sorted_micros.len() as f64 * p) as usize).min(sorted_micros.len().saturating_sub(1));
    sorted_micros.get(i).copied().unwrap_or(0) as f64 / 1000.0
}

/// Distinct approval callbacks (each a new inbox row), serialised ahead of time.
pub fn prepare(count: usize, run: usize, host: &str) -> Vec<Vec<u8>> {
    let crypto = crypto();
    let now = jiff::Timestamp::now().as_millisecond();
    (0..count)
        .map(|i| {
            let message = jifen::dingtalk::simulate::approval_message(
                CORP_ID,
                &format!("PI-BENCH-{run}-{i}"),
                "PROC-JIFEN-POINTS",
                "liuyang",
                "积分申请",
                "agree",
                now,
            );
            signed_callback(&crypto, host, &message, &format!("n{i}"))
        })
        .collect()
}

pub struct RunResult {
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Posts `prepared` callbacks over `connections` keep-alive connections for `seconds`.
pub async fn drive(
    addr: &str,
    prepared: Arc<Vec<Vec<u8>>>,
    connections: usize,
    seconds: u64,
) -> RunResult {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (prepared, next, errors, addr) = (
            prepared.clone(),
            next.clone(),
            errors.clone(),
            addr.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut stream = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            stream.set_nodelay(true).ok();
            let mut buf = Vec::with_capacity(4096);
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = prepared.get(i) else { break };
                let sent = Instant::now();
                let answered = match stream.write_all(p).await {
                    Ok(()) => read_response(&mut stream, &mut buf).await,
                    Err(e) => Err(e),
                };
                match answered {
                    Ok(ok) => {
                        latencies.push(sent.elapsed().as_micros() as u32);
                        if !ok {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            latencies
        }));
    }
    RunResult::of(tasks, &errors, started).await
}

impl RunResult {
    /// The figures of a run whose `tasks` each return their answered requests' latencies
    /// in microseconds.
    pub async fn of(
        tasks: Vec<tokio::task::JoinHandle<Vec<u32>>>,
        errors: &AtomicUsize,
        started: Instant,
    ) -> RunResult {
        let mut all: Vec<u32> = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let seconds = started.elapsed().as_secs_f64();
        all.sort_unstable();
        RunResult {
            requests: all.len(),
            errors: errors.load(Ordering::Relaxed),
            seconds,
            p50_ms: percentile_ms(&all, 0.50),
            p99_ms: percentile_ms(&all, 0.99),
            max_ms: all.last().copied().unwrap_or(0) as f64 / 1000.0,
        }
    }
}

/// jifen's database, read directly to see what became of the traffic.
pub enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    pub async fn connect(url: &str) -> Db {
        use sqlx::Connection;
        if url.starts_with("sqlite:") {
            Db::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
        } else {
            Db::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
        }
    }

    /// One number; 0 for NULL (the MAX of no rows).
    pub async fn scalar(&mut self, sql: &str) -> i64 {
        let (n,): (Option<i64>,) = match self {
            Db::Sqlite(c) => sqlx::query_as(sql).fetch_one(c).await.unwrap(),
            Db::Postgres(c) => sqlx::query_as(sql).fetch_one(c).await.unwrap(),
        };
        n.unwrap_or(0)
    }

    pub async fn texts(&mut self, sql: &str) -> Vec<String> {
        let rows: Vec<(String,)> = match self {
            Db::Sqlite(c) => sqlx::query_as(sql).fetch_all(c).await.unwrap(),
            Db::Postgres(c) => sqlx::query_as(sql).fetch_all(c).await.unwrap(),
        };
        rows.into_iter().map(|(t,)| t).collect()
    }
}
