//! `批准` / `approve` and `驳回` / `reject`: an HR admin decides a pending entry, never one
//! they made themselves (four eyes).

use jiff::Timestamp;

use crate::bot::dispatch::Sender;
use crate::bot::{Bot, Done, Failed, Refusal, text};
use crate::ledger::{self, Decision};
use crate::outbox;
use crate::store::StoreTx;

pub(in crate::bot) async fn approve(
    _bot: &Bot,
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    entry: i64,
    now: Timestamp,
) -> Result<Done, Failed> {
    decide(tx, sender, entry, Decision::Approve, "", now).await
}

pub(in crate::bot) async fn reject(
    _bot: &Bot,
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    entry: i64,
    reason: &str,
    now: Timestamp,
) -> Result<Done, Failed> {
    decide(tx, sender, entry, Decision::Reject, reason, now).await
}

async fn decide(
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    entry: i64,
    decision: Decision,
    reason: &str,
    now: Timestamp,
) -> Result<Done, Failed> {
    let original = tx.entry(entry).await?;
    let subject = original
        .as_ref()
        .map(|e| e.userid.clone())
        .unwrap_or_default();
    if original.is_some_and(|e| e.actor.as_deref() == Some(sender.userid)) {
        return Err(Failed::refused(Refusal::OwnAward, &subject));
    }
    let resolution = ledger::resolve(tx, entry, decision, sender.userid, reason, now)
        .await
        .map_err(|e| Failed::ledger(e, &subject))?;
    let (zh, en) = text::reviewed_headline(entry, decision);
    tx.enqueue_outbox(&outbox::change_notification(&resolution, &zh, &en))
        .await?;
    Ok(Done {
        answer: text::reviewed(sender.lang, entry, decision, resolution.id),
        subject,
    })
}
