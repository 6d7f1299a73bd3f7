//! `积分` / `points`: one's score, balance and pending points, place in the company and the
//! first department, level and badges, and the latest entries.

use jiff::Timestamp;

use super::{department_name, place};
use crate::bot::dispatch::Sender;
use crate::bot::{Bot, BotError, text};

pub(in crate::bot) async fn answer(
    bot: &Bot,
    sender: &Sender<'_>,
    now: Timestamp,
) -> Result<String, BotError> {
    let userid = sender.userid;
    let totals = bot
        .store
        .account(userid)
        .await?
        .map(|a| a.totals)
        .unwrap_or_default();
    let company = place(bot, userid, None, now).await?;
    let department = match sender.me.departments.first() {
        Some(id) => Some((
            department_name(bot, id).await?,
            place(bot, userid, Some(id), now).await?,
        )),
        None => None,
    };
    let recent = bot.store.entries(userid, 5, None).await?;
    let held = bot.store.badges_of(userid).await?;
    let milestones = text::badges::milestones(sender.lang, &bot.badging.book, totals.score, &held);
    let department = department.as_ref().map(|(n, p)| (n.as_str(), *p));
    Ok(text::standing(
        sender.lang,
        &sender.me.name,
        totals,
        company,
        department,
        &milestones,
        &recent,
    ))
}
