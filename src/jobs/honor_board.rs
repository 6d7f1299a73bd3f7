//! The weekly honor board job: ranks last week against the week before, renders the card
//! (`honor.rs`) and queues it for each configured group through the outbox, keyed by group
//! and week, so a group never gets the same week's board twice.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::JobError;
use crate::config::Config;
use crate::domain::Calendar;
use crate::domain::calendar::{CalendarError, PeriodKind};
use crate::honor::{Placing, render, standings};
use crate::leaderboard::directory::Directory;
use crate::leaderboard::index::boards_from_sums;
use crate::leaderboard::{DepartmentOrder, Exclusions, TiePolicy, rank_departments};
use crate::outbox::ROBOT_GROUP;
use crate::store::{NewOutboxRow, Store};

/// Who gets the board, and how it ranks.
#[derive(Debug, Clone, Default)]
pub struct HonorSettings {
    /// Group chats (openConversationIds).
    pub groups: Vec<String>,
    /// The employee page the card's button opens.
    pub page_url: Option<String>,
    /// The leaderboards' tie policy (`[leaderboard] tie`).
    pub tie: TiePolicy,
    /// The leaderboards' exclusions, with the people left off this board only
    /// (`[jobs.honor_board] exclude`) among them.
    pub ranking: Exclusions,
}

impl HonorSettings {
    /// `[jobs.honor_board]`, ranked by the `[leaderboard]` settings.
    pub fn from_config(config: &Config) -> HonorSettings {
        let h = &config.jobs.honor_board;
        let leaderboard = config.leaderboard_settings();
        let mut ranking = leaderboard.exclusions;
        ranking.people.extend(h.exclude.iter().cloned());
        HonorSettings {
            groups: h.groups.clone(),
            // The card's button opens the employee page, wherever browsers reach jifen.
            page_url: h.page_url.clone().or_else(|| {
                config
                    .robot
                    .public_url
                    .as_ref()
                    .map(|url| format!("{}/app", url.trim_end_matches('/')))
            }),
            tie: leaderboard.tie,
            ranking,
        }
    }
}

pub async fn post_honor_board(
    store: &dyn Store,
    calendar: &Calendar,
    settings: &HonorSettings,
    at: Timestamp,
) -> Result<String, JobError> {
    let week_before = |t: Timestamp| -> Result<_, CalendarError> {
        let start = calendar.period_containing(PeriodKind::Week, t)?.start;
        calendar.period_containing(PeriodKind::Week, start - SignedDuration::from_millis(1))
    };
    let last = week_before(at)?;
    let before = week_before(last.start)?;
    let directory = Directory::build(
        &Directory::default(),
        store.directory().await?,
        &settings.ranking,
    );
    let ranges = [&last, &before].map(|w| (w.start.as_millisecond(), w.end.as_millisecond()));
    let sums = store.score_sums(&ranges, i64::MAX).await?;
    let boards = boards_from_sums(
        &directory,
        &sums,
        &[Some(&last), Some(&before)],
        &settings.ranking,
    );
    let (this_week, previous) = (&boards[0], &boards[1]);
    let tie = settings.tie;
    let ranked = standings(
        this_week
            .top(this_week.len(None), None, tie)
            .into_iter()
            .map(|p| Placing {
                rank: p.rank,
                name: directory.member(p.person).name.clone(),
                points: p.points,
                // Someone without an entry the week before is new on the board.
                rank_before: previous
                    .place(p.person, None, tie)
                    .filter(|_| previous.has_scored(p.person))
                    .map(|was| was.rank),
            }),
    );
    // Of the departments directly under the top, counting those below them.
    let leading = match directory.root() {
        Some(top) => rank_departments(&directory, this_week, top, DepartmentOrder::Total, tie)?
            .into_iter()
            .next(),
        None => None,
    };
    let last_day = calendar.local_date(last.end - SignedDuration::from_millis(1));
    let label = format!(
        "{} – {:02}-{:02}",
        last.first_day,
        last_day.month(),
        last_day.day()
    );
    let card = render(
        &label,
        &ranked,
        leading.as_ref(),
        settings.page_url.as_deref(),
    );
    if settings.groups.is_empty() {
        return Ok(format!(
            "week {label}: {} on the board; no groups configured (jobs.honor_board.groups), nothing sent",
            ranked.len()
        ));
    }
    let mut tx = store.begin().await?;
    let mut queued = 0;
    for group in &settings.groups {
        let row = NewOutboxRow {
            dedup_key: format!("honor:{group}:{}", last.first_day),
            channel: ROBOT_GROUP.into(),
            recipient: group.clone(),
            payload: json!(card),
            due_at: at,
            created_at: at,
        };
        if tx.enqueue_outbox(&row).await? {
            queued += 1;
        }
    }
    tx.commit().await?;
    Ok(format!(
        "week {label}: {} on the board, queued for {queued} of {} groups",
        ranked.len(),
        settings.groups.len()
    ))
}
