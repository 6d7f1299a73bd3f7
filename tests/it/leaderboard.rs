//! Leaderboards on both backends: ranks with each tie policy and with exclusions across a
//! week boundary in Asia/Shanghai, boards that follow new entries, department boards, and
//! entries that commit out of id order.

use crate::support;

use std::sync::Arc;

use jifen::domain::Employee;
use jifen::leaderboard::{
    BoardQuery, DepartmentOrder, Exclusions, LeaderboardError, LeaderboardIndex,
    LeaderboardSettings, TiePolicy, Window,
};
use jifen::ledger::{self, Decision};
use jifen::store::Backend;
use jiff::Timestamp;
use support::{TestDb, leaderboards, manual, seed_org};

on_both_backends!(
    ties_are_ranked_by_policy_across_a_week_boundary_in_shanghai,
    excluded_people_and_departments_are_never_ranked,
    new_hires_wait_for_a_whole_period_when_asked,
    boards_follow_new_entries_and_reversals,
    departments_are_ranked_by_total_and_per_head,
    entries_committed_out_of_id_order_are_each_counted_once,
    unknown_people_departments_and_periods_are_refused,
    people_who_left_are_never_ranked_and_unactivated_ones_are,
);

/// Wednesday 2026-11-18, noon in Shanghai.
const NOW: &str = "2026-11-18T04:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

/// Sunday 23:30 and Monday 00:30 in Shanghai fall in different weeks, though both are
/// Sunday in UTC.
async fn seed(db: &TestDb) {
    let store = db.store.as_ref();
    seed_org(store).await;
    manual(store, "boss", "lina", 5, false, "2026-11-15T15:30:00Z").await; // Sun 23:30
    manual(store, "boss", "zhangwei", 5, false, "2026-11-15T16:30:00Z").await; // Mon 00:30
    manual(store, "boss", "wangfang", 5, false, "2026-11-15T17:00:00Z").await; // Mon 01:00
    manual(store, "boss", "liuyang", 3, false, "2026-11-16T02:00:00Z").await;
    manual(store, "boss", "hr", 10, false, "2026-11-16T03:00:00Z").await;
}

fn settings(tie: TiePolicy, exclusions: Exclusions) -> LeaderboardSettings {
    LeaderboardSettings {
        tie,
        exclusions,
        ..LeaderboardSettings::default()
    }
}

/// Departments of these sizes: every one kept in order (1), or every one sorted when asked.
const DEPARTMENT_INDEX_SIZES: [usize; 2] = [1, usize::MAX];

fn indexing(department_index_size: usize) -> LeaderboardSettings {
    LeaderboardSettings {
        department_index_size,
        ..settings(TiePolicy::Shared, hr_excluded())
    }
}

fn hr_excluded() -> Exclusions {
    Exclusions {
        people: ["hr".to_string()].into(),
        ..Exclusions::default()
    }
}

fn query(window: Window, period: Option<&str>, department: Option<&str>) -> BoardQuery {
    BoardQuery {
        window,
        period: period.map(Into::into),
        department: department.map(Into::into),
        limit: 10,
    }
}

/// (userid, rank, points) from the top of a board.
async fn board(index: &LeaderboardIndex, q: &BoardQuery) -> Vec<(String, u32, i64)> {
    index
        .people(q, None, now())
        .await
        .unwrap()
        .top
        .into_iter()
        .map(|r| (r.userid, r.rank, r.points))
        .collect()
}

fn rows(expected: &[(&str, u32, i64)]) -> Vec<(String, u32, i64)> {
    expected
        .iter()
        .map(|(u, r, p)| (u.to_string(), *r, *p))
        .collect()
}

async fn ties_are_ranked_by_policy_across_a_week_boundary_in_shanghai(db: &TestDb) {
    seed(db).await;
    let this_week = query(Window::Week, None, None);
    // Whoever reached the points first is listed first; lina's points were last week.
    let cases = [
        (
            TiePolicy::Shared,
            [
                ("zhangwei", 1, 5),
                ("wangfang", 1, 5),
                ("liuyang", 3, 3),
                ("lina", 4, 0),
            ],
        ),
        (
            TiePolicy::Dense,
            [
                ("zhangwei", 1, 5),
                ("wangfang", 1, 5),
                ("liuyang", 2, 3),
                ("lina", 3, 0),
            ],
        ),
        (
            TiePolicy::EarlierAchiever,
            [
                ("zhangwei", 1, 5),
                ("wangfang", 2, 5),
                ("liuyang", 3, 3),
                ("lina", 4, 0),
            ],
        ),
    ];
    for (tie, expected) in cases {
        let index = leaderboards(&db.store, settings(tie, hr_excluded()), now()).await;
        assert_eq!(board(&index, &this_week).await, rows(&expected), "{tie:?}");
        let wangfang = index
            .people(&this_week, Some("wangfang"), now())
            .await
            .unwrap();
        assert_eq!(wangfang.me.unwrap().rank, expected[1].1, "{tie:?}");
        assert_eq!(wangfang.ranked, 4);
        assert_eq!(wangfang.period.as_deref(), Some("2026-11-16/week"));
    }
    let index = leaderboards(&db.store, settings(TiePolicy::Shared, hr_excluded()), now()).await;
    assert_eq!(
        board(&index, &query(Window::Week, Some("previous"), None)).await,
        rows(&[
            ("lina", 1, 5),
            ("liuyang", 2, 0),
            ("wangfang", 2, 0),
            ("zhangwei", 2, 0)
        ])
    );
    assert_eq!(
        board(&index, &query(Window::All, None, None)).await,
        rows(&[
            ("lina", 1, 5),
            ("zhangwei", 1, 5),
            ("wangfang", 1, 5),
            ("liuyang", 4, 3)
        ])
    );
    for size in DEPARTMENT_INDEX_SIZES {
        let index = leaderboards(&db.store, indexing(size), now()).await;
        // 研发部 and 前端组 under it.
        assert_eq!(
            board(&index, &query(Window::Week, None, Some("rd"))).await,
            rows(&[("zhangwei", 1, 5), ("wangfang", 1, 5)]),
            "{size}"
        );
        let sales = query(Window::Week, None, Some("sales"));
        let mine = index.people(&sales, Some("lina"), now()).await.unwrap();
        assert_eq!((mine.me.unwrap().rank, mine.ranked), (2, 2), "{size}");
        let outside = index.people(&sales, Some("zhangwei"), now()).await.unwrap();
        assert_eq!(outside.me, None, "not in 销售部 ({size})");
    }
}

async fn excluded_people_and_departments_are_never_ranked(db: &TestDb) {
    seed(db).await;
    let index = leaderboards(&db.store, settings(TiePolicy::Shared, hr_excluded()), now()).await;
    let all = index
        .people(&query(Window::All, None, None), Some("hr"), now())
        .await
        .unwrap();
    assert_eq!(all.me, None, "hr grants points and is not ranked");
    assert_eq!(all.ranked, 4);
    assert!(all.top.iter().all(|r| r.userid != "hr"));
    let no_rd = Exclusions {
        departments: ["rd".to_string()].into(),
        ..hr_excluded()
    };
    let index = leaderboards(&db.store, settings(TiePolicy::Shared, no_rd), now()).await;
    assert_eq!(
        board(&index, &query(Window::Week, None, None)).await,
        rows(&[("liuyang", 1, 3), ("lina", 2, 0)]),
        "rd-web is under rd"
    );
}

async fn new_hires_wait_for_a_whole_period_when_asked(db: &TestDb) {
    seed(db).await;
    let mut tx = db.store.begin().await.unwrap();
    let mut liuyang: Employee = db.store.employee("liuyang").await.unwrap().unwrap();
    liuyang.hired_at = Some("2026-11-16T01:00:00Z".parse().unwrap()); // Monday 09:00
    tx.upsert_employee(&liuyang).await.unwrap();
    tx.commit().await.unwrap();
    let whole = Exclusions {
        whole_period_only: true,
        ..hr_excluded()
    };
    let index = leaderboards(&db.store, settings(TiePolicy::Shared, whole), now()).await;
    let week = index
        .people(&query(Window::Week, None, None), Some("liuyang"), now())
        .await
        .unwrap();
    assert_eq!(week.me, None, "joined after the week began");
    assert_eq!(week.ranked, 3);
    let all = index
        .people(&query(Window::All, None, None), Some("liuyang"), now())
        .await
        .unwrap();
    assert_eq!(all.me.unwrap().rank, 4, "all time has no first day to miss");
    let index = leaderboards(&db.store, settings(TiePolicy::Shared, hr_excluded()), now()).await;
    let week = index
        .people(&query(Window::Week, None, None), Some("liuyang"), now())
        .await
        .unwrap();
    assert_eq!(week.me.unwrap().rank, 3, "ranked when the option is off");
}

async fn boards_follow_new_entries_and_reversals(db: &TestDb) {
    seed(db).await;
    let store = db.store.as_ref();
    let index = leaderboards(&db.store, settings(TiePolicy::Shared, hr_excluded()), now()).await;
    let october = query(Window::Month, Some("2026-10"), None);
    assert_eq!(
        board(&index, &october).await[0].2,
        0,
        "nothing in October yet"
    );

    let big = manual(store, "boss", "liuyang", 10, false, "2026-11-17T02:00:00Z").await;
    manual(store, "boss", "lina", 7, false, "2026-10-20T02:00:00Z").await;
    let before = board(&index, &query(Window::Week, None, None)).await;
    assert_eq!(
        before[0].0, "zhangwei",
        "nothing changes before the index reads the ledger"
    );
    assert_eq!(index.catch_up(now()).await.unwrap(), 2);
    assert_eq!(
        board(&index, &query(Window::Week, None, None)).await[0],
        ("liuyang".to_string(), 1, 13)
    );
    assert_eq!(
        board(&index, &october).await[0],
        ("lina".to_string(), 1, 7),
        "a board built on demand follows new entries too"
    );
    assert_eq!(
        board(&index, &query(Window::Year, None, None)).await[..2],
        rows(&[("liuyang", 1, 13), ("lina", 2, 12)])
    );

    let mut tx = store.begin().await.unwrap();
    ledger::reverse(tx.as_mut(), big, "boss", "录入错误", now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    index.catch_up(now()).await.unwrap();
    let week = index
        .people(&query(Window::Week, None, None), Some("liuyang"), now())
        .await
        .unwrap();
    assert_eq!(
        (week.me.unwrap().rank, week.top[0].userid.as_str()),
        (3, "zhangwei")
    );

    // Pending points count once approved.
    let pending = manual(store, "boss", "lina", 20, true, "2026-11-17T03:00:00Z").await;
    index.catch_up(now()).await.unwrap();
    assert_eq!(
        board(&index, &query(Window::Week, None, None)).await[0].0,
        "zhangwei"
    );
    let mut tx = store.begin().await.unwrap();
    ledger::resolve(tx.as_mut(), pending, Decision::Approve, "hr", "", now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    index.catch_up(now()).await.unwrap();
    assert_eq!(
        board(&index, &query(Window::Week, None, None)).await[0],
        ("lina".to_string(), 1, 20)
    );
    // A rebuilt index agrees with the one kept current.
    let fresh = leaderboards(&db.store, settings(TiePolicy::Shared, hr_excluded()), now()).await;
    for q in [
        query(Window::Week, None, None),
        query(Window::Month, Some("2026-10"), None),
        query(Window::All, None, None),
    ] {
        assert_eq!(board(&fresh, &q).await, board(&index, &q).await, "{q:?}");
    }
}

async fn departments_are_ranked_by_total_and_per_head(db: &TestDb) {
    seed(db).await;
    let store = db.store.as_ref();
    manual(store, "boss", "lina", 9, false, "2026-11-17T02:00:00Z").await;
    let mut indexes = Vec::new();
    for size in DEPARTMENT_INDEX_SIZES {
        indexes.push(leaderboards(&db.store, indexing(size), now()).await);
    }
    let week = query(Window::Week, None, None);
    let by = |index: &Arc<LeaderboardIndex>, order| {
        let index = index.clone();
        let week = week.clone();
        async move {
            index
                .departments(&week, order, now())
                .await
                .unwrap()
                .top
                .into_iter()
                .map(|r| (r.department_id, r.rank, r.points, r.members, r.per_head))
                .collect::<Vec<_>>()
        }
    };
    for index in &indexes {
        // 研发部: zhangwei 5 + wangfang 5 (in 前端组 below it); 销售部: lina 9 + liuyang 3.
        assert_eq!(
            by(index, DepartmentOrder::Total).await,
            [
                ("sales".to_string(), 1, 12, 2, 6.0),
                ("rd".to_string(), 2, 10, 2, 5.0)
            ]
        );
        let rd = index
            .departments(
                &query(Window::Week, None, Some("rd")),
                DepartmentOrder::PerHead,
                now(),
            )
            .await
            .unwrap();
        assert_eq!(rd.parent, "rd");
        assert_eq!(rd.top.len(), 1);
        assert_eq!(
            (rd.top[0].department_id.as_str(), rd.top[0].points),
            ("rd-web", 5)
        );
    }
    // A new entry moves the departments' totals, kept in order or not.
    manual(store, "boss", "wangfang", 7, false, "2026-11-18T02:00:00Z").await;
    for index in &indexes {
        index.catch_up(now()).await.unwrap();
        assert_eq!(
            by(index, DepartmentOrder::PerHead).await,
            [
                ("rd".to_string(), 1, 17, 2, 8.5),
                ("sales".to_string(), 2, 12, 2, 6.0)
            ]
        );
    }
}

async fn entries_committed_out_of_id_order_are_each_counted_once(db: &TestDb) {
    seed(db).await;
    let index = leaderboards(&db.store, settings(TiePolicy::Shared, hr_excluded()), now()).await;
    let all = query(Window::All, None, None);
    let points = |userid: &'static str| {
        let index = index.clone();
        let all = all.clone();
        async move {
            index
                .people(&all, Some(userid), now())
                .await
                .unwrap()
                .me
                .unwrap()
                .points
        }
    };
    if db.store.backend() == Backend::Postgres {
        // The first transaction takes the lower id but commits last.
        let mut first = db.store.begin().await.unwrap();
        let post = |userid: &str, points: i64| ledger::ManualPost {
            actor: "boss".into(),
            userid: userid.into(),
            points,
            reason: "测试".into(),
            category: "manual".into(),
            source_key: format!("gap:{userid}"),
            review: false,
            occurred_at: now(),
        };
        ledger::post_manual(first.as_mut(), &post("lina", 100), now())
            .await
            .unwrap();
        let mut second = db.store.begin().await.unwrap();
        ledger::post_manual(second.as_mut(), &post("liuyang", 50), now())
            .await
            .unwrap();
        second.commit().await.unwrap();
        index.catch_up(now()).await.unwrap();
        assert_eq!(points("liuyang").await, 53);
        assert_eq!(points("lina").await, 5, "not committed yet");
        first.commit().await.unwrap();
        index.catch_up(now()).await.unwrap();
        index.catch_up(now()).await.unwrap();
        assert_eq!(points("lina").await, 105);
        assert_eq!(points("liuyang").await, 53, "counted once");
    } else {
        // SQLite has one writer, so ids commit in order; the same steps in sequence.
        manual(db.store.as_ref(), "boss", "liuyang", 50, false, NOW).await;
        index.catch_up(now()).await.unwrap();
        index.catch_up(now()).await.unwrap();
        assert_eq!(points("liuyang").await, 53);
    }
}

async fn unknown_people_departments_and_periods_are_refused(db: &TestDb) {
    seed(db).await;
    let index: Arc<LeaderboardIndex> =
        leaderboards(&db.store, settings(TiePolicy::Shared, hr_excluded()), now()).await;
    let week = query(Window::Week, None, None);
    assert!(matches!(
        index.people(&week, Some("nobody"), now()).await,
        Err(LeaderboardError::UnknownPerson(_))
    ));
    assert!(matches!(
        index
            .people(&query(Window::Week, None, Some("nowhere")), None, now())
            .await,
        Err(LeaderboardError::UnknownDepartment(_))
    ));
    assert!(matches!(
        index
            .people(&query(Window::Month, Some("2026-13"), None), None, now())
            .await,
        Err(LeaderboardError::Window(_))
    ));
    assert!(matches!(
        index
            .departments(
                &query(Window::Week, None, Some("nowhere")),
                DepartmentOrder::Total,
                now()
            )
            .await,
        Err(LeaderboardError::UnknownDepartment(_))
    ));
}

async fn people_who_left_are_never_ranked_and_unactivated_ones_are(db: &TestDb) {
    seed(db).await;
    // 刘洋 never activated the DingTalk app; 李娜 left the company on Monday.
    let mut tx = db.store.begin().await.unwrap();
    let mut liuyang: Employee = db.store.employee("liuyang").await.unwrap().unwrap();
    liuyang.active = false;
    tx.upsert_employee(&liuyang).await.unwrap();
    assert!(
        tx.mark_left("lina", "2026-11-16T02:00:00Z".parse().unwrap())
            .await
            .unwrap()
    );
    assert!(!tx.mark_left("lina", now()).await.unwrap(), "left once");
    tx.commit().await.unwrap();
    let index = leaderboards(&db.store, settings(TiePolicy::Shared, hr_excluded()), now()).await;
    for window in [Window::Week, Window::Month, Window::All] {
        let board = index
            .people(&query(window, None, None), Some("lina"), now())
            .await
            .unwrap();
        assert_eq!(board.me, None, "{window:?}: who left is not ranked");
        assert!(board.top.iter().all(|r| r.userid != "lina"));
        assert!(
            board.top.iter().any(|r| r.userid == "liuyang"),
            "{window:?}: not having activated DingTalk is no reason to be left off"
        );
    }
    // Their entries stay theirs.
    assert!(!db.store.entries("lina", 10, None).await.unwrap().is_empty());
    let lina = db.store.employee("lina").await.unwrap().unwrap();
    assert!(!lina.is_employed());
}
