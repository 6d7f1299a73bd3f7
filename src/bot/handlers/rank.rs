//! `排行` / `rank`: the top ten of a window, in the company or one's department, and one's
//! own place, ranked by the leaderboard index.

use jiff::Timestamp;

use super::department_name;
use crate::bot::dispatch::Sender;
use crate::bot::text::{self, Unserved};
use crate::bot::{Bot, BotError};
use crate::leaderboard::{BoardQuery, Window};

pub(in crate::bot) async fn answer(
    bot: &Bot,
    sender: &Sender<'_>,
    window: Window,
    department: bool,
    now: Timestamp,
) -> Result<String, BotError> {
    let lang = sender.lang;
    let (scope, scope_name) = match (department, sender.me.departments.first()) {
        (false, _) => (None, None),
        (true, Some(id)) => (Some(id.clone()), Some(department_name(bot, id).await?)),
        (true, None) => return Ok(text::unserved(Unserved::NoDepartment, lang)),
    };
    let query = BoardQuery {
        window,
        period: None,
        department: scope,
        limit: 10,
    };
    let board = bot
        .leaderboard
        .people(&query, Some(sender.userid), now)
        .await?;
    let title = text::rank_title(lang, window, scope_name.as_deref());
    Ok(text::leaderboard(
        lang,
        &title,
        &board.top,
        board.me.as_ref(),
    ))
}
