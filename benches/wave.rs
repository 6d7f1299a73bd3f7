//! The 9:00 wave: everyone in a large company checks in within a minute, and DingTalk sends
//! a callback for each. `jifen serve` (a child process) against the emulator's organisation
//! of `--people`, fed every morning check-in over HTTP; the figure is the time from the first
//! callback to the last entry posted and notification queued, beside the floor DingTalk's
//! limit sets (each `attendance/list` call reads 50 people, 40 calls a second).
//!
//!   cargo bench --bench wave -- [--backend sqlite|postgres] [--people 100000]
//!                               [--seconds 60] [--connections 16] [--runs 3]
//!
//! The address book is stored before `jifen serve` starts, as a company's would be from an
//! earlier day (reading 100,000 people from DingTalk takes 46 minutes at one call each); the
//! serve reads it again beside the wave, which costs `user/get` calls, counted apart.

// A benchmark that cannot set up has nothing to measure: it stops with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{CORP_ID, Db, median, number, read_response, signed_callback};
use jifen::dingtalk::simulate::attendance_message;
use jifen::domain::{Department, Employee};
use jifen::emulator::gate::CallCount;
use jifen::emulator::org::{AGENT_ID, APP_KEY, APP_SECRET};
use jifen::emulator::{self, EmulatorSettings, RunningEmulator};
use jifen::store::DatabaseSettings;
use jiff::civil::{Date, Weekday};

/// DingTalk's limit per app and API, and the people one `attendance/list` call reads.
const DINGTALK_QPS: f64 = 40.0;
const PEOPLE_PER_CALL: f64 = 50.0;
/// The DingTalk APIs that reading the address book calls, reported apart from the wave's.
const ADDRESS_BOOK: [&str; 3] = [
    "/topapi/v2/user/get",
    "/topapi/user/listid",
    "/topapi/v2/department/listsub",
];

struct Options {
    backend: String,
    people: usize,
    seconds: u64,
    connections: usize,
    runs: usize,
}

fn options() -> Options {
    let mut o = Options {
        backend: "sqlite".into(),
        people: 100_000,
        seconds: 60,
        connections: 16,
        runs: 3,
    };
    for (name, value) in common::arguments() {
        match name.as_str() {
            "--backend" => o.backend = value,
            "--people" => o.people = number(&name, &value),
            "--seconds" => o.seconds = number(&name, &value),
            "--connections" => o.connections = number(&name, &value),
            "--runs" => o.runs = number(&name, &value),
            other => panic!("unknown option {other}; see the top of benches/wave.rs"),
        }
    }
    assert!(
        o.people > 0 && o.seconds > 0 && o.connections > 0 && o.runs > 0,
        "--people, --seconds, --connections and --runs must be above 0"
    );
    o
}

/// The last working day before today: the wave's day. At 9:00 only the morning checks
/// exist, so each person's results for it are set to their on-duty one; returns the
/// check-ins made (userid, check time), in the order people arrive.
fn morning(emu: &RunningEmulator) -> (Date, Vec<(String, i64)>) {
    let mut day = jiff::Zoned::now().date();
    loop {
        day = day.yesterday().unwrap();
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            break;
        }
    }
    let mut check_ins = Vec::new();
    for user in &emu.emulator.org.users {
        let on_duty: Vec<_> = emu
            .emulator
            .org
            .attendance(&user.userid, day)
            .into_iter()
            .filter(|a| a.check_type == "OnDuty")
            .collect();
        check_ins.extend(
            on_duty
                .iter()
                .filter_map(|a| a.user_check_time.map(|at| (a.userid.clone(), at))),
        );
        emu.emulator.set_attendance(&user.userid, day, on_duty);
    }
    check_ins.sort_by_key(|(_, at)| *at);
    (day, check_ins)
}

/// Stores the emulator's organisation as jifen's address book, as an earlier sync would.
async fn store_address_book(url: &str, emu: &RunningEmulator) {
    let store = jifen::store::connect(&DatabaseSettings {
        url: url.to_string(),
        max_connections: 4,
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let org = &emu.emulator.org;
    let mut tx = store.begin().await.unwrap();
    for d in &org.departments {
        tx.upsert_department(&Department {
            id: d.id.to_string(),
            name: d.name.clone(),
            parent_id: d.parent.map(|p| p.to_string()),
        })
        .await
        .unwrap();
    }
    for u in &org.users {
        tx.upsert_employee(&Employee {
            userid: u.userid.clone(),
            name: u.name.clone(),
            departments: vec![u.dept.to_string()],
            leads: if u.leader {
                vec![u.dept.to_string()]
            } else {
                vec![]
            },
            active: true,
            hired_at: jiff::Timestamp::from_millisecond(u.hired_date()).ok(),
            left_at: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    store.close().await;
}

async fn call_counts(emu: &RunningEmulator) -> BTreeMap<String, CallCount> {
    reqwest::get(format!("{}/_emulator/calls", emu.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Sends `requests` evenly over `seconds` on `connections` keep-alive connections; returns
/// how many were refused.
async fn send_wave(addr: &str, requests: Vec<Vec<u8>>, seconds: u64, connections: usize) -> usize {
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let per_request = Duration::from_secs(seconds).as_secs_f64() / requests.len() as f64;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (requests, next, refused, addr) = (
            requests.clone(),
            next.clone(),
            refused.clone(),
            addr.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            stream.set_nodelay(true).ok();
            let mut buf = Vec::with_capacity(4096);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(i) else {
                    break;
                };
                let due = Duration::from_secs_f64(i as f64 * per_request);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
                let answered = match stream.write_all(request).await {
                    Ok(()) => read_response(&mut stream, &mut buf).await,
                    Err(e) => Err(e),
                };
                if !matches!(answered, Ok(true)) {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                if answered.is_err() {
                    stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                    buf.clear();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    refused.load(Ordering::Relaxed)
}

/// Peak and current resident memory of a process, in MiB, from /proc.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmHWM:") / 1024.0, kib("VmRSS:") / 1024.0)
}

struct Run {
    wave: f64,
    seconds: f64,
    floor: f64,
    calls_per_check_in: f64,
    peak_mib: f64,
}

fn run(o: &Options, rt: &tokio::runtime::Runtime, emu: &RunningEmulator, n: usize) -> Option<Run> {
    let (day, check_ins) = morning(emu);
    let dir = tempfile::tempdir().unwrap();
    let url = common::database_url(&o.backend, dir.path(), "jifen_bench_wave");
    let seeding = Instant::now();
    rt.block_on(store_address_book(&url, emu));
    println!(
        "run {n}: {} people stored in {:.1} s; {} check-ins on {day}",
        emu.emulator.org.users.len(),
        seeding.elapsed().as_secs_f64(),
        check_ins.len()
    );
    let env = [
        ("JIFEN_DINGTALK_APP_KEY", APP_KEY.to_string()),
        ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET.to_string()),
        ("JIFEN_DINGTALK_AGENT_ID", AGENT_ID.to_string()),
        ("JIFEN_DINGTALK_API_BASE", emu.base_url()),
        ("JIFEN_DINGTALK_OAPI_BASE", emu.base_url()),
        ("JIFEN_DINGTALK_CORP_ID", CORP_ID.to_string()),
    ];
    let (mut child, addr) = common::start_serve(&url, &env);
    let crypto = common::crypto();
    let requests: Vec<Vec<u8>> = check_ins
        .iter()
        .enumerate()
        .map(|(i, (userid, at))| {
            let message = attendance_message(CORP_ID, userid, *at, &format!("{n:08x}{i:024x}"));
            signed_callback(&crypto, &addr, &message, &format!("w{n}-{i}"))
        })
        .collect();
    let mut db = rt.block_on(Db::connect(&url));
    let before = rt.block_on(call_counts(emu));

    let first_sent = jiff::Timestamp::now().as_millisecond();
    let started = Instant::now();
    let refused = rt.block_on(send_wave(&addr, requests, o.seconds, o.connections));
    let wave = started.elapsed().as_secs_f64();
    println!(
        "  {} callbacks sent in {wave:.1} s, {refused} refused",
        check_ins.len()
    );
    let done = "SELECT COUNT(*) FROM inbox WHERE event_type = 'attendance_check_record' \
                AND status = 'done'";
    let mut last_report = Instant::now();
    let finished = loop {
        let processed = rt.block_on(db.scalar(done)) as usize;
        if processed >= check_ins.len() {
            break true;
        }
        if started.elapsed() > Duration::from_secs(900) {
            println!(
                "  gave up after 900 s: {processed} of {} processed",
                check_ins.len()
            );
            break false;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            println!(
                "  {:>5.0} s: {processed} of {} check-ins processed",
                started.elapsed().as_secs_f64(),
                check_ins.len()
            );
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let drained = started.elapsed().as_secs_f64();
    let (peak_mib, rss_mib) = memory_mib(child.id());
    let after = rt.block_on(call_counts(emu));
    let last_entry = rt.block_on(db.scalar("SELECT MAX(posted_at) FROM ledger_entries"));
    let last_notice = rt.block_on(db.scalar("SELECT MAX(created_at) FROM outbox"));
    let entries = rt.block_on(db.scalar("SELECT COUNT(*) FROM ledger_entries"));
    let notices = rt.block_on(db.scalar("SELECT COUNT(*) FROM outbox"));
    let failed = rt.block_on(db.scalar("SELECT COUNT(*) FROM inbox WHERE status = 'failed'"));
    let _ = child.kill();
    let _ = child.wait();

    let used = |api: &str| {
        let (a, b) = (
            before.get(api).copied().unwrap_or_default(),
            after.get(api).copied().unwrap_or_default(),
        );
        (a.admitted + a.throttled, b.admitted + b.throttled)
    };
    let (mut wave_calls, mut book_calls, mut throttled) = (0, 0, 0);
    for (api, count) in &after {
        let (was, is) = used(api);
        if ADDRESS_BOOK.contains(&api.as_str()) {
            book_calls += is - was;
        } else {
            wave_calls += is - was;
            throttled += count.throttled - before.get(api).map_or(0, |c| c.throttled);
        }
    }
    let (was, is) = used("/attendance/list");
    let attendance_calls = is - was;
    let seconds = (last_entry.max(last_notice) - first_sent) as f64 / 1000.0;
    let floor = check_ins.len() as f64 / PEOPLE_PER_CALL / DINGTALK_QPS;
    println!(
        "  last entry posted {:.1} s and last notification queued {:.1} s after the first callback \
         (all processed by {drained:.1} s); floor {floor:.1} s, {:.2}× of it",
        (last_entry - first_sent) as f64 / 1000.0,
        (last_notice - first_sent) as f64 / 1000.0,
        seconds / floor
    );
    println!(
        "  {entries} entries, {notices} notifications queued, {failed} rows failed; DingTalk calls: \
         {attendance_calls} attendance/list ({:.4} per check-in), {wave_calls} in all for the wave \
         ({throttled} throttled), {book_calls} re-reading the address book beside it",
        attendance_calls as f64 / check_ins.len() as f64
    );
    println!("  memory of jifen serve: peak {peak_mib:.0} MiB, {rss_mib:.0} MiB at the end");
    (finished && failed == 0 && refused == 0).then_some(Run {
        wave,
        seconds,
        floor,
        calls_per_check_in: wave_calls as f64 / check_ins.len() as f64,
        peak_mib,
    })
}

fn main() {
    let o = options();
    println!(
        "9:00 wave: {} backend, {} people checking in over {} s on {} connections, {} runs",
        o.backend, o.people, o.seconds, o.connections, o.runs
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let emu = rt.block_on(async {
        emulator::start(
            EmulatorSettings {
                people: o.people,
                ..EmulatorSettings::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap()
    });
    let mut runs = Vec::new();
    for n in 1..=o.runs {
        match run(&o, &rt, &emu, n) {
            Some(r) => runs.push(r),
            None => {
                println!(
                    "FAIL: run {n} left check-ins unprocessed, failed rows or refused callbacks"
                );
                std::process::exit(1);
            }
        }
    }
    let floor = median(runs.iter().map(|r| r.floor).collect());
    let seconds = median(runs.iter().map(|r| r.seconds).collect());
    println!(
        "median of {} runs: {seconds:.1} s from the first callback to the last posting (the wave \
         itself {:.1} s; DingTalk's floor {floor:.1} s, {:.2}× of it), {:.4} DingTalk calls per check-in, \
         peak memory {:.0} MiB",
        runs.len(),
        median(runs.iter().map(|r| r.wave).collect()),
        seconds / floor,
        median(runs.iter().map(|r| r.calls_per_check_in).collect()),
        median(runs.iter().map(|r| r.peak_mib).collect()),
    );
}
