//! The challenge board: this month's team challenges, each with its department's progress
//! as a meter, as one card to each of the honor board's groups, keyed by group and slot so
//! a group gets each run's card once. Teams see how far they are while there is time left.

use jiff::Timestamp;
use serde_json::json;

use super::JobError;
use super::honor_board::HonorSettings;
use crate::badges::Badging;
use crate::bot::text::badges::challenge_line;
use crate::dingtalk::openapi::Message;
use crate::domain::calendar::PeriodKind;
use crate::domain::{Calendar, Lang, Month};
use crate::outbox::ROBOT_GROUP;
use crate::store::{NewOutboxRow, Store};

/// Queues the card of the challenges of the month holding `at`.
pub async fn post_challenge_board(
    store: &dyn Store,
    calendar: &Calendar,
    badging: &Badging,
    settings: &HonorSettings,
    at: Timestamp,
    now: Timestamp,
) -> Result<String, JobError> {
    let day = calendar.local_date(at);
    let month = Month::of(day);
    let book = &badging.book;
    let mut lines = Vec::new();
    for c in book.challenges.iter().filter(|c| c.month == month) {
        let period = calendar.period_of(PeriodKind::Month, c.month.first_day())?;
        let progress = store
            .team_points(&c.department, &c.category, period.start, period.end)
            .await?;
        let department = store
            .department(&c.department)
            .await?
            .map_or_else(|| c.department.clone(), |d| d.name);
        lines.push(challenge_line(Lang::Zh, book, c, &department, progress));
    }
    if lines.is_empty() {
        return Ok(format!("no team challenges in {month}; nothing sent"));
    }
    if settings.groups.is_empty() {
        return Ok(format!(
            "{} team challenges in {month}; no groups configured (jobs.honor_board.groups), nothing sent",
            lines.len()
        ));
    }
    let message = render(month, &lines, settings.page_url.as_deref());
    let mut tx = store.begin().await?;
    let mut queued = 0;
    for group in &settings.groups {
        let row = NewOutboxRow {
            dedup_key: format!("challenges:{group}:{day}"),
            channel: ROBOT_GROUP.into(),
            recipient: group.clone(),
            payload: json!(message),
            due_at: now,
            created_at: now,
        };
        if tx.enqueue_outbox(&row).await? {
            queued += 1;
        }
    }
    tx.commit().await?;
    Ok(format!(
        "{} team challenges in {month}, queued for {queued} of {} groups",
        lines.len(),
        settings.groups.len()
    ))
}

/// The card: a heading, one line per challenge, and a button to the rewards page (where
/// each person sees their teams' meters) when jifen's page has an address.
fn render(month: Month, lines: &[String], page_url: Option<&str>) -> Message {
    let title = format!("团队挑战 · {month}");
    let text = format!("### 🎯 {title}\n\n{}", lines.join("\n"));
    match page_url {
        Some(url) => Message::ActionCard {
            title,
            text,
            button: "查看我的团队 My teams".into(),
            url: format!("{}/rewards", url.trim_end_matches('/')),
        },
        None => Message::Markdown { title, text },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_lists_each_challenge_and_opens_the_rewards_page_when_there_is_one() {
        let month = Month::new(2026, 11).unwrap();
        let lines = ["- 销售冲刺：310/500".to_string()];
        match render(month, &lines, Some("https://jifen.example.com/app/")) {
            Message::ActionCard {
                title, text, url, ..
            } => {
                assert_eq!(title, "团队挑战 · 2026-11");
                assert!(text.ends_with("- 销售冲刺：310/500"), "{text}");
                assert_eq!(url, "https://jifen.example.com/app/rewards");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            render(month, &lines, None),
            Message::Markdown { .. }
        ));
    }
}
