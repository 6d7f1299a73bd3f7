//! Badges on both databases: a three-month streak of 全勤 is granted at the third month's
//! close and only once; scores, counts and first times as entries are posted; HR's by hand.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;

use jifen::badges::{self, BadgeError, Badging};
use jifen::domain::{BadgeBook, Calendar};
use jifen::ledger;
use jifen::outbox;
use jifen::period::{AttendanceSummary, month_summary};
use jifen::rules::{RuleSet, load_badges, load_rules_file};
use jifen::store::Store;
use jiff::Timestamp;
use support::{TestDb, manual, seed_org, shanghai};

on_both_backends!(
    a_three_month_streak_is_granted_at_the_third_close_and_once,
    scores_counts_and_first_times_are_granted_as_entries_are_posted,
    hr_grants_a_manual_badge_once_with_a_reason,
    a_team_that_reaches_its_challenge_gets_its_points_once_each,
);

const BADGES: &str = r#"
[[badge]]
id = "steady"
name = "全勤之星"
kind = "streak"
rule = "attendance.full_month"
months = 3
announce = "group"

[[badge]]
id = "first_full"
name = "首个全勤月"
kind = "first"
rule = "attendance.full_month"

[[badge]]
id = "fifty"
name = "五十分"
kind = "score"
score = 50

[[badge]]
id = "twice"
name = "两度全勤"
kind = "count"
rule = "attendance.full_month"
count = 2

[[badge]]
id = "mentor"
name = "好导师"
kind = "manual"
"#;

fn setup() -> (RuleSet, Badging) {
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    let book: BadgeBook = load_badges(BADGES, &rules).unwrap();
    let badging = Badging {
        book: Arc::new(book),
        groups: vec!["cidGROUP".into()],
    };
    (rules, badging)
}

/// Posts a month of full attendance for `who` and closes the month, as the close would.
async fn full_month(
    store: &dyn Store,
    rules: &RuleSet,
    calendar: &Calendar,
    who: &str,
    month: &str,
    end: &str,
) {
    let end: Timestamp = end.parse().unwrap();
    let last = end - jiff::SignedDuration::from_millis(1);
    let summary = AttendanceSummary {
        working_days: 21,
        ..Default::default()
    };
    let mut tx = store.begin().await.unwrap();
    let event = month_summary(who, month, last, &summary);
    let posting = ledger::post_event(tx.as_mut(), rules, calendar, &event, end)
        .await
        .unwrap();
    assert_eq!(posting.posted().count(), 1, "{month}");
    tx.commit().await.unwrap();
    let start = calendar
        .period_containing(jifen::domain::PeriodKind::Month, last)
        .unwrap()
        .start;
    assert!(
        store
            .close_period(month, start, end, end, "{}")
            .await
            .unwrap()
    );
}

async fn grant(store: &dyn Store, badging: &Badging, who: &str, now: &str) -> usize {
    let mut tx = store.begin().await.unwrap();
    let people = BTreeSet::from([who.to_string()]);
    let n = outbox::grant_and_announce(
        tx.as_mut(),
        badging,
        &shanghai(),
        &people,
        jifen::badges::Earning::Anything,
        now.parse().unwrap(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    n
}

async fn held(store: &dyn Store, who: &str) -> Vec<String> {
    store
        .badges_of(who)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.badge_id)
        .collect()
}

async fn a_three_month_streak_is_granted_at_the_third_close_and_once(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let (rules, badging) = setup();
    let calendar = shanghai();
    full_month(
        store,
        &rules,
        &calendar,
        "lina",
        "2026-08",
        "2026-08-31T16:00:00Z",
    )
    .await;
    grant(store, &badging, "lina", "2026-09-01T01:00:00Z").await;
    assert_eq!(held(store, "lina").await, ["first_full"]);
    full_month(
        store,
        &rules,
        &calendar,
        "lina",
        "2026-09",
        "2026-09-30T16:00:00Z",
    )
    .await;
    grant(store, &badging, "lina", "2026-10-01T01:00:00Z").await;
    assert!(
        !held(store, "lina").await.contains(&"steady".to_string()),
        "two months"
    );
    full_month(
        store,
        &rules,
        &calendar,
        "lina",
        "2026-10",
        "2026-10-31T16:00:00Z",
    )
    .await;
    // The streak, and 60 points reach the score badge.
    assert_eq!(
        grant(store, &badging, "lina", "2026-11-01T01:00:00Z").await,
        2
    );
    assert!(held(store, "lina").await.contains(&"steady".to_string()));
    assert_eq!(
        grant(store, &badging, "lina", "2026-11-01T02:00:00Z").await,
        0,
        "once"
    );
    // The big one is announced in the group too; the person is told of each.
    let rows = store.outbox(None, 100).await.unwrap();
    let announced: Vec<&str> = rows
        .iter()
        .filter(|r| r.dedup_key.starts_with("announce:badge:lina:steady"))
        .map(|r| r.recipient.as_str())
        .collect();
    assert_eq!(announced, ["cidGROUP"]);
    let told = rows
        .iter()
        .filter(|r| r.dedup_key.starts_with("notify:badge:lina:"))
        .count();
    assert_eq!(told, held(store, "lina").await.len());

    // A gap breaks the streak: 张伟 had August and October, not September.
    full_month(
        store,
        &rules,
        &calendar,
        "zhangwei",
        "2026-11",
        "2026-11-30T16:00:00Z",
    )
    .await;
    grant(store, &badging, "zhangwei", "2026-12-01T01:00:00Z").await;
    assert!(
        !held(store, "zhangwei")
            .await
            .contains(&"steady".to_string())
    );
}

async fn scores_counts_and_first_times_are_granted_as_entries_are_posted(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let (_, badging) = setup();
    manual(store, "hr", "lina", 49, false, "2026-11-02T02:00:00Z").await;
    assert_eq!(
        grant(store, &badging, "lina", "2026-11-02T03:00:00Z").await,
        0
    );
    manual(store, "hr", "lina", 1, false, "2026-11-02T04:00:00Z").await;
    assert_eq!(
        grant(store, &badging, "lina", "2026-11-02T05:00:00Z").await,
        1
    );
    assert_eq!(held(store, "lina").await, ["fifty"]);
    let audited = store.audit_log(Some("lina"), 10).await.unwrap();
    assert!(
        audited.iter().any(|r| r.record.action == "badge"),
        "{audited:?}"
    );
}

async fn hr_grants_a_manual_badge_once_with_a_reason(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let (_, badging) = setup();
    let now: Timestamp = "2026-11-02T02:00:00Z".parse().unwrap();
    let by_hand = |badge: &'static str, who: &'static str, reason: &'static str| {
        let book = badging.book.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            let r = badges::grant_by_hand(tx.as_mut(), &book, badge, who, "hr", reason, now).await;
            if r.is_ok() {
                tx.commit().await.unwrap();
            }
            r
        }
    };
    let granted = by_hand("mentor", "lina", "带新人三个月").await.unwrap();
    assert_eq!(granted.grant.actor.as_deref(), Some("hr"));
    assert!(matches!(
        by_hand("mentor", "lina", "again").await,
        Err(BadgeError::AlreadyHeld { .. })
    ));
    assert!(matches!(
        by_hand("steady", "lina", "x").await,
        Err(BadgeError::NotManual(_))
    ));
    assert!(matches!(
        by_hand("nope", "lina", "x").await,
        Err(BadgeError::UnknownBadge(_))
    ));
    assert!(matches!(
        by_hand("mentor", "liuyang", " ").await,
        Err(BadgeError::NoReason)
    ));
    assert!(matches!(
        by_hand("mentor", "ghost", "x").await,
        Err(BadgeError::UnknownEmployee(_))
    ));
    assert_eq!(held(store, "lina").await, ["mentor"]);
}

async fn a_team_that_reaches_its_challenge_gets_its_points_once_each(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    let book = load_badges(
        "[[challenge]]\nid = \"sales-nov\"\nname = \"销售冲刺\"\ndepartment = \"sales\"\ncategory = \"manual\"\ntarget = 10\nmonth = \"2026-11\"\npoints = 3\n",
        &rules,
    )
    .unwrap();
    let challenge = &book.challenges[0];
    manual(store, "hr", "lina", 6, false, "2026-11-05T02:00:00Z").await;
    manual(store, "hr", "liuyang", 3, false, "2026-11-06T02:00:00Z").await;
    // Outside the team, or outside the month: not counted.
    manual(store, "hr", "zhangwei", 50, false, "2026-11-06T02:00:00Z").await;
    manual(store, "hr", "lina", 50, false, "2026-10-06T02:00:00Z").await;
    let (start, end): (Timestamp, Timestamp) = (
        "2026-10-31T16:00:00Z".parse().unwrap(),
        "2026-11-30T16:00:00Z".parse().unwrap(),
    );
    let progress = store
        .team_points("sales", "manual", start, end)
        .await
        .unwrap();
    assert_eq!(progress, 9);
    let mut members = store.members_under("1").await.unwrap();
    members.sort();
    assert_eq!(
        members,
        ["hr", "lina", "liuyang", "wangfang", "zhangwei"],
        "the company, deep"
    );
    let team = store.members_under("sales").await.unwrap();
    let settle = |progress| {
        let team = team.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            let posted =
                ledger::reward_challenge(tx.as_mut(), challenge, &team, progress, end, end)
                    .await
                    .unwrap();
            tx.commit().await.unwrap();
            posted.len()
        }
    };
    assert_eq!(settle(progress).await, 0, "9 of 10 is not reached");
    manual(store, "hr", "liuyang", 1, false, "2026-11-07T02:00:00Z").await;
    let progress = store
        .team_points("sales", "manual", start, end)
        .await
        .unwrap();
    assert_eq!(settle(progress).await, 2, "each member once");
    assert_eq!(settle(progress).await, 0, "and only once");
    let lina = store.entries("lina", 1, None).await.unwrap();
    assert!(
        lina[0].explanation.zh.contains("团队挑战「销售冲刺」达成"),
        "{:?}",
        lina[0].explanation
    );
    assert_eq!(store.verify_totals().await.unwrap(), vec![]);
}
