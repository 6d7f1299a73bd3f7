//! `赞` / `thanks`: a person thanks a colleague with a few points out of their monthly
//! allowance (never their balance); the colleague is told who thanked them and why.

use jiff::Timestamp;

use crate::bot::command::Lang;
use crate::bot::dispatch::Sender;
use crate::bot::{Bot, Done, Failed, Refusal};
use crate::ledger;
use crate::outbox;
use crate::store::StoreTx;

pub(in crate::bot) async fn change(
    bot: &Bot,
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    who: &str,
    points: i64,
    reason: &str,
    now: Timestamp,
) -> Result<Done, Failed> {
    let Some(person) = bot.store.employee(who).await? else {
        return Err(Failed::refused(Refusal::UnknownPerson, who));
    };
    let recognised = ledger::recognise(
        tx,
        &bot.calendar,
        bot.settings.recognition,
        sender.userid,
        who,
        points,
        reason,
        &sender.source,
        now,
    )
    .await
    .map_err(|e| Failed::ledger(e, who))?;
    let entry = &recognised.entry;
    tx.enqueue_outbox(&outbox::change_notification(
        entry,
        &format!("{} 给你点赞 +{points}", sender.me.name),
        &format!("{} thanked you: +{points}", sender.me.name),
    ))
    .await?;
    let (name, left) = (&person.name, recognised.left);
    Ok(Done {
        answer: match sender.lang {
            Lang::Zh => format!("已给 {name} 点赞 +{points}（本月还可送 {left} 分）。"),
            Lang::En => format!("Thanked {name} with +{points} ({left} left to give this month)."),
        },
        subject: who.to_string(),
    })
}
