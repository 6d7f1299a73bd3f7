//! `导出` / `export`: a signed link to a month's entries as CSV, valid for a limited time.

use jiff::Timestamp;

use crate::bot::dispatch::Sender;
use crate::bot::{Bot, Done, Failed, Refusal, text};
use crate::domain::Month;
use crate::export::Download;

pub(in crate::bot) fn change(
    bot: &Bot,
    sender: &Sender<'_>,
    month: Month,
    now: Timestamp,
) -> Result<Done, Failed> {
    let Some(links) = &bot.export else {
        return Err(Failed::refused(Refusal::ExportsOff, ""));
    };
    Ok(Done {
        answer: text::export_link(
            sender.lang,
            month,
            &links.link(month, Download::Entries, now),
            links.minutes(),
        ),
        subject: String::new(),
    })
}
