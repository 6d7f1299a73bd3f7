//! The rewards shop: `奖品` / `rewards` lists what the sender may redeem today, `兑换` /
//! `redeem` spends balance on one, `兑换记录` / `redemptions` shows theirs (and HR's queue);
//! the person cancels, HR grants, fulfils or refuses, and the person is told at each step.

use jiff::Timestamp;

use crate::bot::dispatch::Sender;
use crate::bot::text::shop::{self, Offer};
use crate::bot::{Bot, BotError, Done, Failed, Refusal};
use crate::domain::{RedemptionStatus, RedemptionStep};
use crate::ledger::{self, Redeem, Redeemed};
use crate::outbox;
use crate::rules::scope_allows;
use crate::store::StoreTx;

/// How many redemptions an answer lists.
const LISTED: i64 = 20;

pub(in crate::bot) async fn rewards(
    bot: &Bot,
    sender: &Sender<'_>,
    now: Timestamp,
) -> Result<String, BotError> {
    let today = bot.calendar.local_date(now);
    let out = bot.store.rewards_out().await?;
    let departments = bot.store.departments_with_ancestors(sender.userid).await?;
    let offers: Vec<Offer<'_>> = bot
        .catalogue
        .rewards
        .iter()
        .filter(|r| r.available_on(today) && scope_allows(&r.departments, &departments))
        .map(|reward| Offer {
            reward,
            left: reward.left(out.get(&reward.id).copied().unwrap_or(0)),
        })
        .collect();
    let balance = bot
        .store
        .account(sender.userid)
        .await?
        .map_or(0, |a| a.totals.balance);
    Ok(shop::catalogue(sender.lang, &offers, balance))
}

pub(in crate::bot) async fn redemptions(
    bot: &Bot,
    sender: &Sender<'_>,
) -> Result<String, BotError> {
    let mine = bot
        .store
        .redemptions(Some(sender.userid), None, LISTED)
        .await?;
    let waiting = if sender.roles.hr_admin {
        let mut open = bot
            .store
            .redemptions(None, Some(RedemptionStatus::Held), LISTED)
            .await?;
        open.extend(
            bot.store
                .redemptions(None, Some(RedemptionStatus::Approved), LISTED)
                .await?,
        );
        open.sort_by_key(|r| r.id);
        Some(open)
    } else {
        None
    };
    Ok(shop::redemptions(
        sender.lang,
        &mine,
        waiting.as_deref(),
        &bot.calendar,
    ))
}

pub(in crate::bot) async fn redeem(
    bot: &Bot,
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    reward: &str,
    now: Timestamp,
) -> Result<Done, Failed> {
    let me = sender.userid;
    let Some(reward) = bot.catalogue.get(reward) else {
        return Err(Failed::refused(
            Refusal::UnknownReward(reward.to_string()),
            me,
        ));
    };
    let request = Redeem {
        userid: me,
        reward,
        actor: me,
        source_key: &sender.source,
        awaits_approval: false,
    };
    let redeemed = ledger::redeem(tx, &bot.calendar, &request, now)
        .await
        .map_err(|e| Failed::ledger(e, me))?;
    if let Redeemed::New { redemption, entry } = &redeemed {
        tx.enqueue_outbox(&outbox::redemption_notification(redemption, Some(entry)))
            .await?;
    }
    let balance = tx.lock_account(me).await?.map_or(0, |a| a.totals.balance);
    Ok(Done {
        answer: shop::redeemed(sender.lang, redeemed.redemption(), balance),
        subject: me.to_string(),
    })
}

pub(in crate::bot) async fn step(
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    id: i64,
    step: RedemptionStep,
    note: &str,
    now: Timestamp,
) -> Result<Done, Failed> {
    let stepped = ledger::step_redemption(tx, id, step, sender.userid, note, now)
        .await
        .map_err(|e| Failed::ledger(e, ""))?;
    let redemption = &stepped.redemption;
    tx.enqueue_outbox(&outbox::redemption_notification(
        redemption,
        stepped.refund.as_ref(),
    ))
    .await?;
    Ok(Done {
        answer: shop::stepped(sender.lang, redemption),
        subject: redemption.userid.clone(),
    })
}
