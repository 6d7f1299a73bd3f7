//! `撤销` / `revoke`: reverses one entry with a reason, by HR or by a manager of the
//! person's departments; nobody revokes their own entries.

use jiff::Timestamp;

use super::covers;
use crate::bot::dispatch::Sender;
use crate::bot::{Bot, Done, Failed, Refusal, text};
use crate::ledger::{self, LedgerError};
use crate::outbox;
use crate::store::StoreTx;

pub(in crate::bot) async fn change(
    _bot: &Bot,
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    entry: i64,
    reason: &str,
    now: Timestamp,
) -> Result<Done, Failed> {
    let Some(original) = tx.entry(entry).await? else {
        return Err(Failed::ledger(LedgerError::UnknownEntry(entry), ""));
    };
    let subject = original.userid;
    if subject == sender.userid {
        return Err(Failed::refused(Refusal::OwnEntry, &subject));
    }
    if !sender.roles.hr_admin && !covers(tx, &sender.roles, &subject).await? {
        return Err(Failed::refused(
            Refusal::EntryOutsideDepartments { entry },
            &subject,
        ));
    }
    let reversal = ledger::reverse(tx, entry, sender.userid, reason, now)
        .await
        .map_err(|e| Failed::ledger(e, &subject))?;
    let (zh, en) = text::revoked_headline(entry);
    tx.enqueue_outbox(&outbox::change_notification(&reversal, &zh, &en))
        .await?;
    Ok(Done {
        answer: text::revoked(sender.lang, entry, reversal.points, reversal.id),
        subject,
    })
}
