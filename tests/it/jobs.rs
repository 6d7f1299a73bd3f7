//! Scheduled jobs: each slot runs once however many schedulers share the database, missed
//! slots run within the grace window only, failed slots can be run again; and reconciliation
//! recovers check-ins whose callbacks DingTalk failed to deliver, end to end through
//! `jifen serve` and `jifen jobs run`, and posts the checks nobody made (缺卡), which no
//! callback announces, but not those approved leave covers. On SQLite and on PostgreSQL.

use crate::support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jifen::dingtalk::openapi::OpenApiClient;
use jifen::domain::schedule::JobSchedule;
use jifen::emulator::gate::{Fault, FaultKind};
use jifen::emulator::org::{AGENT_ID, APP_KEY, APP_SECRET, CORP_ID, FakeAttendance};
use jifen::emulator::{self, EmulatorSettings, RunningEmulator};
use jifen::jobs::honor_board::HonorSettings;
use jifen::jobs::review_digest::ReviewDigestSettings;
use jifen::jobs::{Job, JobSpec, Jobs, SlotOutcome};
use jifen::org::sync_directory;
use jifen::processor::{Processor, ProcessorSettings};
use jifen::rules::load_rules_file;
use jiff::Timestamp;
use jiff::civil::{Date, date};
use secrecy::SecretString;
use serde_json::Value;
use support::{TestDb, shanghai};

const LI_QIANG: &str = "281826612426286785";
const ZHANG_WEI: &str = "0941516526848432";

on_both_backends!(
    two_schedulers_on_one_database_run_each_slot_once,
    a_missed_slot_runs_within_the_grace_window_only,
    a_failed_slot_can_run_again_and_a_done_one_cannot,
    the_honor_board_reaches_each_group_once_while_two_replicas_run,
    a_slot_left_running_by_a_dead_replica_runs_again_once_its_lease_has_passed,
    the_daily_reconcile_posts_on_time_late_seriously_late_and_missed_check_ins_but_not_leave,
    hr_admins_are_told_once_a_day_what_waits_for_review,
    the_challenge_board_shows_each_group_this_months_meters_once_a_slot,
);

fn jobs(db: &TestDb, emu: &RunningEmulator, grace_minutes: u64) -> Jobs {
    let mut settings = support::emulator_openapi(emu);
    settings.max_attempts = 1;
    Jobs {
        store: db.store.clone(),
        client: Arc::new(OpenApiClient::new(settings).unwrap()),
        rules: Arc::new(load_rules_file("config/rules.toml".as_ref()).unwrap()),
        badges: Default::default(),
        calendar: shanghai(),
        corp_id: CORP_ID.into(),
        specs: vec![JobSpec {
            job: Job::Reconcile,
            schedule: JobSchedule::parse("0 30 6 * * *").unwrap(),
            enabled: true,
        }],
        grace: Duration::from_secs(grace_minutes * 60),
        honor: HonorSettings::default(),
        review: ReviewDigestSettings {
            hr_admins: vec!["manager4220".into(), "hr".into()],
            queue_url: "https://jifen.example.com/app/review".into(),
        },
        leaderboard: None,
    }
}

async fn start_emulator() -> RunningEmulator {
    emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

async fn two_schedulers_on_one_database_run_each_slot_once(db: &TestDb) {
    let emu = start_emulator().await;
    let (a, b) = (jobs(db, &emu, 120), jobs(db, &emu, 120));
    // 07:00 in Shanghai: the 06:30 slot is due, for both.
    let now = at("2026-11-22T23:00:00Z");
    let (ran_a, ran_b) = tokio::join!(a.tick(now), b.tick(now));
    let ran: Vec<_> = ran_a.into_iter().chain(ran_b).collect();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert!(
        matches!(&ran[0], (Job::Reconcile, slot, SlotOutcome::Done(_)) if slot.to_string() == "2026-11-23T06:30:00")
    );
    // Later ticks, and a restart, find the slot taken.
    assert!(
        a.tick(now + jiff::SignedDuration::from_mins(20))
            .await
            .is_empty()
    );
    assert!(jobs(db, &emu, 120).tick(now).await.is_empty());
    let runs = db.store.job_runs(Some("reconcile"), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "done");
    assert!(
        runs[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("2026-11-22: "),
        "{runs:?}"
    );
    emu.stop().await;
}

async fn a_missed_slot_runs_within_the_grace_window_only(db: &TestDb) {
    let emu = start_emulator().await;
    // 08:00: the 06:30 slot is 90 minutes late.
    let now = at("2026-11-23T00:00:00Z");
    assert!(
        jobs(db, &emu, 60).tick(now).await.is_empty(),
        "beyond the grace"
    );
    assert_eq!(
        jobs(db, &emu, 120).tick(now).await.len(),
        1,
        "within the grace"
    );
    assert!(jobs(db, &emu, 120).tick(now).await.is_empty(), "once");
    // A switched-off job never runs.
    let mut off = jobs(db, &emu, 120);
    off.specs[0].enabled = false;
    assert!(off.tick(at("2026-11-23T23:00:00Z")).await.is_empty());
    emu.stop().await;
}

async fn a_failed_slot_can_run_again_and_a_done_one_cannot(db: &TestDb) {
    let emu = start_emulator().await;
    let jobs = jobs(db, &emu, 120);
    let slot = "2026-11-23T06:30:00".parse().unwrap();
    emu.emulator.gate.inject(Fault {
        api: "/topapi/callback/failrecord/list".into(),
        kind: FaultKind::ServerError,
        times: 1,
    });
    let now = Timestamp::now();
    let failed = jobs.run_slot(Job::Reconcile, slot, now).await.unwrap();
    assert!(
        matches!(&failed, SlotOutcome::Failed(e) if e.contains("failrecord")),
        "{failed:?}"
    );
    let runs = db.store.job_runs(None, 10).await.unwrap();
    assert_eq!((runs.len(), runs[0].status.as_str()), (1, "failed"));
    let again = jobs.run_slot(Job::Reconcile, slot, now).await.unwrap();
    assert!(matches!(again, SlotOutcome::Done(_)), "{again:?}");
    assert_eq!(
        jobs.run_slot(Job::Reconcile, slot, now).await.unwrap(),
        SlotOutcome::Taken
    );
    emu.stop().await;
}

async fn a_slot_left_running_by_a_dead_replica_runs_again_once_its_lease_has_passed(db: &TestDb) {
    let store = db.store.as_ref();
    let (job, slot) = ("reconcile", "2026-11-23T06:30:00");
    let t0: Timestamp = "2026-11-22T22:30:00Z".parse().unwrap();
    let minutes = |m: i64| t0 + jiff::SignedDuration::from_mins(m);
    // Replica A takes the slot for five minutes, renews it once, then dies.
    assert!(
        store
            .claim_job_run(job, slot, t0, minutes(5))
            .await
            .unwrap()
    );
    assert!(store.renew_job_run(job, slot, minutes(8)).await.unwrap());
    assert!(
        !store
            .claim_job_run(job, slot, minutes(6), minutes(11))
            .await
            .unwrap(),
        "held while its lease is renewed"
    );
    // Once the lease has passed, replica B runs the slot, and only B.
    assert!(
        store
            .claim_job_run(job, slot, minutes(9), minutes(14))
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_job_run(job, slot, minutes(10), minutes(15))
            .await
            .unwrap()
    );
    store
        .finish_job_run(job, slot, true, "recovered", minutes(12))
        .await
        .unwrap();
    assert!(
        !store
            .claim_job_run(job, slot, minutes(60), minutes(65))
            .await
            .unwrap(),
        "a done slot never runs again"
    );
    assert!(!store.renew_job_run(job, slot, minutes(70)).await.unwrap());
    let runs = store.job_runs(Some(job), 10).await.unwrap();
    assert_eq!((runs.len(), runs[0].status.as_str()), (1, "done"));
}

async fn the_honor_board_reaches_each_group_once_while_two_replicas_run(db: &TestDb) {
    let emu = start_emulator().await;
    let replica = || {
        let mut jobs = jobs(db, &emu, 120);
        jobs.specs = vec![JobSpec {
            job: Job::HonorBoard,
            schedule: JobSchedule::parse("0 0 9 * * Mon").unwrap(),
            enabled: true,
        }];
        jobs.honor = HonorSettings {
            groups: vec!["cidSales==".into(), "cidAll==".into()],
            page_url: None,
            // The [leaderboard] tie policy and exclusions hold on the honor board too.
            tie: jifen::leaderboard::TiePolicy::Dense,
            ranking: jifen::leaderboard::Exclusions {
                people: ["manager4220".to_string()].into(),
                ..Default::default()
            },
            card_template: None,
        };
        jobs
    };
    let (a, b) = (replica(), replica());
    jifen::org::sync_directory(&a.client, db.store.as_ref())
        .await
        .unwrap();
    // One person of each team of 研发中心: together they earn more than 华东销售部.
    let directory = db.store.directory().await.unwrap();
    let member_of = |team: &str| {
        directory
            .people
            .iter()
            .find(|p| p.departments.iter().any(|d| d == team))
            .map(|p| p.userid.clone())
            .unwrap()
    };
    let (backend, frontend) = (member_of("575405101"), member_of("575405102"));
    // 王芳 (HR, excluded from the leaderboards) grants points in the week of 16 November and
    // the week before, and was granted the most herself.
    for (who, points, at) in [
        ("manager4220", 20, "2026-11-17T03:00:00Z"),
        (LI_QIANG, 8, "2026-11-17T02:00:00Z"),
        (ZHANG_WEI, 5, "2026-11-18T02:00:00Z"),
        (backend.as_str(), 7, "2026-11-18T03:00:00Z"),
        (frontend.as_str(), 7, "2026-11-19T03:00:00Z"),
        (ZHANG_WEI, 9, "2026-11-10T02:00:00Z"),
        (LI_QIANG, 2, "2026-11-11T02:00:00Z"),
    ] {
        let mut tx = db.store.begin().await.unwrap();
        let post = jifen::ledger::ManualPost {
            actor: if who == "manager4220" {
                "boss"
            } else {
                "manager4220"
            }
            .into(),
            userid: who.into(),
            points,
            reason: "表现突出".into(),
            category: "manual".into(),
            source_key: format!("honor-test:{who}:{at}"),
            review: false,
            occurred_at: at.parse().unwrap(),
        };
        jifen::ledger::post_manual(tx.as_mut(), &post, at.parse().unwrap())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    // Monday 23 November, 09:01 in Shanghai, on both replicas at once.
    let now = at("2026-11-23T01:01:00Z");
    let (ran_a, ran_b) = tokio::join!(a.tick(now), b.tick(now));
    let ran: Vec<_> = ran_a.into_iter().chain(ran_b).collect();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert!(
        matches!(&ran[0].2, SlotOutcome::Done(d) if d.contains("4 on the board, queued for 2 of 2 groups")),
        "{ran:?}"
    );

    // Both replicas deliver.
    let deliverer = || jifen::outbox::deliver::Deliverer {
        store: db.store.clone(),
        client: a.client.clone(),
        calendar: shanghai(),
        settings: Default::default(),
        wake: Default::default(),
    };
    let (d1, d2) = (deliverer(), deliverer());
    for _ in 0..5 {
        let (x, y) = tokio::join!(d1.run_once(), d2.run_once());
        if x.unwrap() + y.unwrap() == 0 {
            break;
        }
    }
    let boards: Vec<_> = emu
        .emulator
        .messages()
        .into_iter()
        .filter(|m| m.channel == "robot_group")
        .collect();
    let mut groups: Vec<String> = boards.iter().flat_map(|m| m.to.clone()).collect();
    groups.sort();
    assert_eq!(groups, ["cidAll==", "cidSales=="]);
    let text = &boards[0].text;
    assert!(text.contains("光荣榜 · 2026-11-16 – 11-22"), "{text}");
    // Dense ranks: 8, 7, 7, 5 place 1, 2, 2, 3.
    assert!(text.contains("1. 🥇**李强** +8 积分 ↑1"), "{text}");
    assert_eq!(text.matches("2. 🥈**").count(), 2, "{text}");
    assert_eq!(
        text.matches("+7 积分 new").count(),
        2,
        "no entries the week before: {text}"
    );
    assert!(text.contains("3. 🥉**张伟** +5 积分 ↓2"), "{text}");
    assert!(!text.contains("王芳"), "HR is excluded: {text}");
    // Counting its teams, 研发中心 (14) leads 华东销售部 (13).
    assert!(
        text.contains("领先部门 Leading department: **研发中心** +14 积分"),
        "{text}"
    );
    emu.stop().await;
}

/// A weekday in the past on which both people checked in on duty.
fn a_day_both_checked_in(emu: &RunningEmulator) -> Date {
    let mut day: Date = "2026-11-02".parse().unwrap();
    loop {
        let checked = |userid: &str| {
            emu.emulator.org.attendance(userid, day).iter().any(|a| {
                a.check_type == "OnDuty"
                    && a.user_check_time.is_some()
                    && matches!(a.time_result, "Normal" | "Late" | "SeriousLate")
            })
        };
        if checked(LI_QIANG) && checked(ZHANG_WEI) {
            return day;
        }
        day = day.tomorrow().unwrap();
    }
}

async fn on_duty_entries(server: &support::Server, userid: &str, day: Date) -> usize {
    let response = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/employees/{userid}/entries?limit=500",
            server.addr
        ))
        .bearer_auth("jobs-admin")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let key = format!("att:{userid}:{day}:OnDuty");
    body["entries"]
        .as_array()
        .map(|entries| entries.iter().filter(|e| e["source_key"] == key).count())
        .unwrap_or(0)
}

async fn wait_for(what: &str, server: &support::Server, check: impl AsyncFn() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "gave up waiting for {what}; server log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn dropped_and_lost_check_ins_are_recovered_by_reconciliation(database_url: &str) {
    let emu = start_emulator().await;
    let base = emu.base_url();
    let agent = AGENT_ID.to_string();
    let env: Vec<(&str, &str)> = vec![
        ("JIFEN_DATABASE_URL", database_url),
        ("JIFEN_ADMIN_TOKEN", "jobs-admin"),
        ("JIFEN_DINGTALK_CALLBACK_TOKEN", "jobs-token"),
        (
            "JIFEN_DINGTALK_AES_KEY",
            "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo",
        ),
        ("JIFEN_DINGTALK_RECEIVE_ID", CORP_ID),
        ("JIFEN_DINGTALK_APP_KEY", APP_KEY),
        ("JIFEN_DINGTALK_APP_SECRET", APP_SECRET),
        ("JIFEN_DINGTALK_AGENT_ID", &agent),
        ("JIFEN_DINGTALK_API_BASE", &base),
        ("JIFEN_DINGTALK_OAPI_BASE", &base),
    ];
    let server = support::spawn_server(&env);
    let crypto = jifen::dingtalk::crypto::CallbackCrypto::new(
        SecretString::from("jobs-token"),
        "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo",
        CORP_ID,
    )
    .unwrap();
    emu.emulator
        .set_callback(format!("http://{}/dingtalk/callback", server.addr), crypto);
    let account = format!("http://{}/api/v1/employees/{LI_QIANG}/account", server.addr);
    wait_for("the address book", &server, async || {
        let response = reqwest::Client::new()
            .get(&account)
            .bearer_auth("jobs-admin")
            .send()
            .await
            .unwrap();
        response.status() == 200
    })
    .await;

    // 李强's on-duty check-in fails to arrive (DingTalk lists it as failed); 张伟's is lost
    // without a trace. Their off-duty check-ins arrive.
    let day = a_day_both_checked_in(&emu);
    emu.emulator.drop_next_pushes(1, true);
    emu.emulator.push_check_ins(LI_QIANG, day).await;
    emu.emulator.drop_next_pushes(1, false);
    emu.emulator.push_check_ins(ZHANG_WEI, day).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(on_duty_entries(&server, LI_QIANG, day).await, 0);
    assert_eq!(on_duty_entries(&server, ZHANG_WEI, day).await, 0);

    // The next morning's reconciliation, run by hand.
    let jobs_run = |slot: String| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jifen"));
        command
            .args(["jobs", "run", "reconcile", "--slot", &slot])
            .env_remove("JIFEN_CONFIG")
            .env("JIFEN_LOG", "warn");
        for (k, v) in &env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let slot = format!("{}T06:30:00", day.tomorrow().unwrap());
    let output = jobs_run(slot.clone());
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 failed callbacks read"), "{stdout}");
    wait_for("the recovered entries", &server, async || {
        on_duty_entries(&server, LI_QIANG, day).await == 1
            && on_duty_entries(&server, ZHANG_WEI, day).await == 1
    })
    .await;

    // The same slot does not run twice; another one finds nothing new to queue.
    let again = jobs_run(slot);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    let later = jobs_run(format!("{}T07:00:00", day.tomorrow().unwrap()));
    let stdout = String::from_utf8_lossy(&later.stdout).to_string();
    assert!(stdout.contains(", 0 events recovered"), "{stdout}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(on_duty_entries(&server, LI_QIANG, day).await, 1);
    assert_eq!(on_duty_entries(&server, ZHANG_WEI, day).await, 1);
    server.stop();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_dropped_and_lost_check_ins_are_recovered_by_reconciliation() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("jifen.db").display());
    dropped_and_lost_check_ins_are_recovered_by_reconciliation(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dropped_and_lost_check_ins_are_recovered_by_reconciliation() {
    if support::skip_postgres() {
        return;
    }
    let db = support::FreshPgDatabase::create("jifen_jobs").await;
    dropped_and_lost_check_ins_are_recovered_by_reconciliation(&db.url).await;
    db.drop().await;
}

/// Monday 23 November 2026, 09:00 in Shanghai: when the working day starts.
const NINE: i64 = 1_795_395_600_000;
const MINUTE: i64 = 60_000;

fn on_duty(userid: &str, day: Date, result: &'static str, at: Option<i64>) -> FakeAttendance {
    FakeAttendance {
        userid: userid.into(),
        work_date: day,
        check_type: "OnDuty",
        time_result: result,
        base_check_time: NINE,
        user_check_time: at,
        approval: None,
    }
}

fn off_duty(userid: &str, day: Date) -> FakeAttendance {
    FakeAttendance {
        check_type: "OffDuty",
        time_result: "Normal",
        base_check_time: NINE + 9 * 60 * MINUTE,
        user_check_time: Some(NINE + 9 * 60 * MINUTE + 5 * MINUTE),
        ..on_duty(userid, day, "Normal", None)
    }
}

async fn the_daily_reconcile_posts_on_time_late_seriously_late_and_missed_check_ins_but_not_leave(
    db: &TestDb,
) {
    let emu = start_emulator().await;
    let jobs = jobs(db, &emu, 60);
    sync_directory(&jobs.client, db.store.as_ref())
        .await
        .unwrap();

    let day = date(2026, 11, 23);
    let people: Vec<String> = emu.emulator.org.users[..5]
        .iter()
        .map(|u| u.userid.clone())
        .collect();
    let leave = |mut a: FakeAttendance| {
        a.time_result = "NotSigned";
        a.user_check_time = None;
        a.approval = Some("Leave0000000000000000001795400000".into());
        a
    };
    let days = [
        on_duty(&people[0], day, "Normal", Some(NINE - 8 * MINUTE)),
        on_duty(&people[1], day, "Late", Some(NINE + 10 * MINUTE)),
        on_duty(&people[2], day, "SeriousLate", Some(NINE + 47 * MINUTE)),
        on_duty(&people[3], day, "NotSigned", None),
        leave(on_duty(&people[4], day, "NotSigned", None)),
    ];
    for (i, first) in days.into_iter().enumerate() {
        let userid = &people[i];
        let second = if i == 4 {
            leave(off_duty(userid, day))
        } else {
            off_duty(userid, day)
        };
        emu.emulator
            .set_attendance(userid, day, vec![first, second]);
    }

    let slot = "2026-11-24T06:30:00".parse().unwrap();
    let outcome = jobs
        .run_slot(Job::Reconcile, slot, Timestamp::now())
        .await
        .unwrap();
    let SlotOutcome::Done(report) = outcome else {
        panic!("{outcome:?}");
    };
    assert!(report.starts_with("2026-11-23: "), "{report}");

    // The check-ins it queued go through the processor, as a callback's would.
    let processor = Processor {
        store: db.store.clone(),
        rules: jobs.rules.clone(),
        calendar: shanghai(),
        source: jobs.client.clone(),
        bot: None,
        leaderboard: None,
        settings: ProcessorSettings {
            batch: 1000,
            ..ProcessorSettings::default()
        },
    };
    while !processor.run_once().await.unwrap().is_empty() {}
    assert!(db.store.inbox(Some("failed"), 10).await.unwrap().is_empty());

    let mut posted: BTreeMap<&str, Vec<(String, i64)>> = BTreeMap::new();
    for userid in &people {
        let entries = db.store.entries(userid, 10, None).await.unwrap();
        posted.insert(
            userid,
            entries
                .into_iter()
                .map(|e| (e.rule_id.unwrap_or_default(), e.points))
                .collect(),
        );
    }
    let expected: BTreeMap<&str, Vec<(String, i64)>> = [
        (&people[0], vec![("attendance.ontime", 1)]),
        (&people[1], vec![("attendance.late", -2)]),
        (&people[2], vec![("attendance.late_serious", -5)]),
        (&people[3], vec![("attendance.missing", -3)]),
        (&people[4], vec![]),
    ]
    .into_iter()
    .map(|(who, rules)| {
        let rules = rules.into_iter().map(|(r, p)| (r.to_string(), p)).collect();
        (who.as_str(), rules)
    })
    .collect();
    assert_eq!(posted, expected);
    let missed = &db.store.entries(&people[3], 1, None).await.unwrap()[0];
    assert_eq!(
        missed.source_key,
        format!("att:{}:2026-11-23:OnDuty", people[3])
    );

    // The same slot run again (a failed run retried, or `jifen jobs run`) posts nothing more.
    jobs.run_slot(
        Job::Reconcile,
        "2026-11-24T06:31:00".parse().unwrap(),
        Timestamp::now(),
    )
    .await
    .unwrap();
    while !processor.run_once().await.unwrap().is_empty() {}
    for userid in &people[..4] {
        assert_eq!(
            db.store.entries(userid, 10, None).await.unwrap().len(),
            1,
            "{userid}"
        );
    }
    emu.stop().await;
}

async fn hr_admins_are_told_once_a_day_what_waits_for_review(db: &TestDb) {
    let emu = start_emulator().await;
    let jobs = jobs(db, &emu, 60);
    support::seed_org(db.store.as_ref()).await;
    let slot = |text: &str| text.parse().unwrap();
    // Nothing waits: nobody is told.
    let outcome = jobs
        .run_slot(
            Job::ReviewDigest,
            slot("2026-11-23T09:00:00"),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&outcome, SlotOutcome::Done(d) if d.contains("nobody told")),
        "{outcome:?}"
    );
    assert!(db.store.outbox(None, 10).await.unwrap().is_empty());
    let now = Timestamp::now().to_string();
    support::manual(db.store.as_ref(), "zhangwei", "lina", 40, true, &now).await;
    support::manual(db.store.as_ref(), "zhangwei", "liuyang", 30, true, &now).await;
    let outcome = jobs
        .run_slot(
            Job::ReviewDigest,
            slot("2026-11-24T09:00:00"),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&outcome, SlotOutcome::Done(d) if d.contains("2 HR admins told")),
        "{outcome:?}"
    );
    let told = db.store.outbox(None, 10).await.unwrap();
    let mut recipients: Vec<&str> = told.iter().map(|r| r.recipient.as_str()).collect();
    recipients.sort();
    assert_eq!(recipients, ["hr", "manager4220"]);
    let payload = told[0].payload.to_string();
    for shown in [
        "2 条积分记录待审核",
        "李娜 +40",
        "刘洋 +30",
        "https://jifen.example.com/app/review",
    ] {
        assert!(payload.contains(shown), "{shown} missing from {payload}");
    }
    // The same slot again: taken; no second message.
    let again = jobs
        .run_slot(
            Job::ReviewDigest,
            slot("2026-11-24T09:00:00"),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(again, SlotOutcome::Taken);
    assert_eq!(db.store.outbox(None, 10).await.unwrap().len(), 2);
    emu.stop().await;
}

async fn the_challenge_board_shows_each_group_this_months_meters_once_a_slot(db: &TestDb) {
    let emu = start_emulator().await;
    let store = db.store.as_ref();
    support::seed_org(store).await;
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    let book = jifen::rules::load_badges(
        r#"
[[badge]]
id = "closers"
name = "冲刺之队"
kind = "manual"

[[challenge]]
id = "sales-nov"
name = "销售冲刺"
department = "sales"
category = "manual"
target = 20
month = "2026-11"
points = 3
badge = "closers"

[[challenge]]
id = "rd-dec"
name = "十二月学习月"
department = "rd"
category = "manual"
target = 50
month = "2026-12"
"#,
        &rules,
    )
    .unwrap();
    let mut jobs = jobs(db, &emu, 60);
    jobs.badges = jifen::badges::Badging {
        book: Arc::new(book),
        groups: vec![],
    };
    jobs.honor = HonorSettings {
        groups: vec!["cidA".into(), "cidB".into()],
        page_url: Some("https://jifen.example.com/app".into()),
        ..HonorSettings::default()
    };
    support::manual(store, "hr", "lina", 12, false, "2026-11-05T02:00:00Z").await;
    let slot = |text: &str| text.parse().unwrap();
    let outcome = jobs
        .run_slot(
            Job::ChallengeBoard,
            slot("2026-11-20T17:00:00"),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&outcome, SlotOutcome::Done(d) if d.contains("1 team challenges in 2026-11, queued for 2 of 2 groups")),
        "{outcome:?}"
    );
    let queued = store.outbox(None, 10).await.unwrap();
    let mut groups: Vec<&str> = queued.iter().map(|r| r.recipient.as_str()).collect();
    groups.sort();
    assert_eq!(groups, ["cidA", "cidB"]);
    let card = queued[0].payload.to_string();
    for shown in [
        "团队挑战 · 2026-11",
        "销售冲刺",
        "12/20 ██████░░░░ 60%",
        "达成每人 +3 及徽章「冲刺之队」",
        "https://jifen.example.com/app/rewards",
    ] {
        assert!(card.contains(shown), "{shown} missing from {card}");
    }
    assert!(!card.contains("十二月学习月"), "only this month's: {card}");
    let again = jobs
        .run_slot(
            Job::ChallengeBoard,
            slot("2026-11-20T17:00:00"),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(again, SlotOutcome::Taken);
    // A month without challenges sends nothing.
    let quiet = jobs
        .run_slot(
            Job::ChallengeBoard,
            slot("2027-01-08T17:00:00"),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&quiet, SlotOutcome::Done(d) if d.contains("nothing sent")),
        "{quiet:?}"
    );
    assert_eq!(store.outbox(None, 10).await.unwrap().len(), 2);
    emu.stop().await;
}
