//! The text of the robot's answers, in the language the command was typed in. Pure: the
//! handler gathers the figures, these functions only lay them out (DingTalk markdown).

use std::fmt::Write;

use super::command::{Kind, Lang, Window, usage_line};
use super::roles::Roles;
use crate::domain::Calendar;
use crate::leaderboard::PersonRow;
use crate::ledger::{Entry, Totals};
use crate::rules::{Points, RuleSet};
use crate::store::AuditRecord;

/// Where a person stands in one group: (rank, how many are ranked).
pub type Place = (i64, i64);

pub fn window_name(window: Window, lang: Lang) -> &'static str {
    match window {
        Window::Week => lang.pick("本周", "this week"),
        Window::Month => lang.pick("本月", "this month"),
        Window::Quarter => lang.pick("本季", "this quarter"),
        Window::Year => lang.pick("本年", "this year"),
        Window::All => lang.pick("总榜", "all time"),
    }
}

fn entry_line(e: &Entry, lang: Lang) -> String {
    let status = if e.is_pending() && e.resolved_by.is_none() {
        lang.pick("（待审核）", " (pending)")
    } else {
        ""
    };
    let explanation = match lang {
        Lang::Zh => &e.explanation.zh,
        Lang::En => &e.explanation.en,
    };
    format!("- #{} {:+}{status} {explanation}", e.id, e.points)
}

pub fn standing(
    lang: Lang,
    name: &str,
    totals: Totals,
    company: Place,
    department: Option<(&str, Place)>,
    recent: &[Entry],
) -> String {
    let mut out = match lang {
        Lang::Zh => format!(
            "### {name} 的积分\n- 总积分 **{}**，可用余额 {}，待审核 {}\n- 全公司排名 {}/{}",
            totals.score, totals.balance, totals.pending, company.0, company.1
        ),
        Lang::En => format!(
            "### {name}'s points\n- Score **{}**, balance {}, pending {}\n- Rank {} of {} in the company",
            totals.score, totals.balance, totals.pending, company.0, company.1
        ),
    };
    if let Some((dept, (rank, of))) = department {
        let _ = match lang {
            Lang::Zh => write!(out, "，{dept} 排名 {rank}/{of}"),
            Lang::En => write!(out, ", {rank} of {of} in {dept}"),
        };
    }
    out.push_str(lang.pick("\n\n最近记录：\n", "\n\nLatest entries:\n"));
    if recent.is_empty() {
        out.push_str(lang.pick("- 暂无", "- none yet"));
    }
    let lines: Vec<String> = recent.iter().map(|e| entry_line(e, lang)).collect();
    out.push_str(&lines.join("\n"));
    out
}

/// The top of a board as the leaderboard index ranked it, and the asker's own place below
/// it when they are not in the top.
pub fn leaderboard(lang: Lang, title: &str, rows: &[PersonRow], me: Option<&PersonRow>) -> String {
    let mut out = format!("### {title}\n");
    if rows.is_empty() {
        out.push_str(lang.pick("- 还没有人上榜", "- nobody yet"));
        return out;
    }
    let mine = me.map(|m| m.userid.as_str());
    let mut lines: Vec<String> = rows
        .iter()
        .map(|row| {
            let you = if Some(row.userid.as_str()) == mine {
                lang.pick(" ← 你", " ← you")
            } else {
                ""
            };
            format!("{}. {} **{}**{you}", row.rank, row.name, row.points)
        })
        .collect();
    if let Some(me) = me.filter(|m| !rows.iter().any(|r| r.userid == m.userid)) {
        lines.push(match lang {
            Lang::Zh => format!("……\n{}. {} **{}** ← 你", me.rank, me.name, me.points),
            Lang::En => format!("…\n{}. {} **{}** ← you", me.rank, me.name, me.points),
        });
    }
    out.push_str(&lines.join("\n"));
    out
}

pub fn history(lang: Lang, month: &str, entries: &[Entry], more: bool) -> String {
    let total: i64 = entries.iter().map(|e| e.deltas.score).sum();
    let mut out = match lang {
        Lang::Zh => format!("### {month} 积分明细\n本月计入总积分 **{total:+}**\n"),
        Lang::En => format!("### Points in {month}\nAdded to the score: **{total:+}**\n"),
    };
    if entries.is_empty() {
        out.push_str(lang.pick("- 本月没有记录", "- no entries this month"));
    }
    let lines: Vec<String> = entries.iter().map(|e| entry_line(e, lang)).collect();
    out.push_str(&lines.join("\n"));
    if more {
        out.push_str(lang.pick(
            "\n- ……更多记录请让 HR 导出",
            "\n- … more: ask HR for the export",
        ));
    }
    out
}

pub fn rules(lang: Lang, rules: &RuleSet) -> String {
    let mut out = lang
        .pick("### 积分规则\n", "### Points rules\n")
        .to_string();
    let lines: Vec<String> = rules
        .rules
        .iter()
        .map(|r| {
            let name = match lang {
                Lang::Zh => &r.name,
                Lang::En => &r.name_en,
            };
            let points = match &r.points {
                Points::Fixed(p) => format!("{p:+}"),
                Points::Field { path, min, max } => format!("{path} ({min}…{max})"),
            };
            let review = if r.review {
                lang.pick("，需审核", ", reviewed")
            } else {
                ""
            };
            let caps: Vec<String> = r
                .caps
                .iter()
                .map(|c| match lang {
                    Lang::Zh => format!("{}最多 {}", c.period.name_zh(), c.limit),
                    Lang::En => format!("at most {} a {}", c.limit, c.period.name()),
                })
                .collect();
            let caps = if caps.is_empty() {
                String::new()
            } else {
                format!(" ({})", caps.join(", "))
            };
            format!("- {name}: {points}{review}{caps}")
        })
        .collect();
    out.push_str(&lines.join("\n"));
    out
}

pub fn help(lang: Lang, roles: &Roles) -> String {
    let mut kinds = vec![Kind::Points, Kind::Rank, Kind::History, Kind::Rules];
    if roles.hr_admin || roles.is_manager() {
        kinds.extend([Kind::Award, Kind::Deduct, Kind::Revoke]);
    }
    if roles.hr_admin {
        kinds.extend([Kind::Approve, Kind::Reject, Kind::Budget, Kind::Export]);
    }
    if roles.hr_admin || roles.auditor {
        kinds.push(Kind::Audit);
    }
    let mut out = lang
        .pick("### jifen 积分机器人\n", "### jifen points robot\n")
        .to_string();
    let lines: Vec<String> = kinds
        .into_iter()
        .map(|k| format!("- {}", usage_line(k, lang)))
        .collect();
    out.push_str(&lines.join("\n"));
    out
}

pub fn audit(
    lang: Lang,
    who: Option<&str>,
    records: &[AuditRecord],
    calendar: &Calendar,
) -> String {
    let mut out = match (lang, who) {
        (Lang::Zh, Some(who)) => format!("### 审计记录：{who}\n"),
        (Lang::Zh, None) => "### 审计记录\n".to_string(),
        (Lang::En, Some(who)) => format!("### Audit trail: {who}\n"),
        (Lang::En, None) => "### Audit trail\n".to_string(),
    };
    if records.is_empty() {
        out.push_str(lang.pick("- 暂无记录", "- nothing recorded"));
    }
    let lines: Vec<String> = records
        .iter()
        .map(|r| {
            let result = r
                .record
                .detail
                .get("result")
                .and_then(|v| v.as_str())
                .map(|s| format!(" → {s}"))
                .unwrap_or_default();
            format!(
                "- {} {} {} {}: {}{result}",
                r.record
                    .at
                    .to_zoned(calendar.time_zone().clone())
                    .strftime("%Y-%m-%d %H:%M"),
                r.record.actor,
                r.record.action,
                r.record.subject,
                r.record.reason
            )
        })
        .collect();
    out.push_str(&lines.join("\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(rank: u32, userid: &str, name: &str, points: i64) -> PersonRow {
        PersonRow {
            rank,
            userid: userid.into(),
            name: name.into(),
            points,
        }
    }

    #[test]
    fn the_board_shows_the_ranks_it_was_given_and_marks_the_asker() {
        let rows = [
            ranked(1, "a", "甲", 100),
            ranked(2, "b", "乙", 90),
            ranked(2, "c", "丙", 90),
            ranked(4, "d", "丁", 80),
        ];
        assert_eq!(
            leaderboard(Lang::Zh, "本周排行", &rows, Some(&rows[2])),
            "### 本周排行\n1. 甲 **100**\n2. 乙 **90**\n2. 丙 **90** ← 你\n4. 丁 **80**"
        );
        let me = ranked(37, "z", "庚", 12);
        assert_eq!(
            leaderboard(Lang::En, "This week", &rows[..1], Some(&me)),
            "### This week\n1. 甲 **100**\n…\n37. 庚 **12** ← you"
        );
        assert_eq!(
            leaderboard(Lang::En, "This week", &[], None),
            "### This week\n- nobody yet"
        );
    }

    #[test]
    fn help_lists_only_what_the_person_may_do() {
        let employee = help(Lang::En, &Roles::default());
        assert!(employee.contains("Usage: points"));
        assert!(!employee.contains("award"));
        let hr = help(
            Lang::Zh,
            &Roles {
                hr_admin: true,
                ..Roles::default()
            },
        );
        assert!(hr.contains("用法：批准 编号") && hr.contains("用法：审计"));
    }
}
