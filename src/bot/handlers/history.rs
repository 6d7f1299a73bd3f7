//! `明细` / `history`: one's entries of a month (this month by default), each with its
//! explanation.

use jiff::Timestamp;

use crate::bot::dispatch::Sender;
use crate::bot::{Bot, BotError, text};
use crate::domain::Month;
use crate::domain::calendar::PeriodKind;

/// More than this many entries in a month: HR's export has them all.
const SHOWN: usize = 30;

pub(in crate::bot) async fn answer(
    bot: &Bot,
    sender: &Sender<'_>,
    month: Option<Month>,
    now: Timestamp,
) -> Result<String, BotError> {
    let month = month.unwrap_or_else(|| Month::of(bot.calendar.local_date(now)));
    let period = bot
        .calendar
        .period_of(PeriodKind::Month, month.first_day())?;
    let mut entries = bot
        .store
        .entries_between(
            Some(sender.userid),
            period.start,
            period.end,
            0,
            SHOWN as i64 + 1,
        )
        .await?;
    let more = entries.len() > SHOWN;
    entries.truncate(SHOWN);
    Ok(text::history(
        sender.lang,
        &month.to_string(),
        &entries,
        more,
    ))
}
