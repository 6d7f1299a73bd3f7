//! Load benchmark of the callback receiver: distinct, validly encrypted callbacks posted to a
//! `jifen serve` child process over N keep-alive connections; each reply is an acknowledgement
//! after a durable commit. Reports throughput and latency percentiles per run, and medians.
//!
//!   cargo bench --bench callback_load -- [--backend sqlite|postgres] [--connections 64]
//!                                         [--seconds 10] [--runs 3]
//!
//! PostgreSQL: a fresh database `jifen_bench` on JIFEN_TEST_POSTGRES_URL's server.

// A benchmark that cannot set up has nothing to measure: it stops with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jifen::dingtalk::crypto::CallbackCrypto;
use secrecy::SecretString;

const TOKEN: &str = "bench-token";
const AES_KEY: &str = "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo";
const CORP_ID: &str = "ding8a7c6e5d4b3a2f10";

struct Options {
    backend: String,
    connections: usize,
    seconds: u64,
    runs: usize,
}

fn options() -> Options {
    let mut o = Options {
        backend: "sqlite".into(),
        connections: 64,
        seconds: 10,
        runs: 3,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--backend" => o.backend = value,
            "--connections" => o.connections = value.parse().expect("--connections N"),
            "--seconds" => o.seconds = value.parse().expect("--seconds N"),
            "--runs" => o.runs = value.parse().expect("--runs N"),
            _ => {
                i += 1;
                continue; // cargo bench passes --bench
            }
        }
        i += 2;
    }
    o
}

/// One request, serialised ahead of time: the client only writes bytes and reads the reply.
struct Prepared(Vec<u8>);

fn prepare(count: usize, run: usize, host: &str) -> Vec<Prepared> {
    let crypto =
        CallbackCrypto::new(SecretString::from(TOKEN.to_string()), AES_KEY, CORP_ID).unwrap();
    let ts = jiff::Timestamp::now().as_millisecond().to_string();
    (0..count)
        .map(|i| {
            let message = jifen::dingtalk::simulate::approval_message(CORP_ID, &format!("PI-BENCH-{run}-{i}"), "PROC-JIFEN-POINTS", "liuyang", "积分申请", "agree", jiff::Timestamp::now().as_millisecond());
            let nonce = format!("n{i}");
            let encrypt = crypto.encrypt(&message);
            let signature = crypto.signature(&ts, &nonce, &encrypt);
            let body = serde_json::json!({ "encrypt": encrypt }).to_string();
            Prepared(
                format!(
                    "POST /dingtalk/callback?msg_signature={signature}&timestamp={ts}&nonce={nonce} HTTP/1.1\r\n\
                     Host: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes(),
            )
        })
        .collect()
}

/// Reads one HTTP/1.1 response from `buf`/`stream`; returns whether its status was 2xx.
async fn read_response(
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

struct RunResult {
    requests: usize,
    errors: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

async fn drive(
    addr: &str,
    prepared: Arc<Vec<Prepared>>,
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
                let answered = match stream.write_all(&p.0).await {
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
    let mut all: Vec<u32> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    RunResult {
        requests: all.len(),
        errors: errors.load(Ordering::Relaxed),
        seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: all.last().copied().unwrap_or(0) as f64 / 1000.0,
    }
}

fn database_url(backend: &str, dir: &std::path::Path) -> String {
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
                sqlx::query("DROP DATABASE IF EXISTS jifen_bench WITH (FORCE)")
                    .execute(&mut c)
                    .await
                    .unwrap();
                sqlx::query("CREATE DATABASE jifen_bench")
                    .execute(&mut c)
                    .await
                    .unwrap();
            });
            format!("{}/jifen_bench", admin.rsplit_once('/').unwrap().0)
        }
        other => panic!("--backend sqlite|postgres, not {other}"),
    }
}

fn main() {
    let o = options();
    // Enough distinct callbacks for the fastest run we expect, with headroom.
    let per_run = 60_000 * o.seconds as usize;
    println!(
        "callback receiver load: {} backend, {} connections, {} s × {} runs",
        o.backend, o.connections, o.seconds, o.runs
    );
    let mut results = Vec::new();
    for run in 0..o.runs {
        let dir = tempfile::tempdir().unwrap();
        let url = database_url(&o.backend, dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_jifen"))
            .arg("serve")
            .env_remove("JIFEN_CONFIG")
            .env(
                "RUST_LOG",
                std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn,jifen::app=info".into()),
            )
            .env("JIFEN_LISTEN", "127.0.0.1:0")
            .env("JIFEN_DATABASE_URL", &url)
            .env("JIFEN_DINGTALK_CALLBACK_TOKEN", TOKEN)
            .env("JIFEN_DINGTALK_AES_KEY", AES_KEY)
            .env("JIFEN_DINGTALK_RECEIVE_ID", CORP_ID)
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
        print!("run {}: preparing {per_run} callbacks… ", run + 1);
        std::io::Write::flush(&mut std::io::stdout()).ok();
        let prepared = Arc::new(prepare(per_run, run, &addr));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(drive(&addr, prepared, o.connections, o.seconds));
        let _ = child.kill();
        let _ = child.wait();
        println!(
            "{:.0} callbacks/s ({} in {:.1} s, {} errors), p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
            r.requests as f64 / r.seconds,
            r.requests,
            r.seconds,
            r.errors,
            r.p50_ms,
            r.p99_ms,
            r.max_ms
        );
        results.push(r);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let throughput = median(
        results
            .iter()
            .map(|r| r.requests as f64 / r.seconds)
            .collect(),
    );
    let p99 = median(results.iter().map(|r| r.p99_ms).collect());
    let p50 = median(results.iter().map(|r| r.p50_ms).collect());
    println!(
        "median over {} runs: {throughput:.0} callbacks/s, p50 {p50:.2} ms, p99 {p99:.2} ms ({} backend, {} connections)",
        results.len(),
        o.backend,
        o.connections
    );
}
