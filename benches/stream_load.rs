//! Load benchmark of Stream mode's ingest: distinct approval events pushed by the emulator's
//! gateway through the one WebSocket a `jifen serve` child holds, each acknowledged `SUCCESS`
//! only after its inbox commit; then, in the same run, the HTTP callback path of a server with
//! the same settings on a fresh database. Reports both, and Stream as a ratio of HTTP.
//!
//!   cargo bench --bench stream_load -- [--backend sqlite|postgres] [--in-flight 60]
//!                                       [--connections 64] [--seconds 10] [--runs 3]
//!
//! `--in-flight`: frames pushed and not yet acknowledged at once (jifen takes 64 and answers
//! one more `LATER`); `--connections`: the HTTP path's keep-alive connections.

// A benchmark that cannot set up has nothing to measure: it stops with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{RunResult, drive, median, number, prepare};
use jifen::emulator::org::{APP_KEY, APP_SECRET, CORP_ID};
use jifen::emulator::{self, EmulatorSettings, RunningEmulator};

struct Options {
    backend: String,
    in_flight: usize,
    connections: usize,
    seconds: u64,
    runs: usize,
}

fn options() -> Options {
    let mut o = Options {
        backend: "sqlite".into(),
        in_flight: 60,
        connections: 64,
        seconds: 10,
        runs: 3,
    };
    for (name, value) in common::arguments() {
        match name.as_str() {
            "--backend" => o.backend = value,
            "--in-flight" => o.in_flight = number(&name, &value),
            "--connections" => o.connections = number(&name, &value),
            "--seconds" => o.seconds = number(&name, &value),
            "--runs" => o.runs = number(&name, &value),
            other => panic!("unknown option {other}; see the top of benches/stream_load.rs"),
        }
    }
    o
}

/// A server with the app's credentials (so both paths run the same workers), asking the
/// emulator; `mode` is `stream` or `http`.
fn serve(url: &str, emu: &RunningEmulator, mode: &str) -> (std::process::Child, String) {
    common::start_serve(
        url,
        &[
            ("JIFEN_INGRESS_MODE", mode.into()),
            ("JIFEN_DINGTALK_APP_KEY", APP_KEY.into()),
            ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET.into()),
            ("JIFEN_DINGTALK_API_BASE", emu.base_url()),
            ("JIFEN_DINGTALK_OAPI_BASE", emu.base_url()),
        ],
    )
}

/// Pushes distinct events through the gateway, `in_flight` at a time, for `seconds`.
async fn drive_stream(
    emu: &RunningEmulator,
    run: usize,
    in_flight: usize,
    seconds: u64,
) -> RunResult {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let now = jiff::Timestamp::now().as_millisecond();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (emu, next, errors) = (emu.emulator.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let message = jifen::dingtalk::simulate::approval_message(
                    CORP_ID,
                    &format!("PI-SBENCH-{run}-{i}"),
                    "PROC-JIFEN-POINTS",
                    "liuyang",
                    "积分申请",
                    "agree",
                    now,
                );
                let sent = Instant::now();
                if emu.stream_event("bpms_instance_change", &message).await {
                    latencies.push(sent.elapsed().as_micros() as u32);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    RunResult::of(tasks, &errors, started).await
}

fn report(path: &str, r: &RunResult, unit: &str) {
    println!(
        "  {path:<6} {:>7.0} {unit}/s ({} in {:.1} s, {} errors), p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        r.requests as f64 / r.seconds,
        r.requests,
        r.seconds,
        r.errors,
        r.p50_ms,
        r.p99_ms,
        r.max_ms
    );
}

fn main() {
    let o = options();
    println!(
        "Stream ingest against HTTP callbacks: {} backend, {} frames in flight on one connection, {} HTTP connections, {} s × {} runs",
        o.backend, o.in_flight, o.connections, o.seconds, o.runs
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let per_run = 60_000 * o.seconds as usize;
    let (mut streams, mut https) = (Vec::new(), Vec::new());
    for run in 0..o.runs {
        println!("run {}:", run + 1);
        let emu = rt
            .block_on(emulator::start(
                EmulatorSettings::default(),
                "127.0.0.1:0".parse().unwrap(),
            ))
            .unwrap();
        // Stream: one connection, acknowledged after each commit.
        let dir = tempfile::tempdir().unwrap();
        let url = common::database_url(&o.backend, dir.path(), "jifen_bench_stream");
        let (mut child, _) = serve(&url, &emu, "stream");
        let started = Instant::now();
        while !emu.emulator.streams("EVENT", "*") {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "jifen never opened its Stream connection (BENCH_LOG=1 shows its log)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let stream = rt.block_on(drive_stream(&emu, run, o.in_flight, o.seconds));
        let later = emu
            .emulator
            .stream_acks()
            .iter()
            .filter(|a| a.data["status"] == "LATER")
            .count();
        let _ = child.kill();
        let _ = child.wait();
        report("Stream", &stream, "frames");
        if later > 0 {
            println!("         ({later} answered LATER and pushed again)");
        }
        // HTTP: the same settings, a fresh database.
        let dir = tempfile::tempdir().unwrap();
        let url = common::database_url(&o.backend, dir.path(), "jifen_bench_http");
        let (mut child, addr) = serve(&url, &emu, "http");
        let prepared = Arc::new(prepare(per_run, run, &addr));
        let http = rt.block_on(drive(&addr, prepared, o.connections, o.seconds));
        let _ = child.kill();
        let _ = child.wait();
        report("HTTP", &http, "callbacks");
        rt.block_on(emu.stop());
        streams.push(stream);
        https.push(http);
    }
    let rate =
        |rs: &[RunResult]| median(rs.iter().map(|r| r.requests as f64 / r.seconds).collect());
    let p99 = |rs: &[RunResult]| median(rs.iter().map(|r| r.p99_ms).collect());
    let ratios: Vec<f64> = streams
        .iter()
        .zip(&https)
        .map(|(s, h)| (s.requests as f64 / s.seconds) / (h.requests as f64 / h.seconds))
        .collect();
    println!(
        "median over {} runs: Stream {:.0} frames/s (p99 {:.2} ms), HTTP {:.0} callbacks/s (p99 {:.2} ms); Stream/HTTP {:.2} ({} backend)",
        o.runs,
        rate(&streams),
        p99(&streams),
        rate(&https),
        p99(&https),
        median(ratios),
        o.backend
    );
}
