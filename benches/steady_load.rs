//! Steady load, end to end: `jifen serve` (a child process) against the DingTalk emulator,
//! fed callbacks at a steady rate for minutes, as a company's DingTalk does: real check-ins
//! (whose results the processor reads from the emulator), approved points requests (whose
//! forms it reads), and many events that earn nothing. When the traffic stops it waits for
//! the inbox to drain and fails if any row failed or any check-in was not processed.
//!
//!   cargo bench --bench steady_load -- [--backend sqlite|postgres] [--seconds 600]
//!                                      [--rate 1400] [--check-ins 30] [--approvals 2]
//!                                      [--connections 16]
//!
//! `--rate` is callbacks per second in all; `--check-ins` and `--approvals` per second of them.

// A benchmark that cannot set up has nothing to measure: it stops with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{CORP_ID, Db, number, percentile_ms, read_response, signed_callback};
use jifen::dingtalk::simulate::{approval_message, attendance_message};
use jifen::emulator::org::{AGENT_ID, APP_KEY, APP_SECRET};
use jifen::emulator::{self, EmulatorSettings, RunningEmulator};
use jiff::civil::{Date, Weekday};
use tokio::sync::Mutex;

const WAITING: &str = "SELECT COUNT(*) FROM inbox WHERE status IN ('pending', 'processing')";
const CHECK_INS_DONE: &str =
    "SELECT COUNT(*) FROM inbox WHERE event_type = 'attendance_check_record' AND status = 'done'";

struct Options {
    backend: String,
    seconds: u64,
    rate: u64,
    check_ins: u64,
    approvals: u64,
    connections: usize,
}

fn options() -> Options {
    let mut o = Options {
        backend: "sqlite".into(),
        seconds: 600,
        rate: 1400,
        check_ins: 30,
        approvals: 2,
        connections: 16,
    };
    for (name, value) in common::arguments() {
        match name.as_str() {
            "--backend" => o.backend = value,
            "--seconds" => o.seconds = number(&name, &value),
            "--rate" => o.rate = number(&name, &value),
            "--check-ins" => o.check_ins = number(&name, &value),
            "--approvals" => o.approvals = number(&name, &value),
            "--connections" => o.connections = number(&name, &value),
            other => panic!("unknown option {other}; see the top of benches/steady_load.rs"),
        }
    }
    assert!(
        o.check_ins + o.approvals <= o.rate && o.rate > 0 && o.connections > 0,
        "--check-ins and --approvals are part of --rate, which must be above 0"
    );
    o
}

/// Every check-in the emulator's people made on the working days before `today`, a day at a
/// time from the oldest, enough for `wanted`: (userid, check time).
fn check_ins(emu: &RunningEmulator, today: Date, wanted: usize) -> VecDeque<(String, i64)> {
    let org = &emu.emulator.org;
    let mut days = Vec::new();
    let mut day = today;
    let mut found = 0;
    while found < wanted {
        day = day.yesterday().unwrap();
        if matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            continue;
        }
        let made: Vec<(String, i64)> = org
            .users
            .iter()
            .flat_map(|u| emu.emulator.attendance(&u.userid, day))
            .filter_map(|a| a.user_check_time.map(|at| (a.userid, at)))
            .collect();
        found += made.len();
        days.push(made);
    }
    days.into_iter().rev().flatten().take(wanted).collect()
}

/// What is sent each second, in order: check-ins and approvals spread among events that earn
/// nothing (approval tasks, instances starting).
struct Traffic {
    emu: Arc<RunningEmulator>,
    check_ins: VecDeque<(String, i64)>,
    sent: usize,
    check_ins_sent: usize,
    approvals_sent: usize,
}

impl Traffic {
    fn second(&mut self, o: &Options, host: &str) -> Vec<Vec<u8>> {
        let crypto = common::crypto();
        let users = &self.emu.emulator.org.users;
        let every = |per_second: u64| (o.rate / per_second.max(1)).max(1);
        let (mut check_ins, mut approvals) = (0, 0);
        let mut out = Vec::with_capacity(o.rate as usize);
        for i in 0..o.rate {
            let n = self.sent;
            self.sent += 1;
            let nonce = format!("s{n}");
            let check_in = (i % every(o.check_ins) == 0 && check_ins < o.check_ins)
                .then(|| self.check_ins.pop_front())
                .flatten();
            let message = if let Some((userid, at)) = check_in {
                check_ins += 1;
                self.check_ins_sent += 1;
                attendance_message(CORP_ID, &userid, at, &format!("{n:032x}"))
            } else if i % every(o.approvals) == every(o.approvals) / 2 && approvals < o.approvals {
                approvals += 1;
                self.approvals_sent += 1;
                let (from, to) = (&users[n % users.len()], &users[(n + 1) % users.len()]);
                let now = jiff::Timestamp::now().as_millisecond();
                let form = [
                    ("对象", to.userid.as_str()),
                    ("积分", "3"),
                    ("事由", "协助客户回访"),
                ];
                let instance = self
                    .emu
                    .emulator
                    .file_approval("PROC-JIFEN-POINTS", &from.userid, &form, Some("agree"), now)
                    .unwrap();
                approval_message(
                    CORP_ID,
                    &instance.id,
                    &instance.process_code,
                    &instance.originator,
                    &instance.title,
                    "agree",
                    now,
                )
            } else {
                let staff = &users[n % users.len()].userid;
                if n.is_multiple_of(2) {
                    format!(
                        r#"{{"EventType":"bpms_task_change","processInstanceId":"PI-NOISE-{n}","taskId":{n},"type":"start","staffId":"{staff}","processCode":"PROC-LEAVE"}}"#
                    )
                } else {
                    format!(
                        r#"{{"EventType":"bpms_instance_change","processInstanceId":"PI-NOISE-{n}","type":"start","staffId":"{staff}","processCode":"PROC-LEAVE"}}"#
                    )
                }
            };
            out.push(signed_callback(&crypto, host, &message, &nonce));
        }
        out
    }
}

struct Sent {
    requests: usize,
    refused: usize,
    latencies: Vec<u32>,
    behind_ms: u128,
}

/// Sends each second's callbacks within that second, over keep-alive connections.
async fn drive(o: &Options, addr: &str, traffic: Traffic) -> (Sent, Traffic) {
    let queue: Arc<Mutex<VecDeque<Vec<u8>>>> = Arc::new(Mutex::new(VecDeque::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..o.connections {
        let (queue, refused, finished, addr) = (
            queue.clone(),
            refused.clone(),
            finished.clone(),
            addr.to_string(),
        );
        workers.push(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut stream = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            stream.set_nodelay(true).ok();
            let mut buf = Vec::with_capacity(4096);
            let mut latencies = Vec::new();
            loop {
                let next = queue.lock().await.pop_front();
                let Some(request) = next else {
                    if finished.load(Ordering::SeqCst) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                let sent = Instant::now();
                let answered = match stream.write_all(&request).await {
                    Ok(()) => read_response(&mut stream, &mut buf).await,
                    Err(e) => Err(e),
                };
                latencies.push(sent.elapsed().as_micros() as u32);
                if !matches!(answered, Ok(true)) {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                if answered.is_err() {
                    stream = tokio::net::TcpStream::connect(&addr)
                        .await
                        .expect("reconnect");
                    buf.clear();
                }
            }
            latencies
        }));
    }
    let mut traffic = traffic;
    let started = Instant::now();
    let mut behind_ms = 0;
    for second in 0..o.seconds {
        let batch = traffic.second(o, addr);
        // Spread over the second in ten slices, so the rate is steady, not a burst a second.
        let slice = batch.len().div_ceil(10).max(1);
        for (k, part) in batch.chunks(slice).enumerate() {
            queue.lock().await.extend(part.iter().cloned());
            let due = Duration::from_millis(second * 1000 + (k as u64 + 1) * 100);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let backlog = queue.lock().await.len();
        if backlog > 0 {
            behind_ms = behind_ms.max((backlog as u128 * 1000) / o.rate as u128);
        }
        if (second + 1) % 60 == 0 {
            println!(
                "  {:>4} s: {} callbacks sent ({} check-ins, {} approvals), {} waiting to be sent",
                second + 1,
                traffic.sent,
                traffic.check_ins_sent,
                traffic.approvals_sent,
                backlog
            );
        }
    }
    finished.store(true, Ordering::SeqCst);
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    latencies.sort_unstable();
    let sent = Sent {
        requests: latencies.len(),
        refused: refused.load(Ordering::Relaxed),
        latencies,
        behind_ms,
    };
    (sent, traffic)
}

fn main() {
    let o = options();
    println!(
        "steady load: {} backend, {} callbacks/s ({} check-ins, {} approvals) for {} s over {} connections",
        o.backend, o.rate, o.check_ins, o.approvals, o.seconds, o.connections
    );
    let dir = tempfile::tempdir().unwrap();
    let url = common::database_url(&o.backend, dir.path(), "jifen_bench_steady");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let emu = Arc::new(rt.block_on(async {
        emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }));
    let env = [
        ("JIFEN_DINGTALK_APP_KEY", APP_KEY.to_string()),
        ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET.to_string()),
        ("JIFEN_DINGTALK_AGENT_ID", AGENT_ID.to_string()),
        ("JIFEN_DINGTALK_ROBOT_CODE", APP_KEY.to_string()),
        ("JIFEN_DINGTALK_API_BASE", emu.base_url()),
        ("JIFEN_DINGTALK_OAPI_BASE", emu.base_url()),
        ("JIFEN_DINGTALK_CORP_ID", CORP_ID.to_string()),
    ];
    let (mut child, addr) = common::start_serve(&url, &env);
    let mut db = rt.block_on(Db::connect(&url));
    // The address book is read at start-up; the traffic is about those people.
    let started = Instant::now();
    while rt.block_on(db.scalar("SELECT COUNT(*) FROM employees"))
        < emu.emulator.org.users.len() as i64
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "jifen serve did not read the address book"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let wanted = (o.check_ins * o.seconds) as usize;
    let today = jiff::Zoned::now().date();
    let traffic = Traffic {
        emu: emu.clone(),
        check_ins: check_ins(&emu, today, wanted),
        sent: 0,
        check_ins_sent: 0,
        approvals_sent: 0,
    };
    let sending_started = Instant::now();
    let (sent, traffic) = rt.block_on(drive(&o, &addr, traffic));
    let sending = sending_started.elapsed();

    // Then the processor finishes what is left.
    let drain_started = Instant::now();
    let mut waiting = 0;
    while drain_started.elapsed() < Duration::from_secs(600) {
        waiting = rt.block_on(db.scalar(WAITING));
        if waiting == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let drained = drain_started.elapsed();
    let failed = rt.block_on(db.scalar("SELECT COUNT(*) FROM inbox WHERE status = 'failed'"));
    let check_ins_done = rt.block_on(db.scalar(CHECK_INS_DONE));
    let retried = rt.block_on(db.scalar("SELECT COUNT(*) FROM inbox WHERE attempts > 1"));
    let entries = rt.block_on(db.scalar("SELECT COUNT(*) FROM ledger_entries"));
    let rows = rt.block_on(db.scalar("SELECT COUNT(*) FROM inbox"));
    if failed > 0 {
        let reasons = rt.block_on(
            db.texts("SELECT COALESCE(last_error, '') FROM inbox WHERE status = 'failed' LIMIT 5"),
        );
        println!("failed rows, for example: {reasons:?}");
    }
    let _ = child.kill();
    let _ = child.wait();

    println!(
        "sent {} callbacks in {:.0} s ({:.0}/s; {} refused; at most {} ms behind schedule), p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        sent.requests,
        sending.as_secs_f64(),
        sent.requests as f64 / sending.as_secs_f64(),
        sent.refused,
        sent.behind_ms,
        percentile_ms(&sent.latencies, 0.50),
        percentile_ms(&sent.latencies, 0.99),
        percentile_ms(&sent.latencies, 1.0),
    );
    println!(
        "inbox: {rows} rows, {failed} failed, {waiting} still waiting {:.1} s after the traffic stopped, {retried} needed more than one attempt",
        drained.as_secs_f64()
    );
    println!(
        "check-ins: {} sent, {check_ins_done} processed; approvals: {} sent; ledger: {entries} entries",
        traffic.check_ins_sent, traffic.approvals_sent
    );
    let ok = failed == 0
        && waiting == 0
        && sent.refused == 0
        && check_ins_done == traffic.check_ins_sent as i64;
    println!(
        "{}",
        if ok {
            "PASS: no row failed, nothing left behind"
        } else {
            "FAIL"
        }
    );
    if !ok {
        std::process::exit(1);
    }
}
