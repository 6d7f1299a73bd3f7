//! What the robot says about the rewards shop: the catalogue, redemptions and their steps,
//! and why a reward cannot be redeemed, in Chinese and English.

use crate::bot::command::Lang;
use crate::domain::{Calendar, Redemption, RedemptionStatus, Reward};
use crate::ledger::Unredeemable;

/// One reward on offer, with how many are left (`None`: no limit).
pub struct Offer<'a> {
    pub reward: &'a Reward,
    pub left: Option<i64>,
}

pub fn catalogue(lang: Lang, offers: &[Offer<'_>], balance: i64) -> String {
    let mut out = match lang {
        Lang::Zh => format!("### 积分商城\n可用积分：**{balance}**\n"),
        Lang::En => format!("### Rewards\nYour balance: **{balance}**\n"),
    };
    if offers.is_empty() {
        out.push_str(lang.pick("- 暂无可兑换的奖品", "- nothing on offer"));
        return out;
    }
    let lines: Vec<String> = offers
        .iter()
        .map(|o| {
            let r = o.reward;
            let left = match (o.left, lang) {
                (None, _) => String::new(),
                (Some(0), Lang::Zh) => "，已兑完".into(),
                (Some(0), Lang::En) => ", sold out".into(),
                (Some(n), Lang::Zh) => format!("，剩 {n} 件"),
                (Some(n), Lang::En) => format!(", {n} left"),
            };
            let limit = match (r.limit, lang) {
                (None, _) => String::new(),
                (Some(l), Lang::Zh) => format!("，每人{}限 {} 次", l.period.name_zh(), l.count),
                (Some(l), Lang::En) => format!(", {} per person per {}", l.count, l.period.name()),
            };
            let afford = if balance >= r.cost { "" } else { " ✗" };
            let description = if r.description.is_empty() {
                String::new()
            } else {
                format!(" — {}", r.description)
            };
            match lang {
                Lang::Zh => format!(
                    "- `{}` {}：{} 积分{left}{limit}{afford}{description}",
                    r.id, r.name, r.cost
                ),
                Lang::En => format!(
                    "- `{}` {}: {} points{left}{limit}{afford}{description}",
                    r.id, r.name_en, r.cost
                ),
            }
        })
        .collect();
    out.push_str(&lines.join("\n"));
    out.push_str(lang.pick(
        "\n\n发送「兑换 编号」兑换，例如：兑换 ",
        "\n\nSend \"redeem id\" to redeem, e.g. redeem ",
    ));
    out.push_str(&offers[0].reward.id);
    out
}

fn line(lang: Lang, r: &Redemption, calendar: &Calendar) -> String {
    let day = calendar.local_date(r.created_at);
    let note = r
        .note
        .as_deref()
        .map(|n| format!("（{n}）"))
        .unwrap_or_default();
    match lang {
        Lang::Zh => format!(
            "- #{} {day} {} {}：{} 积分，{}{note}",
            r.id,
            r.userid,
            r.reward_name,
            r.cost,
            r.status.zh()
        ),
        Lang::En => format!(
            "- #{} {day} {} {}: {} points, {}{note}",
            r.id,
            r.userid,
            r.reward_name_en,
            r.cost,
            r.status.as_str()
        ),
    }
}

/// The sender's redemptions and, for HR, those waiting for them.
pub fn redemptions(
    lang: Lang,
    mine: &[Redemption],
    waiting: Option<&[Redemption]>,
    calendar: &Calendar,
) -> String {
    let mut out = lang
        .pick("### 我的兑换\n", "### My redemptions\n")
        .to_string();
    if mine.is_empty() {
        out.push_str(lang.pick("- 暂无兑换", "- none yet"));
    }
    let lines: Vec<String> = mine.iter().map(|r| line(lang, r, calendar)).collect();
    out.push_str(&lines.join("\n"));
    if let Some(waiting) = waiting {
        out.push_str(lang.pick("\n\n### 待处理的兑换\n", "\n\n### Waiting for HR\n"));
        if waiting.is_empty() {
            out.push_str(lang.pick("- 没有", "- none"));
        } else {
            let lines: Vec<String> = waiting.iter().map(|r| line(lang, r, calendar)).collect();
            out.push_str(&lines.join("\n"));
            out.push_str(lang.pick(
                "\n\n同意兑换 编号 · 发放 编号 [说明] · 拒绝兑换 编号 理由",
                "\n\ngrant id · fulfil id [note] · refuse id reason",
            ));
        }
    }
    out
}

pub fn redeemed(lang: Lang, r: &Redemption, balance: i64) -> String {
    let waits = r.status == RedemptionStatus::Held;
    match (lang, waits) {
        (Lang::Zh, true) => format!(
            "已提交兑换单 #{}「{}」，使用 {} 可用积分（剩 {balance}），等待 HR 审批。取消：取消兑换 {}",
            r.id, r.reward_name, r.cost, r.id
        ),
        (Lang::Zh, false) => format!(
            "已兑换 #{}「{}」，使用 {} 可用积分（剩 {balance}），等待发放。",
            r.id, r.reward_name, r.cost
        ),
        (Lang::En, true) => format!(
            "Redemption #{} \"{}\" placed: {} balance points spent ({balance} left); it waits for HR. To cancel: cancel {}",
            r.id, r.reward_name_en, r.cost, r.id
        ),
        (Lang::En, false) => format!(
            "Redeemed #{} \"{}\": {} balance points spent ({balance} left); it will be handed over.",
            r.id, r.reward_name_en, r.cost
        ),
    }
}

/// The answer to the one who took a step.
pub fn stepped(lang: Lang, r: &Redemption) -> String {
    let refunded = r.refund_entry.is_some();
    match (lang, refunded) {
        (Lang::Zh, false) => format!("兑换单 #{}「{}」：{}。", r.id, r.reward_name, r.status.zh()),
        (Lang::Zh, true) => format!(
            "兑换单 #{}「{}」：{}，已退还 {} 可用积分。",
            r.id,
            r.reward_name,
            r.status.zh(),
            r.cost
        ),
        (Lang::En, false) => format!(
            "Redemption #{} \"{}\" is {}.",
            r.id,
            r.reward_name_en,
            r.status.as_str()
        ),
        (Lang::En, true) => format!(
            "Redemption #{} \"{}\" is {}; {} balance points refunded.",
            r.id,
            r.reward_name_en,
            r.status.as_str(),
            r.cost
        ),
    }
}

pub fn unredeemable(lang: Lang, reward: &str, why: &Unredeemable) -> String {
    match lang {
        Lang::Zh => why.zh(reward),
        Lang::En => format!("\"{reward}\" cannot be redeemed: {why}."),
    }
}

pub fn unknown_reward(lang: Lang, id: &str) -> String {
    match lang {
        Lang::Zh => format!("没有编号为「{id}」的奖品，发送「奖品」查看。"),
        Lang::En => format!("There is no reward \"{id}\"; send \"rewards\" to see them."),
    }
}
