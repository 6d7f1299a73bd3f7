//! `申诉` / `appeal`: a person contests one of their deductions; `申诉列表` / `appeals`
//! lists theirs (and, for HR, the open ones with their age); HR upholds (`申诉成立`,
//! giving back all or part) or rejects (`申诉驳回`), and the person is told either way.

use jiff::Timestamp;

use crate::bot::dispatch::Sender;
use crate::bot::text::appeals as text;
use crate::bot::{Bot, BotError, Done, Failed};
use crate::domain::{AppealStatus, Verdict};
use crate::ledger;
use crate::outbox;
use crate::store::StoreTx;

/// How many appeals an answer lists.
const LISTED: i64 = 20;

pub(in crate::bot) async fn list(
    bot: &Bot,
    sender: &Sender<'_>,
    now: Timestamp,
) -> Result<String, BotError> {
    let mine = bot.store.appeals(Some(sender.userid), None, LISTED).await?;
    let open = if sender.roles.hr_admin {
        let mut open = bot
            .store
            .appeals(None, Some(AppealStatus::Open), LISTED)
            .await?;
        open.reverse();
        Some(open)
    } else {
        None
    };
    Ok(text::appeals(
        sender.lang,
        &mine,
        open.as_deref(),
        &bot.calendar,
        now,
    ))
}

pub(in crate::bot) async fn file(
    bot: &Bot,
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    entry: i64,
    reason: &str,
    now: Timestamp,
) -> Result<Done, Failed> {
    let me = sender.userid;
    let appeal = ledger::file_appeal(tx, entry, me, reason, bot.settings.appeal_window_days, now)
        .await
        .map_err(|e| Failed::ledger(e, me))?;
    Ok(Done {
        answer: text::filed(sender.lang, &appeal),
        subject: me.to_string(),
    })
}

pub(in crate::bot) async fn decide(
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    appeal: i64,
    verdict: Verdict,
    note: &str,
    now: Timestamp,
) -> Result<Done, Failed> {
    let decided = ledger::decide_appeal(tx, appeal, verdict, sender.userid, note, now)
        .await
        .map_err(|e| Failed::ledger(e, ""))?;
    tx.enqueue_outbox(&outbox::appeal_notification(
        &decided.appeal,
        decided.compensation.as_ref(),
    ))
    .await?;
    let userid = &decided.appeal.userid;
    let name = tx
        .employee_name(userid)
        .await?
        .unwrap_or_else(|| userid.clone());
    Ok(Done {
        answer: text::decided(
            sender.lang,
            &decided.appeal,
            &name,
            decided.compensation.as_ref().map(|e| e.points),
        ),
        subject: decided.appeal.userid.clone(),
    })
}
