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

mod common;

use std::sync::Arc;

use common::{drive, median, number, prepare};

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
    for (name, value) in common::arguments() {
        match name.as_str() {
            "--backend" => o.backend = value,
            "--connections" => o.connections = number(&name, &value),
            "--seconds" => o.seconds = number(&name, &value),
            "--runs" => o.runs = number(&name, &value),
            other => panic!("unknown option {other}; see the top of benches/callback_load.rs"),
        }
    }
    o
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
        let url = common::database_url(&o.backend, dir.path(), "jifen_bench");
        let (mut child, addr) = common::start_serve(&url, &[]);
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
