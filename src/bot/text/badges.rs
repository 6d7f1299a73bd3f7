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

/// A progress meter of ten blocks, e.g. `██████░░░░ 62%`.
pub fn meter(progress: i64, target: i64) -> String {
    let share = if target <= 0 {
        100
    } else {
        (progress.max(0) * 100 / target).min(100)
    };
    let full = (share / 10) as usize;
    format!("{}{} {share}%", "█".repeat(full), "░".repeat(10 - full))
}

/// One team challenge: its name, department, month, meter and prize (points, a badge of
/// `book`, or both).
pub fn challenge_line(
    lang: Lang,
    book: &BadgeBook,
    c: &crate::domain::Challenge,
    department: &str,
    progress: i64,
) -> String {
    let bar = meter(progress, c.target);
    let badge = c.badge.as_deref().and_then(|id| book.get(id));
    let prize = match (lang, c.points, badge) {
        (_, 0, None) => String::new(),
        (Lang::Zh, p, None) => format!("，达成每人 +{p}"),
        (Lang::Zh, 0, Some(b)) => format!("，达成每人获徽章「{}」", b.name),
        (Lang::Zh, p, Some(b)) => format!("，达成每人 +{p} 及徽章「{}」", b.name),
        (Lang::En, p, None) => format!(", +{p} each when reached"),
        (Lang::En, 0, Some(b)) => format!(", the badge \"{}\" each when reached", b.name_en),
        (Lang::En, p, Some(b)) => {
            format!(", +{p} and the badge \"{}\" each when reached", b.name_en)
        }
    };
    match lang {
        Lang::Zh => format!(
            "- {}（{department} · {} · {}）：{progress}/{} {bar}{prize}",
            c.name, c.month, c.category, c.target
        ),
        Lang::En => format!(
            "- {} ({department} · {} · {}): {progress}/{} {bar}{prize}",
            c.name_en, c.month, c.category, c.target
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_meter_fills_a_block_per_tenth_and_stops_at_full() {
        let cases = [
            (0, 500, "░░░░░░░░░░ 0%"),
            (310, 500, "██████░░░░ 62%"),
            (500, 500, "██████████ 100%"),
            (900, 500, "██████████ 100%"),
            (-20, 500, "░░░░░░░░░░ 0%"),
        ];
        for (progress, target, want) in cases {
            assert_eq!(super::meter(progress, target), want);
        }
    }

    #[test]
    fn a_challenge_line_names_its_prize_in_points_a_badge_or_both() {
        use super::Lang;
        let book = crate::rules::load_badges(
            "[[badge]]\nid = \"closers\"\nname = \"冲刺之队\"\nname_en = \"Closers\"\nkind = \"manual\"\n",
            &crate::rules::RuleSet::default(),
        )
        .unwrap();
        let challenge = |points, badge: Option<&str>| crate::domain::Challenge {
            id: "c".into(),
            name: "十月冲刺".into(),
            name_en: "October push".into(),
            department: "sales".into(),
            category: "manual".into(),
            target: 10,
            month: crate::domain::Month::new(2026, 10).unwrap(),
            points,
            badge: badge.map(str::to_string),
            line: 1,
        };
        let cases = [
            (Lang::Zh, 0, None, "）：5/10 █████░░░░░ 50%"),
            (Lang::Zh, 3, None, "50%，达成每人 +3"),
            (
                Lang::Zh,
                0,
                Some("closers"),
                "50%，达成每人获徽章「冲刺之队」",
            ),
            (
                Lang::Zh,
                3,
                Some("closers"),
                "50%，达成每人 +3 及徽章「冲刺之队」",
            ),
            (Lang::En, 3, None, "50%, +3 each when reached"),
            (
                Lang::En,
                0,
                Some("closers"),
                "50%, the badge \"Closers\" each when reached",
            ),
            (
                Lang::En,
                3,
                Some("closers"),
                "50%, +3 and the badge \"Closers\" each when reached",
            ),
        ];
        for (lang, points, badge, ending) in cases {
            let line = super::challenge_line(lang, &book, &challenge(points, badge), "销售部", 5);
            assert!(
                line.ends_with(ending),
                "{line:?} should end with {ending:?}"
            );
        }
    }
}
