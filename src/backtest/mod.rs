//! `jifen rules backtest`: the events the rules saw in a period (kept as they saw them),
//! replayed under a draft rule set through the real ledger on a scratch database, so caps,
//! scope and idempotency count as they would; then compared with what was posted. The
//! live database is only read.

pub mod report;

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::Date;

use self::report::{Line, People, Report, compare};
use crate::domain::{Calendar, PeriodKind};
use crate::ledger::{self, Entry, LedgerError};
use crate::rules::RuleSet;
use crate::store::{SqliteStore, Store, StoreError};

/// Events and entries read at a time.
const PAGE: i64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("to ({to}) is before from ({from})")]
    Backwards { from: Date, to: Date },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Calendar(#[from] crate::domain::calendar::CalendarError),
    #[error("cannot make the scratch database: {0}")]
    Scratch(std::io::Error),
}

/// Replays the events that occurred from `from` to `to` (local days, inclusive) under
/// `draft`, telling `progress` how many were replayed so far.
pub async fn backtest(
    live: &dyn Store,
    draft: &RuleSet,
    calendar: &Calendar,
    (from, to): (Date, Date),
    mut progress: impl FnMut(usize),
) -> Result<Report, BacktestError> {
    if to < from {
        return Err(BacktestError::Backwards { from, to });
    }
    let start = calendar.period_of(PeriodKind::Day, from)?.start;
    let end = calendar.period_of(PeriodKind::Day, to)?.end;
    let dir = tempfile::tempdir().map_err(BacktestError::Scratch)?;
    let url = format!("sqlite:{}", dir.path().join("backtest.db").display());
    let scratch = SqliteStore::connect(&url, 1).await?;
    scratch.migrate().await?;
    let people = copy_directory(live, &scratch).await?;

    let (mut replayed, mut after) = (HashSet::new(), 0);
    loop {
        let page = live.recorded_events(start, end, after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        for (_, event) in page {
            let mut tx = scratch.begin().await?;
            match ledger::post_event(tx.as_mut(), draft, calendar, &event, Timestamp::now()).await {
                Ok(_) => tx.commit().await?,
                // Someone gone from the address book, or a rule the draft cannot apply:
                // the draft posts nothing for it, as it would live.
                Err(LedgerError::Store(e)) => return Err(e.into()),
                Err(_) => {}
            }
            replayed.insert(event.source_key);
        }
        progress(replayed.len());
    }
    let draft_lines = rule_lines(&scratch, start, end, |_| true).await?;
    let posted_lines = rule_lines(live, start, end, |e| replayed.contains(&e.source_key)).await?;
    scratch.close().await;
    Ok(compare(
        replayed.len(),
        &posted_lines,
        &draft_lines,
        &people,
    ))
}

/// The address book, into the scratch database and as the report names it.
async fn copy_directory(live: &dyn Store, scratch: &SqliteStore) -> Result<People, StoreError> {
    let directory = live.directory().await?;
    let parent: HashMap<&str, Option<&str>> = directory
        .departments
        .iter()
        .map(|d| (d.id.as_str(), d.parent_id.as_deref()))
        .collect();
    // Each department with those above it (a bad loop in the data stops the walk).
    let above = |id: &str| {
        let mut chain = vec![id.to_string()];
        let mut at = parent.get(id).copied().flatten();
        while let Some(p) = at {
            if chain.iter().any(|c| c == p) || chain.len() > 256 {
                break;
            }
            chain.push(p.to_string());
            at = parent.get(p).copied().flatten();
        }
        chain
    };
    let mut tx = scratch.begin().await?;
    // Parents before children, so each department finds its parent.
    let mut departments = directory.departments.clone();
    departments.sort_by_key(|d| above(&d.id).len());
    for d in &departments {
        tx.upsert_department(d).await?;
    }
    for person in &directory.people {
        tx.upsert_employee(person).await?;
    }
    tx.commit().await?;

    let counted_in = directory
        .people
        .iter()
        .map(|p| {
            let mut chain: Vec<String> = p.departments.iter().flat_map(|d| above(d)).collect();
            chain.sort();
            chain.dedup();
            (p.userid.clone(), chain)
        })
        .collect();
    let tops: Vec<&str> = directory
        .departments
        .iter()
        .filter(|d| d.parent_id.is_none())
        .map(|d| d.id.as_str())
        .collect();
    Ok(People {
        names: directory
            .people
            .iter()
            .filter(|p| p.active)
            .map(|p| (p.userid.clone(), p.name.clone()))
            .collect(),
        counted_in,
        departments: directory
            .departments
            .iter()
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect(),
        shown: directory
            .departments
            .iter()
            .filter(|d| d.parent_id.as_deref().is_some_and(|p| tops.contains(&p)))
            .map(|d| d.id.clone())
            .collect(),
    })
}

/// Every entry a rule posted that occurred in [start, end) and `keep` keeps.
async fn rule_lines(
    store: &dyn Store,
    start: Timestamp,
    end: Timestamp,
    keep: impl Fn(&Entry) -> bool,
) -> Result<Vec<Line>, StoreError> {
    let (mut lines, mut after) = (Vec::new(), 0);
    loop {
        let page = store.entries_between(None, start, end, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in page.iter().filter(|e| keep(e)) {
            if let Some(rule_id) = &e.rule_id {
                lines.push(Line {
                    userid: e.userid.clone(),
                    rule_id: rule_id.clone(),
                    points: e.points,
                });
            }
        }
    }
    Ok(lines)
}
