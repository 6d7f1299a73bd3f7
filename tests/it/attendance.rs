//! Attendance as DingTalk's results tell it: the daily reconcile feeds the day's check-ins
//! through the processor and posts the checks nobody made (缺卡), which no callback
//! announces; a check that approved leave covers costs nothing. On SQLite and PostgreSQL.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jifen::dingtalk::openapi::{OpenApiClient, OpenApiSettings};
use jifen::domain::schedule::JobSchedule;
use jifen::emulator::org::{APP_KEY, APP_SECRET, CORP_ID, FakeAttendance};
use jifen::emulator::{self, EmulatorSettings};
use jifen::jobs::honor_board::HonorSettings;
use jifen::jobs::{Job, JobSpec, Jobs, SlotOutcome};
use jifen::org::sync_directory;
use jifen::processor::{Processor, ProcessorSettings};
use jifen::rules::load_rules_file;
use jiff::Timestamp;
use jiff::civil::{Date, date};
use secrecy::SecretString;
use support::{TestDb, shanghai};

on_both_backends!(
    the_daily_reconcile_posts_on_time_late_seriously_late_and_missed_check_ins_but_not_leave,
);

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
    let emu = emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut settings = OpenApiSettings::new(APP_KEY.into(), SecretString::from(APP_SECRET));
    settings.api_base = emu.base_url();
    settings.oapi_base = emu.base_url();
    let client = Arc::new(OpenApiClient::new(settings).unwrap());
    sync_directory(&client, db.store.as_ref()).await.unwrap();

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

    let rules = Arc::new(load_rules_file("config/rules.toml".as_ref()).unwrap());
    let jobs = Jobs {
        store: db.store.clone(),
        client: client.clone(),
        rules: rules.clone(),
        calendar: shanghai(),
        corp_id: CORP_ID.into(),
        specs: vec![JobSpec {
            job: Job::Reconcile,
            schedule: JobSchedule::parse("0 30 6 * * *").unwrap(),
            enabled: true,
        }],
        grace: Duration::from_secs(3600),
        honor: HonorSettings::default(),
        leaderboard: None,
    };
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
        rules,
        calendar: shanghai(),
        source: client.clone(),
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
