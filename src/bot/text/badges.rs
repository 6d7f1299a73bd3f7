//! What the robot says about levels and badges: a person's level with the way to the next,
//! their badges, and HR's grants, in Chinese and English.

use crate::badges::{BadgeError, Granted};
use crate::bot::command::Lang;
use crate::domain::{Badge, BadgeBook};
use crate::store::GrantedBadge;

/// The lines about level and badges under a person's points; empty without either.
pub fn milestones(lang: Lang, book: &BadgeBook, score: i64, held: &[GrantedBadge]) -> String {
    let mut out = String::new();
    if let Some(standing) = book.level_of(score) {
        let (name, next) = match lang {
            Lang::Zh => (
                standing.level.name.as_str(),
                standing
                    .next
                    .map(|(n, to_go)| format!("，距「{}」还差 {to_go} 分", n.name)),
            ),
            Lang::En => (
                standing.level.name_en.as_str(),
                standing
                    .next
                    .map(|(n, to_go)| format!(", {to_go} to {}", n.name_en)),
            ),
        };
        out.push_str(&match lang {
            Lang::Zh => format!("\n- 等级：**{name}**{}", next.unwrap_or_default()),
            Lang::En => format!("\n- Level: **{name}**{}", next.unwrap_or_default()),
        });
    }
    let names: Vec<&str> = held
        .iter()
        .filter_map(|g| book.get(&g.badge_id))
        .map(|b| badge_name(lang, b))
        .collect();
    if !names.is_empty() {
        out.push_str(&match lang {
            Lang::Zh => format!("\n- 徽章：{}", names.join("、")),
            Lang::En => format!("\n- Badges: {}", names.join(", ")),
        });
    }
    out
}

fn badge_name(lang: Lang, b: &Badge) -> &str {
    match lang {
        Lang::Zh => &b.name,
        Lang::En => &b.name_en,
    }
}

/// Every badge there is, marking those the person holds.
pub fn badges(lang: Lang, book: &BadgeBook, held: &[GrantedBadge]) -> String {
    let mut out = lang.pick("### 徽章\n", "### Badges\n").to_string();
    if book.badges.is_empty() {
        out.push_str(lang.pick("- 还没有设置徽章", "- no badges are set up"));
        return out;
    }
    let lines: Vec<String> = book
        .badges
        .iter()
        .map(|b| {
            let mark = if held.iter().any(|g| g.badge_id == b.id) {
                "🏅"
            } else {
                "▫️"
            };
            let (zh, en) = b.reason();
            match lang {
                Lang::Zh => format!("- {mark} {}：{zh}", b.name),
                Lang::En => format!("- {mark} {}: {en}", b.name_en),
            }
        })
        .collect();
    out.push_str(&lines.join("\n"));
    out
}

pub fn granted(lang: Lang, name: &str, g: &Granted) -> String {
    match lang {
        Lang::Zh => format!("已为 {name} 颁发徽章「{}」。", g.badge.name),
        Lang::En => format!("Badge \"{}\" granted to {name}.", g.badge.name_en),
    }
}

pub fn refused(lang: Lang, e: &BadgeError) -> String {
    match (lang, e) {
        (Lang::Zh, BadgeError::UnknownBadge(id)) => {
            format!("没有「{id}」这个徽章，发送「徽章」查看。")
        }
        (Lang::Zh, BadgeError::NotManual(id)) => {
            format!("徽章「{id}」靠积分自动获得，不能手动颁发。")
        }
        (Lang::Zh, BadgeError::AlreadyHeld { .. }) => "已经有这个徽章了。".into(),
        (Lang::Zh, BadgeError::NoReason) => "请写明理由。".into(),
        (Lang::Zh, e) => format!("没有执行：{e}"),
        (Lang::En, e) => format!("Not done: {e}."),
    }
}
