//! Month close against the DingTalk emulator: full attendance is awarded from the attendance
//! results, totals are frozen per person and department, closing twice changes nothing, a
//! late event lands in the open month, and the archive is written as CSV and XLSX. On SQLite
//! and on PostgreSQL.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;

use jifen::dingtalk::openapi::OpenApiClient;
use jifen::domain::Month;
use jifen::domain::calendar::PeriodKind;
use jifen::emulator::{self, EmulatorSettings};
use jifen::ledger;
use jifen::org::sync_directory;
use jifen::period::archive::{ArchiveError, Format, write_archive};
use jifen::period::{CloseError, close_month};
use jifen::rules::{RuleSet, load_rules_file};
use jiff::Timestamp;
use jiff::civil::Date;
use support::{TestDb, checked, shanghai};

on_both_backends!(
    closing_a_month_awards_full_attendance_freezes_totals_and_happens_once,
    a_team_challenge_reached_by_the_close_gives_each_member_its_badge_once,
    a_quarter_closes_after_its_months_with_totals_of_people_and_departments_under_them,
);

fn october() -> Month {
    Month::new(2026, 10).unwrap()
}

fn rules() -> Arc<RuleSet> {
    Arc::new(load_rules_file("config/rules.toml".as_ref()).unwrap())
}

async fn closing_a_month_awards_full_attendance_freezes_totals_and_happens_once(db: &TestDb) {
    let emu = emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = OpenApiClient::new(support::emulator_openapi(&emu)).unwrap();
    let store = db.store.as_ref();
    sync_directory(&client, store).await.unwrap();
    let (rules, calendar) = (rules(), shanghai());
    let now: Timestamp = "2026-11-02T01:00:00Z".parse().unwrap();

    // Who DingTalk's results say had a perfect October: no late, missing or absent check-in.
    let org = &emu.emulator.org;
    let mut weekdays = Vec::new();
    let mut day: Date = "2026-10-01".parse().unwrap();
    while day.month() == 10 {
        weekdays.push(day);
        day = day.tomorrow().unwrap();
    }
    let perfect: Vec<&str> = org
        .users
        .iter()
        .filter(|u| {
            weekdays.iter().all(|d| {
                org.attendance(&u.userid, *d).iter().all(|a| {
                    !matches!(
                        a.time_result,
                        "Late" | "SeriousLate" | "NotSigned" | "Absenteeism"
                    )
                })
            })
        })
        .map(|u| u.userid.as_str())
        .collect();
    assert!(!perfect.is_empty() && perfect.len() < org.users.len());
    // Whose check-ins DingTalk's results show missed (缺卡), and how many: each costs 3.
    let mut missed: BTreeMap<&str, i64> = BTreeMap::new();
    for u in &org.users {
        for d in &weekdays {
            let n = org
                .attendance(&u.userid, *d)
                .iter()
                .filter(|a| a.time_result == "NotSigned")
                .count() as i64;
            if n > 0 {
                *missed.entry(u.userid.as_str()).or_default() += n;
            }
        }
    }
    assert!(!missed.is_empty());
    let missed_checks: i64 = missed.values().sum();
    let missed_points: i64 = missed.values().map(|n| (3 * n).min(30)).sum();
    // Everyone with an October entry: the perfect ones and those who missed a check.
    let with_entries = perfect.len() + missed.len();

    // November is not over.
    // A one-month streak of 全勤: granted at the close to those with full attendance.
    let badging = jifen::badges::Badging {
        book: std::sync::Arc::new(
            jifen::rules::load_badges(
                "[[badge]]\nid = \"steady\"\nname = \"稳如磐石\"\nkind = \"streak\"\nrule = \"attendance.full_month\"\nmonths = 1\n",
                &rules,
            )
            .unwrap(),
        ),
        groups: vec![],
    };
    let early = close_month(
        store,
        &client,
        &rules,
        &badging,
        &calendar,
        Month::new(2026, 11).unwrap(),
        now,
    )
    .await;
    assert!(
        matches!(early, Err(CloseError::NotOver { .. })),
        "{early:?}"
    );
    // The archive of a month not closed is refused.
    let dir = tempfile::tempdir().unwrap();
    let refused = write_archive(
        store,
        "2026-10",
        Format::Csv,
        &dir.path().join("x.csv"),
        |_| {},
    )
    .await;
    assert!(
        matches!(refused, Err(ArchiveError::NotClosed(_))),
        "{refused:?}"
    );

    let report = close_month(store, &client, &rules, &badging, &calendar, october(), now)
        .await
        .unwrap();
    assert!(!report.already_closed);
    assert_eq!(report.people, org.users.len());
    assert_eq!(report.entries, perfect.len() + missed_checks as usize);
    assert_eq!(report.badges, perfect.len(), "{report}");
    let lucky = perfect[0];
    let entries = store.entries(lucky, 10, None).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].rule_id.as_deref(), Some("attendance.full_month"));
    assert_eq!(entries[0].points, 20);
    assert!(
        entries[0].explanation.zh.contains("月度全勤"),
        "{:?}",
        entries[0].explanation
    );
    assert_eq!(
        calendar.local_date(entries[0].occurred_at).to_string(),
        "2026-10-31"
    );

    // Closing again changes nothing.
    let again = close_month(store, &client, &rules, &badging, &calendar, october(), now)
        .await
        .unwrap();
    assert!(again.already_closed);
    assert_eq!(again.badges, 0);
    let badges = store.badges_of(perfect[0]).await.unwrap();
    assert_eq!(badges.len(), 1, "granted once: {badges:?}");
    assert_eq!(store.entries(lucky, 10, None).await.unwrap().len(), 1);

    // The frozen totals.
    let totals = store.period_totals("2026-10", "", 1000).await.unwrap();
    assert_eq!(totals.len(), with_entries);
    let frozen = totals.iter().find(|t| t.userid == lucky).unwrap();
    assert_eq!((frozen.score, frozen.entries), (20, 1));
    // Each department counts those under it: the company, everyone.
    let departments = store.period_department_totals("2026-10").await.unwrap();
    let company = departments.iter().find(|d| d.department_id == "1").unwrap();
    assert_eq!(company.score, 20 * perfect.len() as i64 - missed_points);
    assert_eq!(company.members as usize, org.users.len());
    let rd = departments
        .iter()
        .find(|d| d.department_id == "575405100")
        .unwrap();
    let teams: i64 = departments
        .iter()
        .filter(|d| ["575405101", "575405102"].contains(&d.department_id.as_str()))
        .map(|d| d.score)
        .sum();
    assert_eq!(rd.score, teams, "研发中心 is its two teams");
    let (someone, checks) = missed.iter().next().unwrap();
    let theirs = store.entries(someone, 100, None).await.unwrap();
    assert_eq!(
        theirs
            .iter()
            .filter(|e| e.rule_id.as_deref() == Some("attendance.missing"))
            .count() as i64,
        *checks,
        "{someone}: {theirs:#?}"
    );

    // A check-in of 31 October that arrives now is booked in November, and says so.
    let late = checked(
        lucky,
        &format!("att:{lucky}:2026-10-30:OnDuty:late-arrival"),
        "2026-10-30T00:50:00Z",
        "on_time",
    );
    let mut tx = store.begin().await.unwrap();
    let posting = ledger::post_event(tx.as_mut(), &rules, &calendar, &late, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let entry = posting.posted().next().expect("an on-time entry");
    assert_eq!(entry.occurred_at, "2026-10-31T16:00:00Z".parse().unwrap());
    assert!(
        entry
            .explanation
            .zh
            .contains("发生于 2026-10-30，当月已结账"),
        "{:?}",
        entry.explanation
    );
    // So is taking back an October entry.
    let mut tx = store.begin().await.unwrap();
    let reversal = ledger::reverse(tx.as_mut(), entries[0].id, "manager4220", "复核有误", now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        reversal.occurred_at,
        "2026-10-31T16:00:00Z".parse().unwrap()
    );
    assert!(
        reversal
            .explanation
            .zh
            .contains("原记录所在月份已结账，计入本月"),
        "{:?}",
        reversal.explanation
    );
    // The ledger's October still adds up to the frozen totals.
    let refrozen = store.period_totals("2026-10", "", 1000).await.unwrap();
    assert_eq!(refrozen, totals, "closed totals never change");
    let october = calendar
        .period_of(PeriodKind::Month, october().first_day())
        .unwrap();
    let in_october: i64 = store
        .entries_between(Some(lucky), october.start, october.end, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.deltas.score)
        .sum();
    assert_eq!(in_october, frozen.score);

    // The archive, for spreadsheets.
    let csv_path = dir.path().join("october.csv");
    let mut pages = Vec::new();
    let written = write_archive(store, "2026-10", Format::Csv, &csv_path, |n| pages.push(n))
        .await
        .unwrap();
    assert_eq!(written.people, with_entries);
    assert_eq!(pages.last(), Some(&with_entries));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(
        csv.starts_with("userid,name,score,balance,pending,entries\n"),
        "{csv}"
    );
    assert!(csv.contains(&format!("{lucky},")), "{csv}");
    let xlsx_path = dir.path().join("october.xlsx");
    write_archive(store, "2026-10", Format::Xlsx, &xlsx_path, |_| {})
        .await
        .unwrap();
    let xlsx = std::fs::read(&xlsx_path).unwrap();
    assert_eq!(&xlsx[..2], b"PK", "an XLSX file is a zip");
    emu.stop().await;
}

async fn a_team_challenge_reached_by_the_close_gives_each_member_its_badge_once(db: &TestDb) {
    let emu = emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = OpenApiClient::new(support::emulator_openapi(&emu)).unwrap();
    let store = db.store.as_ref();
    sync_directory(&client, store).await.unwrap();
    let (rules, calendar) = (rules(), shanghai());
    let now: Timestamp = "2026-11-02T01:00:00Z".parse().unwrap();
    // 华东销售部 aims for 10 manual points in October; reaching it gives a group badge.
    let east = "575401962";
    let team: Vec<&str> = emu
        .emulator
        .org
        .users
        .iter()
        .filter(|u| u.dept.to_string() == east)
        .map(|u| u.userid.as_str())
        .collect();
    assert!(team.len() > 1);
    let badging = jifen::badges::Badging {
        book: Arc::new(
            jifen::rules::load_badges(
                &format!(
                    "[[badge]]\nid = \"closers\"\nname = \"冲刺之队\"\nkind = \"manual\"\nannounce = \"group\"\n\n\
                     [[challenge]]\nid = \"east-oct\"\nname = \"十月冲刺\"\ndepartment = \"{east}\"\n\
                     category = \"manual\"\ntarget = 10\nmonth = \"2026-10\"\nbadge = \"closers\"\n"
                ),
                &rules,
            )
            .unwrap(),
        ),
        groups: vec!["cidHonor".into()],
    };
    support::manual(store, "hr", team[0], 10, false, "2026-10-20T02:00:00Z").await;
    // One of them already holds it, from HR: they are not given it twice.
    let mut tx = store.begin().await.unwrap();
    jifen::badges::grant_by_hand(
        tx.as_mut(),
        &badging.book,
        "closers",
        team[1],
        "hr",
        "早到的",
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let report = close_month(store, &client, &rules, &badging, &calendar, october(), now)
        .await
        .unwrap();
    assert_eq!(report.challenges, 1, "{report}");
    assert_eq!(report.badges, team.len() - 1, "{report}");
    for userid in &team {
        let held = store.badges_of(userid).await.unwrap();
        assert_eq!(held.len(), 1, "{userid}: {held:?}");
    }
    let lucky = store.badges_of(team[0]).await.unwrap();
    assert!(
        lucky[0].reason.contains("团队挑战「十月冲刺」达成"),
        "{lucky:?}"
    );
    let outbox = store.outbox(None, 500).await.unwrap();
    let to_group = outbox
        .iter()
        .filter(|r| r.recipient == "cidHonor" && r.payload.to_string().contains("冲刺之队"))
        .count();
    assert_eq!(
        to_group,
        team.len() - 1,
        "each grant is announced in the group"
    );

    let again = close_month(store, &client, &rules, &badging, &calendar, october(), now)
        .await
        .unwrap();
    assert!(again.already_closed);
    assert_eq!(store.badges_of(team[0]).await.unwrap().len(), 1);
    emu.stop().await;
}

async fn a_quarter_closes_after_its_months_with_totals_of_people_and_departments_under_them(
    db: &TestDb,
) {
    use jifen::domain::Closable;
    use jifen::period::close_span;
    let store = db.store.as_ref();
    support::seed_org(store).await;
    let calendar = shanghai();
    support::manual(store, "hr", "zhangwei", 4, false, "2026-10-06T02:00:00Z").await;
    support::manual(store, "hr", "wangfang", 2, false, "2026-11-07T02:00:00Z").await;
    support::manual(store, "hr", "lina", 9, false, "2026-12-02T02:00:00Z").await;
    let q4 = Closable::parse("2026-Q4").unwrap();
    let january: Timestamp = "2027-01-02T01:00:00Z".parse().unwrap();
    let december: Timestamp = "2026-12-20T01:00:00Z".parse().unwrap();
    assert!(matches!(
        close_span(store, &calendar, q4, december).await,
        Err(CloseError::NotOver { .. })
    ));
    // Its months close first (here as a month close ends: their totals frozen).
    let calendar_ref = &calendar;
    let close_month_totals = |label: &'static str| async move {
        let calendar = calendar_ref;
        let month = Closable::parse(label).unwrap();
        let period = calendar
            .period_of(PeriodKind::Month, month.first_day())
            .unwrap();
        store
            .close_period(label, period.start, period.end, january, "{}")
            .await
            .unwrap()
    };
    close_month_totals("2026-10").await;
    let refused = close_span(store, &calendar, q4, january).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "2026-Q4 closes after its months; still open: 2026-11, 2026-12"
    );
    close_month_totals("2026-11").await;
    close_month_totals("2026-12").await;
    let report = close_span(store, &calendar, q4, january).await.unwrap();
    assert!(!report.already_closed);
    assert_eq!(report.people, 3, "{report}");
    let totals = store.period_totals("2026-Q4", "", 100).await.unwrap();
    let score = |u: &str| totals.iter().find(|t| t.userid == u).map(|t| t.score);
    assert_eq!(
        (score("zhangwei"), score("wangfang"), score("lina")),
        (Some(4), Some(2), Some(9))
    );
    let departments = store.period_department_totals("2026-Q4").await.unwrap();
    let department = |id: &str| {
        let d = departments.iter().find(|d| d.department_id == id).unwrap();
        (d.score, d.members)
    };
    assert_eq!(department("rd"), (6, 2), "研发部 counts 前端组's 王芳");
    assert_eq!(department("rd-web"), (2, 1));
    assert_eq!(department("1"), (15, 5), "the company, everyone once");
    let again = close_span(store, &calendar, q4, january).await.unwrap();
    assert!(again.already_closed);
    // The year waits for its other months; a month is not a span.
    let year = close_span(store, &calendar, Closable::Year(2026), january).await;
    assert!(
        year.as_ref()
            .is_err_and(|e| e.to_string().contains("still open: 2026-01")),
        "{year:?}"
    );
    assert!(matches!(
        close_span(
            store,
            &calendar,
            Closable::parse("2026-10").unwrap(),
            january
        )
        .await,
        Err(CloseError::NotASpan(_))
    ));
    // Its archive, like a month's.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q4.xlsx");
    let written = write_archive(store, "2026-Q4", Format::Xlsx, &path, |_| {})
        .await
        .unwrap();
    assert_eq!(written.people, 3);
    assert!(std::fs::metadata(&path).unwrap().len() > 0);
}
