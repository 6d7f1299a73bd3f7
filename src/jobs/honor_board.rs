//! The weekly honor board job: ranks last week against the week before, renders the card
//! (`honor.rs`) and queues it for each configured group through the outbox, keyed by group
//! and week, so a group never gets the same week's board twice.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::JobError;
use crate::domain::Calendar;
use crate::domain::calendar::{CalendarError, Period, PeriodKind};
use crate::honor::{Placing, render, standings};
use crate::leaderboard::board::{Board, Person};
use crate::leaderboard::directory::Directory;
use crate::leaderboard::{Exclusions, TiePolicy};
use crate::outbox::ROBOT_GROUP;
use crate::store::{DepartmentTotal, NewOutboxRow, Store};

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
    let [this_week, previous] =
        week_boards(store, &directory, &settings.ranking, [&last, &before]).await?;
    let tie = settings.tie;
    let ranked = standings(
        this_week
            .top(this_week.len(None), None, tie)
            .into_iter()
            .map(|p| Placing {
                rank: p.rank,
                name: directory.member(p.person).name.clone(),
                points: p.points,
                rank_before: previous.place(p.person, None, tie).map(|was| was.rank),
            }),
    );
    let leading = leading_department(&directory, &this_week, &last, &settings.ranking);
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

/// The boards of two weeks as the leaderboards rank them, of the people who earned or lost
/// points in each: the same people in the same order as on `GET /api/v1/leaderboard`.
async fn week_boards(
    store: &dyn Store,
    directory: &Directory,
    ranking: &Exclusions,
    weeks: [&Period; 2],
) -> Result<[Board; 2], JobError> {
    let ranges = weeks.map(|w| (w.start.as_millisecond(), w.end.as_millisecond()));
    let sums = store.score_sums(&ranges, i64::MAX).await?;
    let mut boards = [Board::default(), Board::default()];
    for s in &sums {
        let Some(person) = directory.person(&s.userid) else {
            continue;
        };
        for ((board, week), sum) in boards.iter_mut().zip(weeks).zip(&s.sums) {
            if sum.achieved_at.is_some() && directory.is_ranked(person, Some(week), ranking) {
                board.load(person, sum.points, sum.achieved_at);
                board.set_ranked(person, true);
            }
        }
    }
    Ok(boards)
}

/// The department directly under the top with the most points, counting the departments
/// under it and the people ranked in them, as the leaderboards' department board does.
fn leading_department(
    directory: &Directory,
    board: &Board,
    week: &Period,
    ranking: &Exclusions,
) -> Option<DepartmentTotal> {
    let top = directory.department(directory.root()?)?;
    top.children
        .iter()
        .map(|id| {
            let people: Vec<Person> = directory
                .members_under(id)
                .into_iter()
                .filter(|&p| directory.is_ranked(p, Some(week), ranking))
                .collect();
            DepartmentTotal {
                department_id: id.clone(),
                name: directory
                    .department(id)
                    .map(|d| d.name.clone())
                    .unwrap_or_default(),
                score: people.iter().map(|&p| board.points(p)).sum(),
                members: people.len() as i64,
            }
        })
        .max_by(|a, b| {
            a.score
                .cmp(&b.score)
                .then_with(|| b.department_id.cmp(&a.department_id))
        })
}
