//! `审计` / `audit`: the latest audit records, of everyone or of one mentioned person.

use crate::bot::dispatch::Sender;
use crate::bot::{Bot, BotError, text};

pub(in crate::bot) async fn answer(
    bot: &Bot,
    sender: &Sender<'_>,
    who: Option<String>,
) -> Result<String, BotError> {
    let records = bot.store.audit_log(who.as_deref(), 20).await?;
    Ok(text::audit(
        sender.lang,
        who.as_deref(),
        &records,
        &bot.calendar,
    ))
}
