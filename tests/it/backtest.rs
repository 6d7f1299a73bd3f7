//! The rule backtest on both databases: the events the rules saw are kept as they saw
//! them, replayed under a draft rule set on a scratch database, and compared with what was
//! posted, per rule, person and department; the live ledger is not touched.

use crate::support;

use jifen::backtest::backtest;
use jifen::ledger;
use jifen::rules::{load_rules, load_rules_file};
use jiff::Timestamp;
use support::{TestDb, checked, seed_org, shanghai};

on_both_backends!(a_draft_rule_set_is_replayed_on_past_events_without_writing);

async fn a_draft_rule_set_is_replayed_on_past_events_without_writing(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    let calendar = shanghai();
    // October: 张伟 on time three mornings, 李娜 late once; a hand award on the side.
    let events = [
        checked("zhangwei", "att:zw:1", "2026-10-12T00:55:00Z", "on_time"),
        checked("zhangwei", "att:zw:2", "2026-10-13T00:55:00Z", "on_time"),
        checked("zhangwei", "att:zw:3", "2026-10-14T00:55:00Z", "on_time"),
        checked("lina", "att:ln:1", "2026-10-12T01:10:00Z", "late"),
        // Outside the period asked about.
        checked("lina", "att:ln:2", "2026-11-03T00:55:00Z", "on_time"),
    ];
    for event in &events {
        let mut tx = store.begin().await.unwrap();
        ledger::post_event(tx.as_mut(), &rules, &calendar, event, Timestamp::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    support::manual(store, "hr", "lina", 5, false, "2026-10-20T02:00:00Z").await;
    let entries_before = store.last_entry_id().await.unwrap();

    // The draft: on time is worth 2, and lateness is no longer a rule.
    let draft = load_rules(
        r#"
[[rule]]
id = "attendance.ontime"
name = "准时打卡"
event = "attendance.checked"
when = 'result == "on_time" && check_type == "OnDuty"'
points = 2
caps = { day = 2, month = 46 }
"#,
    )
    .unwrap();

    let october = ("2026-10-01".parse().unwrap(), "2026-10-31".parse().unwrap());
    let mut progress = Vec::new();
    let report = backtest(store, &draft, &calendar, october, |n| progress.push(n))
        .await
        .unwrap();
    assert_eq!(
        report.events, 4,
        "October's four; the hand award is no event"
    );
    assert_eq!(progress.last(), Some(&4));
    let rule = |id: &str| report.rules.iter().find(|r| r.rule_id == id).unwrap();
    let ontime = rule("attendance.ontime");
    assert_eq!(
        (
            ontime.posted_entries,
            ontime.posted_points,
            ontime.draft_entries,
            ontime.draft_points
        ),
        (3, 3, 3, 6)
    );
    let late = rule("attendance.late");
    assert_eq!((late.posted_points, late.draft_points), (-2, 0));
    let people: Vec<(&str, i64, i64)> = report
        .people
        .iter()
        .map(|p| (p.id.as_str(), p.posted, p.draft))
        .collect();
    assert_eq!(people, [("zhangwei", 3, 6), ("lina", -2, 0)]);
    let rd = report.departments.iter().find(|d| d.id == "rd").unwrap();
    assert_eq!((rd.posted, rd.draft), (3, 6));
    assert_eq!(report.posted.people, 5, "everyone counts in the spread");
    assert!(report.draft.gini > 0.0);
    let text = report.to_string();
    assert!(text.contains("2 people would change"), "{text}");
    assert!(text.contains("Gini"), "{text}");

    // Nothing was written to the live ledger.
    assert_eq!(store.last_entry_id().await.unwrap(), entries_before);
    assert_eq!(store.verify_totals().await.unwrap(), vec![]);
    // Backwards is refused.
    let backwards = ("2026-10-31".parse().unwrap(), "2026-10-01".parse().unwrap());
    assert!(
        backtest(store, &draft, &calendar, backwards, |_| {})
            .await
            .is_err()
    );
}
