//! What the robot says about appeals (申诉): the lists, the answers to filing and deciding,
//! and why an entry cannot be appealed, in Chinese and English.

use jiff::Timestamp;

use crate::bot::command::Lang;
use crate::domain::{Appeal, AppealStatus, Calendar};
use crate::ledger::Unappealable;

pub fn unappealable_zh(why: &Unappealable) -> String {
    match why {
        Unappealable::NotYours => "只能申诉自己的记录。".into(),
        Unappealable::NotADeduction => "只有扣分记录可以申诉；要加分请找 HR。".into(),
        Unappealable::Settled => "它在待审核、已撤销，或本身就是更正记录。".into(),
        Unappealable::TooOld { days } => format!("只受理 {days} 天内的记录。"),
        Unappealable::AlreadyAppealed { appeal } => format!("已经申诉过了（申诉 #{appeal}）。"),
    }
}

/// How long an appeal has waited, in whole days or hours.
pub fn age(lang: Lang, since: Timestamp, now: Timestamp) -> String {
    let hours = now.duration_since(since).as_hours().max(0);
    match (lang, hours >= 24) {
        (Lang::Zh, true) => format!("{} 天", hours / 24),
        (Lang::Zh, false) => format!("{hours} 小时"),
        (Lang::En, true) => format!("{}d", hours / 24),
        (Lang::En, false) => format!("{hours}h"),
    }
}

fn line(lang: Lang, a: &Appeal, calendar: &Calendar, now: Timestamp) -> String {
    let day = calendar.local_date(a.created_at);
    let waited = if a.status == AppealStatus::Open {
        match lang {
            Lang::Zh => format!("，已等 {}", age(lang, a.created_at, now)),
            Lang::En => format!(", waiting {}", age(lang, a.created_at, now)),
        }
    } else {
        String::new()
    };
    let note = a
        .decision_note
        .as_deref()
        .map(|n| format!("（{n}）"))
        .unwrap_or_default();
    match lang {
        Lang::Zh => format!(
            "- 申诉 #{} {day} {} 第 {} 条记录：{}，{}{waited}{note}",
            a.id,
            a.userid,
            a.entry_id,
            a.reason,
            a.status.zh()
        ),
        Lang::En => format!(
            "- appeal #{} {day} {} entry #{}: {}, {}{waited}{note}",
            a.id,
            a.userid,
            a.entry_id,
            a.reason,
            a.status.as_str()
        ),
    }
}

/// The sender's appeals and, for HR, the open ones.
pub fn appeals(
    lang: Lang,
    mine: &[Appeal],
    open: Option<&[Appeal]>,
    calendar: &Calendar,
    now: Timestamp,
) -> String {
    let mut out = lang.pick("### 我的申诉\n", "### My appeals\n").to_string();
    if mine.is_empty() {
        out.push_str(lang.pick("- 暂无申诉", "- none"));
    }
    let lines: Vec<String> = mine.iter().map(|a| line(lang, a, calendar, now)).collect();
    out.push_str(&lines.join("\n"));
    if let Some(open) = open {
        out.push_str(lang.pick("\n\n### 待处理的申诉\n", "\n\n### Open appeals\n"));
        if open.is_empty() {
            out.push_str(lang.pick("- 没有", "- none"));
        } else {
            let lines: Vec<String> = open.iter().map(|a| line(lang, a, calendar, now)).collect();
            out.push_str(&lines.join("\n"));
            out.push_str(lang.pick(
                "\n\n申诉成立 编号 [退还积分] [说明] · 申诉驳回 编号 理由",
                "\n\nuphold id [points] [note] · dismiss id reason",
            ));
        }
    }
    out
}

pub fn filed(lang: Lang, a: &Appeal) -> String {
    match lang {
        Lang::Zh => format!(
            "已提交申诉 #{}（第 {} 条记录），HR 处理后会通知你。",
            a.id, a.entry_id
        ),
        Lang::En => format!(
            "Appeal #{} on entry #{} filed; you will be told when HR decides.",
            a.id, a.entry_id
        ),
    }
}

/// The answer to the HR admin who decided, naming the person; `given` is what an upheld
/// appeal gave back.
pub fn decided(lang: Lang, a: &Appeal, name: &str, given: Option<i64>) -> String {
    match (lang, given) {
        (Lang::Zh, Some(points)) => format!(
            "申诉 #{} 成立：已为 {name} 退还 {points} 积分（第 {} 条记录）。",
            a.id, a.entry_id
        ),
        (Lang::Zh, None) => format!("申诉 #{} 已驳回。", a.id),
        (Lang::En, Some(points)) => format!(
            "Appeal #{} upheld: {points} points of entry #{} given back to {name}.",
            a.id, a.entry_id
        ),
        (Lang::En, None) => format!("Appeal #{} rejected.", a.id),
    }
}
