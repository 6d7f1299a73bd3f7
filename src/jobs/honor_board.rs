//! The weekly honor board job: ranks last week against the week before, renders the card
//! (`honor.rs`) and queues it for each configured group through the outbox, keyed by group
//! and week, so a group never gets the same week's board twice.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::JobError;
use crate::domain::Calendar;
use crate::domain::calendar::{CalendarError, PeriodKind};
use crate::honor::{render, standings};
use crate::leaderboard::Exclusions;
use crate::leaderboard::directory::Directory;
use crate::outbox::ROBOT_GROUP;
use crate::store::{NewOutboxRow, Ranked, Store};

/// Who gets the board, and who is left off it.
#[derive(Debug, Clone, Default)]
pub struct HonorSettings {
    /// Group chats (openConversationIds).
    pub groups: Vec<String>,
    /// The employee page the card's button opens.
    pub page_url: Option<String>,
    /// People left off this board only, such as the HR staff who grant points.
    pub excluded: HashSet<String>,
    /// The leaderboards' exclusions (`[leaderboard]`), which hold here too.
    pub ranking: Exclusions,
}

/// Everyone with points in a week: far more than any organisation has people.
const EVERYONE: i64 = 10_000_000;

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
    let mut board = store
        .leaderboard(Some((last.start, last.end)), None, EVERYONE)
        .await?;
    let mut previous = store
        .leaderboard(Some((before.start, before.end)), None, EVERYONE)
        .await?;
    // The same people as on the leaderboards: in the directory, active, not excluded, and
    // employed all week when `whole_period_only` asks for it.
    let directory = Directory::build(
        &Directory::default(),
        store.directory().await?,
        &settings.ranking,
    );
    let ranked_in = |period| {
        let directory = &directory;
        move |r: &Ranked| {
            directory
                .person(&r.userid)
                .is_some_and(|p| directory.is_ranked(p, Some(period), &settings.ranking))
        }
    };
    board.retain(ranked_in(&last));
    previous.retain(ranked_in(&before));
    let leading = store
        .department_leaderboard(last.start, last.end, 1)
        .await?;
    let ranked = standings(&board, &previous, &settings.excluded);
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
        leading.first(),
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
