//! `颁发` / `badge`: an HR admin grants a `manual` badge to one mentioned person, with a
//! reason; it is announced like an earned one.

use jiff::Timestamp;

use crate::badges;
use crate::bot::dispatch::Sender;
use crate::bot::text::badges as text;
use crate::bot::{Bot, Done, Failed, Refusal};
use crate::outbox;
use crate::store::StoreTx;

pub(in crate::bot) async fn grant(
    bot: &Bot,
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    who: &str,
    badge: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Done, Failed> {
    let Some(person) = bot.store.employee(who).await? else {
        return Err(Failed::refused(Refusal::UnknownPerson, who));
    };
    let book = &bot.badging.book;
    let granted =
        match badges::grant_by_hand(tx, book, badge, who, sender.userid, reason, now).await {
            Ok(granted) => granted,
            Err(badges::BadgeError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(Failed::refused(Refusal::Badge(Box::new(e)), who)),
        };
    for row in outbox::badge_notifications(&granted, &bot.badging.groups) {
        tx.enqueue_outbox(&row).await?;
    }
    Ok(Done {
        answer: text::granted(sender.lang, &person.name, &granted),
        subject: who.to_string(),
    })
}
