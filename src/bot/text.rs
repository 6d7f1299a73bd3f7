//! Everything the robot says, in the language the command was typed in: usage help,
//! refusals, answers and the headlines of the notifications its changes send. Pure: the
//! handlers gather the figures, these functions only lay them out (DingTalk markdown).

pub mod appeals;
pub mod badges;
pub mod shop;

use std::fmt::Write;

use super::Refusal;
use super::command::{Kind, Lang, MAX_POINTS, MAX_REASON_CHARS, Problem, Usage, Window};
use super::roles::{Needed, OverBudget, Roles};
use crate::domain::{Calendar, Entry, Month, Totals};
use crate::leaderboard::PersonRow;
use crate::ledger::{APPEAL_ACTION, Decision, LedgerError, Unrecognised};
use crate::rules::RuleSet;
use crate::rules::plain::describe_all;
use crate::store::AuditRecord;

/// Where a person stands in one group: (rank, how many are ranked).
pub type Place = (i64, i64);

/// The title of every reply.
pub fn title(lang: Lang) -> &'static str {
    lang.pick("积分", "jifen")
}

/// What a group sees when the answer went to the sender alone.
pub fn sent_privately(lang: Lang) -> String {
    lang.pick(
        "结果已私信发给你。",
        "The answer was sent to you privately.",
    )
    .to_string()
}

/// A short reply to a command that was not understood: what was wrong, what was expected,
/// and an example.
pub fn usage(usage: &Usage, lang: Lang) -> String {
    let problem = match &usage.problem {
        Problem::Empty => lang.pick("请输入命令。", "Type a command.").to_string(),
        Problem::Unknown(word) => match lang {
            Lang::Zh => format!("没有「{word}」这个命令。"),
            Lang::En => format!("There is no command \"{word}\"."),
        },
        Problem::NoPerson => lang
            .pick("请 @ 一个人。", "Mention (@) one person.")
            .to_string(),
        Problem::SeveralPeople => lang
            .pick("一次只能 @ 一个人。", "Mention (@) only one person.")
            .to_string(),
        Problem::NoAmount => lang
            .pick("缺少积分数。", "The points are missing.")
            .to_string(),
        Problem::BadAmount(word) => match lang {
            Lang::Zh => format!("「{word}」不是 1 到 {MAX_POINTS} 之间的整数。"),
            Lang::En => format!("\"{word}\" is not a whole number from 1 to {MAX_POINTS}."),
        },
        Problem::NoReason => lang.pick("请写明理由。", "Give a reason.").to_string(),
        Problem::LongReason => match lang {
            Lang::Zh => format!("理由最多 {MAX_REASON_CHARS} 个字。"),
            Lang::En => format!("A reason is at most {MAX_REASON_CHARS} characters."),
        },
        Problem::NoEntry => lang
            .pick("缺少记录编号。", "The entry number is missing.")
            .to_string(),
        Problem::BadEntry(word) => match lang {
            Lang::Zh => format!("「{word}」不是记录编号。"),
            Lang::En => format!("\"{word}\" is not an entry number."),
        },
        Problem::NoMonth => lang.pick("缺少月份。", "The month is missing.").to_string(),
        Problem::BadMonth(word) => match lang {
            Lang::Zh => format!("「{word}」不是月份（如 2026-10）。"),
            Lang::En => format!("\"{word}\" is not a month (like 2026-10)."),
        },
        Problem::NoReward => lang
            .pick("缺少奖品编号。", "The reward's id is missing.")
            .to_string(),
        Problem::NoRedemption => lang
            .pick("缺少兑换单编号。", "The redemption number is missing.")
            .to_string(),
        Problem::BadRedemption(word) => match lang {
            Lang::Zh => format!("「{word}」不是兑换单编号。"),
            Lang::En => format!("\"{word}\" is not a redemption number."),
        },
        Problem::NoAppeal => lang
            .pick("缺少申诉编号。", "The appeal number is missing.")
            .to_string(),
        Problem::BadAppeal(word) => match lang {
            Lang::Zh => format!("「{word}」不是申诉编号。"),
            Lang::En => format!("\"{word}\" is not an appeal number."),
        },
        Problem::NoBadge => lang
            .pick("缺少徽章编号。", "The badge's id is missing.")
            .to_string(),
        Problem::Unexpected(word) => match lang {
            Lang::Zh => format!("多余的内容：「{word}」。"),
            Lang::En => format!("Unexpected \"{word}\"."),
        },
    };
    match usage.kind.map(|k| usage_line(k, lang)) {
        Some(usage) => format!("{problem}\n{usage}"),
        None => format!(
            "{problem}\n{}",
            lang.pick("发送「帮助」查看命令。", "Send \"help\" for the commands.")
        ),
    }
}

/// The form and an example of one command.
pub fn usage_line(kind: Kind, lang: Lang) -> &'static str {
    match (kind, lang) {
        (Kind::Points, Lang::Zh) => "用法：积分",
        (Kind::Points, Lang::En) => "Usage: points",
        (Kind::Rank, Lang::Zh) => {
            "用法：排行 [本周|本月|本季|本年|总] [部门]，例如：排行 本周 部门"
        }
        (Kind::Rank, Lang::En) => {
            "Usage: rank [week|month|quarter|year|all] [dept], e.g. rank week dept"
        }
        (Kind::History, Lang::Zh) => "用法：明细 [月份]，例如：明细 2026-10",
        (Kind::History, Lang::En) => "Usage: history [month], e.g. history 2026-10",
        (Kind::Rules, Lang::Zh) => "用法：规则",
        (Kind::Rules, Lang::En) => "Usage: rules",
        (Kind::Help, Lang::Zh) => "用法：帮助",
        (Kind::Help, Lang::En) => "Usage: help",
        (Kind::Award, Lang::Zh) => "用法：奖 @某人 积分 理由，例如：奖 @张伟 5 协助客户回访",
        (Kind::Award, Lang::En) => {
            "Usage: award @someone points reason, e.g. award @Zhang 5 helped a customer"
        }
        (Kind::Deduct, Lang::Zh) => "用法：扣 @某人 积分 理由，例如：扣 @张伟 3 会议迟到",
        (Kind::Deduct, Lang::En) => {
            "Usage: deduct @someone points reason, e.g. deduct @Zhang 3 late for the meeting"
        }
        (Kind::Revoke, Lang::Zh) => "用法：撤销 编号 理由，例如：撤销 12 录入错误",
        (Kind::Revoke, Lang::En) => "Usage: revoke id reason, e.g. revoke 12 entered by mistake",
        (Kind::Approve, Lang::Zh) => "用法：批准 编号，例如：批准 12",
        (Kind::Approve, Lang::En) => "Usage: approve id, e.g. approve 12",
        (Kind::Reject, Lang::Zh) => "用法：驳回 编号 理由，例如：驳回 12 证明材料不足",
        (Kind::Reject, Lang::En) => "Usage: reject id reason, e.g. reject 12 no evidence",
        (Kind::Budget, Lang::Zh) => "用法：预算 @经理 每月积分，例如：预算 @张伟 200",
        (Kind::Budget, Lang::En) => "Usage: budget @manager monthly points, e.g. budget @Zhang 200",
        (Kind::Export, Lang::Zh) => "用法：导出 月份，例如：导出 2026-10",
        (Kind::Export, Lang::En) => "Usage: export month, e.g. export 2026-10",
        (Kind::Audit, Lang::Zh) => "用法：审计 [@某人]",
        (Kind::Audit, Lang::En) => "Usage: audit [@someone]",
        (Kind::Rewards, Lang::Zh) => "用法：奖品（查看积分商城）",
        (Kind::Rewards, Lang::En) => "Usage: rewards (what points buy)",
        (Kind::Redemptions, Lang::Zh) => "用法：兑换记录",
        (Kind::Redemptions, Lang::En) => "Usage: redemptions",
        (Kind::Redeem, Lang::Zh) => "用法：兑换 奖品编号，例如：兑换 coffee",
        (Kind::Redeem, Lang::En) => "Usage: redeem reward-id, e.g. redeem coffee",
        (Kind::Cancel, Lang::Zh) => "用法：取消兑换 兑换单编号，例如：取消兑换 7",
        (Kind::Cancel, Lang::En) => "Usage: cancel redemption-number, e.g. cancel 7",
        (Kind::Grant, Lang::Zh) => "用法：同意兑换 兑换单编号，例如：同意兑换 7",
        (Kind::Grant, Lang::En) => "Usage: grant redemption-number, e.g. grant 7",
        (Kind::Fulfil, Lang::Zh) => "用法：发放 兑换单编号 [说明]，例如：发放 7 已寄出",
        (Kind::Fulfil, Lang::En) => "Usage: fulfil redemption-number [note], e.g. fulfil 7 shipped",
        (Kind::Refuse, Lang::Zh) => "用法：拒绝兑换 兑换单编号 理由，例如：拒绝兑换 7 库存不足",
        (Kind::Refuse, Lang::En) => {
            "Usage: refuse redemption-number reason, e.g. refuse 7 out of stock"
        }
        (Kind::Appeals, Lang::Zh) => "用法：申诉列表",
        (Kind::Appeals, Lang::En) => "Usage: appeals",
        (Kind::Appeal, Lang::Zh) => "用法：申诉 记录编号 理由，例如：申诉 12 当天在客户现场",
        (Kind::Appeal, Lang::En) => {
            "Usage: appeal entry-id reason, e.g. appeal 12 I was at a customer's site"
        }
        (Kind::Uphold, Lang::Zh) => {
            "用法：申诉成立 申诉编号 [退还积分] [说明]，例如：申诉成立 3 2 情况属实"
        }
        (Kind::Uphold, Lang::En) => {
            "Usage: uphold appeal-number [points to give back] [note], e.g. uphold 3 2 confirmed"
        }
        (Kind::Dismiss, Lang::Zh) => "用法：申诉驳回 申诉编号 理由，例如：申诉驳回 3 考勤记录无误",
        (Kind::Recognise, Lang::Zh) => "用法：赞 @某人 积分 理由，例如：赞 @张伟 2 谢谢帮忙",
        (Kind::Recognise, Lang::En) => {
            "Usage: thanks @someone points reason, e.g. thanks @Zhang 2 for the help"
        }
        (Kind::Challenges, Lang::Zh) => "用法：挑战",
        (Kind::Challenges, Lang::En) => "Usage: challenges",
        (Kind::Badges, Lang::Zh) => "用法：徽章",
        (Kind::Badges, Lang::En) => "Usage: badges",
        (Kind::GrantBadge, Lang::Zh) => {
            "用法：颁发 @某人 徽章编号 理由，例如：颁发 @张伟 mentor 带新人三个月"
        }
        (Kind::GrantBadge, Lang::En) => {
            "Usage: badge @someone badge-id reason, e.g. badge @Zhang mentor coached two new hires"
        }
        (Kind::Dismiss, Lang::En) => {
            "Usage: dismiss appeal-number reason, e.g. dismiss 3 the record is right"
        }
    }
}

/// Why the robot will not serve this message at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unserved {
    /// The sender is not a member of the organisation.
    Outsider,
    /// Not a text message.
    NotText,
    /// The sender is not in jifen's address book yet.
    NotInDirectory,
    /// A department ranking for someone in no department.
    NoDepartment,
}

pub fn unserved(why: Unserved, lang: Lang) -> String {
    match why {
        Unserved::Outsider => lang.pick(
            "jifen 只为本企业的同事服务。",
            "jifen only serves the people of this organisation.",
        ),
        Unserved::NotText => lang.pick(
            "我只看得懂文字命令，发送「帮助」查看。",
            "I only read text commands; send \"help\".",
        ),
        Unserved::NotInDirectory => lang.pick(
            "你还不在 jifen 的通讯录里，请 HR 同步通讯录（jifen employees sync）。",
            "You are not in jifen's address book yet; ask HR to sync it (jifen employees sync).",
        ),
        Unserved::NoDepartment => lang.pick("你不属于任何部门。", "You are in no department."),
    }
    .to_string()
}

/// Why a change was not made.
pub fn refusal(refusal: &Refusal, lang: Lang) -> String {
    match refusal {
        Refusal::Denied(needed) => denied(*needed, lang).to_string(),
        Refusal::OwnPoints => lang
            .pick(
                "不能给自己加分或扣分。",
                "Nobody can award or deduct their own points.",
            )
            .to_string(),
        Refusal::UnknownPerson => lang
            .pick(
                "@ 的人不在 jifen 的通讯录里。",
                "The person mentioned is not in jifen's address book.",
            )
            .to_string(),
        Refusal::OutsideDepartments { name } => match lang {
            Lang::Zh => format!("{name} 不在你管理的部门，不能给 TA 加减分。"),
            Lang::En => format!(
                "{name} is not in a department you manage, so you cannot award or deduct their points."
            ),
        },
        Refusal::OverBudget(over) => over_budget(over, lang),
        Refusal::OwnEntry => lang
            .pick(
                "不能撤销自己的记录。",
                "Nobody can revoke their own entries.",
            )
            .to_string(),
        Refusal::EntryOutsideDepartments { entry } => match lang {
            Lang::Zh => format!("第 {entry} 条记录不属于你管理的部门。"),
            Lang::En => format!("Entry #{entry} is not in a department you manage."),
        },
        Refusal::OwnAward => lang
            .pick(
                "不能审核自己发起的奖励，请另一位 HR 审核。",
                "You made this award; another HR admin must review it.",
            )
            .to_string(),
        Refusal::NotAManager { name } => match lang {
            Lang::Zh => format!("{name} 不是部门主管，预算对 TA 没有意义。"),
            Lang::En => format!("{name} manages no department, so a budget means nothing."),
        },
        Refusal::ExportsOff => lang
            .pick(
                "导出未配置：需要设置 JIFEN_DINGTALK_APP_SECRET。",
                "Exports are not configured: set JIFEN_DINGTALK_APP_SECRET.",
            )
            .to_string(),
        Refusal::UnknownReward(id) => shop::unknown_reward(lang, id),
        Refusal::Badge(e) => badges::refused(lang, e),
        Refusal::Ledger(e) => ledger_refusal(e, lang),
    }
}

fn denied(needed: Needed, lang: Lang) -> &'static str {
    match needed {
        Needed::Anyone | Needed::ManagerOrHr => lang.pick(
            "只有部门主管和 HR 可以加减分或撤销。",
            "Only managers and HR can award, deduct or revoke points.",
        ),
        Needed::Hr => lang.pick(
            "只有 HR 管理员可以这样做。",
            "Only an HR admin can do that.",
        ),
        Needed::HrOrAuditor => lang.pick(
            "只有 HR 和审计员可以查看审计记录。",
            "Only HR and auditors can read the audit trail.",
        ),
    }
}

fn over_budget(over: &OverBudget, lang: Lang) -> String {
    let OverBudget {
        budget,
        used,
        points,
    } = *over;
    let left = (budget - used).max(0);
    match lang {
        Lang::Zh => format!(
            "超出本月预算：预算 {budget} 分，已用 {used} 分，还剩 {left} 分，不够 {points} 分。"
        ),
        Lang::En => format!(
            "Over this month's budget: {budget} points, {used} used, {left} left, not enough for {points}."
        ),
    }
}

fn ledger_refusal(e: &LedgerError, lang: Lang) -> String {
    match (e, lang) {
        (LedgerError::UnknownEntry(id), Lang::Zh) => format!("没有第 {id} 条记录。"),
        (LedgerError::AlreadyReversed { entry, by }, Lang::Zh) => {
            format!("第 {entry} 条记录已被第 {by} 条撤销过了。")
        }
        (LedgerError::NotPending { entry, .. }, Lang::Zh) => {
            format!("第 {entry} 条记录不在待审核状态。")
        }
        (LedgerError::NotReversible { entry, reason }, Lang::Zh) => {
            format!("第 {entry} 条记录不能撤销：{reason}")
        }
        (LedgerError::OwnPoints { action, .. }, Lang::Zh) if *action == APPEAL_ACTION => {
            "这条记录与你有关，申诉需由另一位 HR 处理。".to_string()
        }
        (LedgerError::OwnPoints { .. }, Lang::Zh) => "不能处理自己的积分。".to_string(),
        (LedgerError::NotRedeemable { reward, why }, _) => shop::unredeemable(lang, reward, why),
        (LedgerError::UnknownRedemption(id), Lang::Zh) => format!("没有兑换单 #{id}。"),
        (LedgerError::NotTheirs { redemption, .. }, Lang::Zh) => {
            format!("兑换单 #{redemption} 只能由本人取消；HR 请用「拒绝兑换」。")
        }
        (LedgerError::NotAppealable { entry, why }, Lang::Zh) => {
            format!(
                "第 {entry} 条记录不能申诉：{}",
                appeals::unappealable_zh(why)
            )
        }
        (LedgerError::UnknownAppeal(id), Lang::Zh) => format!("没有申诉 #{id}。"),
        (LedgerError::NotRecognised { why }, Lang::Zh) => match why {
            Unrecognised::Off => "本企业没有开启点赞。".into(),
            Unrecognised::Oneself => "不能给自己点赞。".into(),
            Unrecognised::Allowance { left } => format!("超出本月点赞额度：还剩 {left} 分。"),
            Unrecognised::PerRecipient { left } => {
                format!("本月给同一位同事最多再赞 {left} 分。")
            }
        },
        (LedgerError::AppealDecided { appeal, .. }, Lang::Zh) => {
            format!("申诉 #{appeal} 已处理过了。")
        }
        (LedgerError::StepNotOpen { redemption, .. }, Lang::Zh) => {
            format!("兑换单 #{redemption} 已处理过了，不能再这样操作。")
        }
        (_, Lang::Zh) => format!("没有执行：{e}"),
        (_, Lang::En) => format!("Not done: {e}."),
    }
}

/// The answer to an award or deduction, and the notification's headline (zh, en).
pub fn adjusted(lang: Lang, name: &str, points: i64, id: i64, review_above: Option<i64>) -> String {
    match (lang, review_above) {
        (Lang::Zh, None) => format!("已为 {name} 记 {points:+} 积分（#{id}）。"),
        (Lang::Zh, Some(threshold)) => format!(
            "已为 {name} 登记 {points:+} 积分（#{id}）；超过 {threshold} 分，等待 HR 审核（批准 {id}）。"
        ),
        (Lang::En, None) => format!("Recorded {points:+} for {name} (#{id})."),
        (Lang::En, Some(threshold)) => format!(
            "Recorded {points:+} for {name} (#{id}); above {threshold}, it waits for HR (approve {id})."
        ),
    }
}

/// The headline of the notification about an award or deduction (zh, en).
pub fn adjusted_headline(points: i64, review: bool) -> (String, String) {
    match (review, points > 0) {
        (true, _) => (
            format!("积分 {points:+} 待审核"),
            format!("{points:+} points, pending review"),
        ),
        (false, true) => (
            format!("获得 {points:+} 积分"),
            format!("You earned {points:+} points"),
        ),
        (false, false) => (format!("扣除 {} 积分", -points), format!("{points} points")),
    }
}

pub fn revoked(lang: Lang, entry: i64, points: i64, reversal: i64) -> String {
    match lang {
        Lang::Zh => format!("已撤销第 {entry} 条记录：{points:+} 积分（#{reversal}）。"),
        Lang::En => format!("Revoked entry #{entry}: {points:+} (#{reversal})."),
    }
}

pub fn revoked_headline(entry: i64) -> (String, String) {
    (
        format!("第 {entry} 条积分记录已撤销"),
        format!("Entry #{entry} was revoked"),
    )
}

fn decided(decision: Decision) -> (&'static str, &'static str) {
    match decision {
        Decision::Approve => ("已通过审核", "was approved"),
        Decision::Reject => ("被驳回", "was rejected"),
    }
}

pub fn reviewed(lang: Lang, entry: i64, decision: Decision, resolution: i64) -> String {
    let (zh, en) = decided(decision);
    match lang {
        Lang::Zh => format!("第 {entry} 条记录{zh}（#{resolution}）。"),
        Lang::En => format!("Entry #{entry} {en} (#{resolution})."),
    }
}

pub fn reviewed_headline(entry: i64, decision: Decision) -> (String, String) {
    let (zh, en) = decided(decision);
    (
        format!("第 {entry} 条积分{zh}"),
        format!("Entry #{entry} {en}"),
    )
}

pub fn budget_set(lang: Lang, name: &str, points: i64, used: i64) -> String {
    match lang {
        Lang::Zh => format!("已把 {name} 的每月预算设为 {points} 分（本月已用 {used} 分）。"),
        Lang::En => {
            format!("{name}'s monthly budget is now {points} points ({used} used this month).")
        }
    }
}

pub fn export_link(lang: Lang, month: Month, link: &str, minutes: u64) -> String {
    match lang {
        Lang::Zh => {
            format!("[下载 {month} 积分明细（CSV）]({link})\n\n链接 {minutes} 分钟内有效。")
        }
        Lang::En => format!(
            "[Download the entries of {month} (CSV)]({link})\n\nThe link works for {minutes} minutes."
        ),
    }
}

pub fn window_name(window: Window, lang: Lang) -> &'static str {
    match window {
        Window::Week => lang.pick("本周", "this week"),
        Window::Month => lang.pick("本月", "this month"),
        Window::Quarter => lang.pick("本季", "this quarter"),
        Window::Year => lang.pick("本年", "this year"),
        Window::All => lang.pick("总榜", "all time"),
    }
}

/// The heading of a ranking: its window and whom it ranks.
pub fn rank_title(lang: Lang, window: Window, scope: Option<&str>) -> String {
    let scope = scope.unwrap_or(lang.pick("全公司", "company"));
    match lang {
        Lang::Zh => format!("{}排行 · {scope}", window_name(window, lang)),
        Lang::En => format!("Ranking {} · {scope}", window_name(window, lang)),
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
    milestones: &str,
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
    out.push_str(milestones);
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
    let lines: Vec<String> = describe_all(rules, lang, &|id| id.to_string())
        .into_iter()
        .map(|r| {
            let terms = if r.terms.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.terms.join(", "))
            };
            format!("- {}: {}{terms}", r.name, r.points)
        })
        .collect();
    out.push_str(&lines.join("\n"));
    out
}

pub fn help(lang: Lang, roles: &Roles) -> String {
    let mut kinds = vec![
        Kind::Points,
        Kind::Rank,
        Kind::History,
        Kind::Rules,
        Kind::Rewards,
        Kind::Redeem,
        Kind::Redemptions,
        Kind::Cancel,
        Kind::Appeal,
        Kind::Appeals,
        Kind::Badges,
        Kind::Recognise,
        Kind::Challenges,
    ];
    if roles.hr_admin || roles.is_manager() {
        kinds.extend([Kind::Award, Kind::Deduct, Kind::Revoke]);
    }
    if roles.hr_admin {
        kinds.extend([
            Kind::Approve,
            Kind::Reject,
            Kind::Budget,
            Kind::Export,
            Kind::Grant,
            Kind::Fulfil,
            Kind::Refuse,
            Kind::Uphold,
            Kind::Dismiss,
            Kind::GrantBadge,
        ]);
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
    use crate::bot::command::parse;

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

    #[test]
    fn a_usage_reply_names_the_problem_and_gives_an_example() {
        let mentioned = ["liqiang".to_string()];
        let wrong = parse("奖 @李强", &mentioned).unwrap_err();
        assert_eq!(
            usage(&wrong, Lang::Zh),
            "缺少积分数。\n用法：奖 @某人 积分 理由，例如：奖 @张伟 5 协助客户回访"
        );
        let wrong = parse("award @Li", &mentioned).unwrap_err();
        assert_eq!(
            usage(&wrong, Lang::En),
            "The points are missing.\nUsage: award @someone points reason, e.g. award @Zhang 5 helped a customer"
        );
        assert_eq!(Lang::of("award @李强 5"), Lang::Zh);
        assert_eq!(Lang::of("award @Li 5"), Lang::En);
    }

    #[test]
    fn budgets_say_what_is_left() {
        let over = OverBudget {
            budget: 100,
            used: 90,
            points: 11,
        };
        assert_eq!(
            refusal(&Refusal::OverBudget(over), Lang::En),
            "Over this month's budget: 100 points, 90 used, 10 left, not enough for 11."
        );
        let over = OverBudget {
            budget: 100,
            used: 120,
            points: 1,
        };
        assert!(refusal(&Refusal::OverBudget(over), Lang::Zh).contains("还剩 0 分"));
    }
}
