//! The weekly honor board job: ranks last week against the week before, renders the card
//! (`honor.rs`) and queues it for each configured group through the outbox, keyed by group
//! and week, so a group never gets the same week's board twice.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::JobError;
use crate::config::Config;
use crate::dingtalk::card::CardSpace;
use crate::domain::Calendar;
use crate::domain::calendar::{CalendarError, PeriodKind};
use crate::honor::{HONOR_CARD, Placing, card_id, card_params, render, standings};
use crate::leaderboard::directory::Directory;
use crate::leaderboard::index::boards_from_sums;
use crate::leaderboard::{DepartmentOrder, Exclusions, TiePolicy, rank_departments};
use crate::outbox::{CARD, CardPush, ROBOT_GROUP};
use crate::store::{Card, NewOutboxRow, Store};

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
    /// The interactive card's template (`[cards] honor_board_template`); without it, the
    /// markdown card goes out.
    pub card_template: Option<String>,
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
            card_template: config.cards.honor_board_template.clone(),
        }
    }
}

/// Queues the board of the week before the one holding slot `at`; it goes out at once
/// (`now`), also when a slot is run by hand ahead of time.
pub async fn post_honor_board(
    store: &dyn Store,
    calendar: &Calendar,
    settings: &HonorSettings,
    at: Timestamp,
    now: Timestamp,
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
    if settings.groups.is_empty() {
        return Ok(format!(
            "week {label}: {} on the board; no groups configured (jobs.honor_board.groups), nothing sent",
            ranked.len()
        ));
    }
    let page_url = settings.page_url.as_deref();
    let mut tx = store.begin().await?;
    let mut queued = 0;
    for group in &settings.groups {
        let (channel, payload) = match &settings.card_template {
            Some(template) => {
                let out_track_id = card_id(group, last.first_day);
                let card = Card {
                    out_track_id: out_track_id.clone(),
                    kind: HONOR_CARD.into(),
                    space: group.clone(),
                    period: last.first_day.to_string(),
                    created_at: now,
                };
                tx.record_card(&card).await?;
                let push = CardPush {
                    template_id: template.clone(),
                    out_track_id,
                    params: card_params(&label, &ranked, leading.as_ref(), page_url),
                    spaces: vec![CardSpace::Group(group.clone())],
                };
                (CARD, json!(push))
            }
            None => (
                ROBOT_GROUP,
                json!(render(&label, &ranked, leading.as_ref(), page_url)),
            ),
        };
        let row = NewOutboxRow {
            dedup_key: format!("honor:{group}:{}", last.first_day),
            channel: channel.into(),
            recipient: group.clone(),
            payload,
            due_at: now,
            created_at: now,
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
