//! Carrying out one robot message (an inbox row) for its sender. Questions are answered
//! from the store; changes go through the ledger in one transaction with the row's
//! completion, the audit record, the notifications and the reply, so a message acts once
//! and is answered once, even when processing is retried.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::json;
use tokio::sync::Notify;

use super::command::{Command, Lang, Window, parse};
use super::reply;
use super::roles::{RoleConfig, Roles, may_run, within_budget};
use crate::dingtalk::openapi::Message;
use crate::dingtalk::robot::RobotMessage;
use crate::domain::Calendar;
use crate::domain::Month;
use crate::domain::calendar::{CalendarError, PeriodKind};
use crate::export::ExportLinks;
use crate::leaderboard::{BoardQuery, LeaderboardError, LeaderboardIndex};
use crate::ledger::{self, Decision, LedgerError, ManualPost};
use crate::outbox::{self, RobotReply};
use crate::rules::RuleSet;
use crate::store::{NewAudit, Store, StoreError, StoreTx};

#[derive(Debug, Clone)]
pub struct BotSettings {
    pub roles: RoleConfig,
    /// Points a manager may award in a month unless HR set their budget.
    pub manager_monthly_budget: i64,
    /// Manual awards above this wait for an HR admin's approval.
    pub review_threshold: i64,
}

pub struct Bot {
    pub store: Arc<dyn Store>,
    pub rules: Arc<RuleSet>,
    pub calendar: Calendar,
    pub leaderboard: Arc<LeaderboardIndex>,
    pub settings: BotSettings,
    /// `None` when there is no secret to sign export links with.
    pub export: Option<ExportLinks>,
    /// Told when a reply is queued, so the delivery worker sends it at once.
    pub wake: Arc<Notify>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Answered,
    /// Another worker took the row meanwhile (our lease ran out); its transaction decides.
    Superseded,
}

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("the stored robot message is unreadable: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error(transparent)]
    Leaderboard(#[from] LeaderboardError),
}

/// What a message comes to before anything is written.
enum Plan {
    /// An answer to a question, or to a command that could not be understood.
    Answer(String),
    /// A change that this person may not make: answered, and kept in the audit trail.
    Refuse {
        answer: String,
        subject: String,
    },
    Change {
        command: Command,
        roles: Roles,
    },
}

/// A change carried out: the answer, and whom it concerned.
struct Done {
    answer: String,
    subject: String,
}

enum Failed {
    Refused { answer: String, subject: String },
    Broken(BotError),
}

impl<E: Into<BotError>> From<E> for Failed {
    fn from(e: E) -> Failed {
        Failed::Broken(e.into())
    }
}

fn refused(answer: impl Into<String>, subject: &str) -> Failed {
    Failed::Refused {
        answer: answer.into(),
        subject: subject.to_string(),
    }
}

/// A ledger refusal in the reply's language; a database failure stays a failure.
fn ledger_refusal(e: LedgerError, lang: Lang, subject: &str) -> Failed {
    let answer = match (&e, lang) {
        (LedgerError::Store(_) | LedgerError::Calendar(_), _) => {
            return Failed::Broken(match e {
                LedgerError::Store(e) => BotError::Store(e),
                LedgerError::Calendar(e) => BotError::Calendar(e),
                _ => unreachable!("matched above"),
            });
        }
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
        (LedgerError::OwnPoints { .. }, Lang::Zh) => "不能处理自己的积分。".to_string(),
        (_, Lang::Zh) => format!("没有执行：{e}"),
        (_, Lang::En) => format!("Not done: {e}."),
    };
    refused(answer, subject)
}

/// Whether `roles` reach `userid`: managers act only on people in the departments they
/// manage (and those below), HR admins on anyone.
async fn covers(tx: &mut dyn StoreTx, roles: &Roles, userid: &str) -> Result<bool, StoreError> {
    Ok(roles.covers(&tx.departments_of(userid).await?))
}

impl Bot {
    /// Acts on the robot message stored in inbox row `inbox_id`, and completes the row.
    pub async fn handle(
        &self,
        inbox_id: i64,
        payload: &str,
        now: Timestamp,
    ) -> Result<Handled, BotError> {
        let message: RobotMessage =
            serde_json::from_str(payload).map_err(|e| BotError::Malformed(e.to_string()))?;
        let message = &message;
        let sender = message.sender_staff_id.as_deref().unwrap_or("");
        let text = message.typed_text().unwrap_or("");
        let lang = Lang::of(text);
        let plan = self.plan(message, sender, text, lang, now).await?;
        let mut tx = self.store.begin().await?;
        if !tx.complete_inbox(inbox_id, None, now).await? {
            return Ok(Handled::Superseded);
        }
        let (answer, audited) = match plan {
            Plan::Answer(answer) => (answer, None),
            Plan::Refuse { answer, subject } => (answer, Some((subject, "refused"))),
            Plan::Change { command, roles } => {
                let outcome = self
                    .change(tx.as_mut(), &roles, &command, message, lang, now)
                    .await;
                match outcome {
                    Ok(Done { answer, subject }) => (answer, Some((subject, "ok"))),
                    Err(Failed::Broken(e)) => return Err(e),
                    Err(Failed::Refused { answer, subject }) => {
                        // Nothing of the change may stay; the refusal itself is recorded.
                        drop(tx);
                        tx = self.store.begin().await?;
                        if !tx.complete_inbox(inbox_id, None, now).await? {
                            return Ok(Handled::Superseded);
                        }
                        (answer, Some((subject, "refused")))
                    }
                }
            }
        };
        if let Some((subject, result)) = audited {
            tx.record_audit(&NewAudit {
                actor: sender.to_string(),
                action: "bot_command".into(),
                subject,
                reason: text.to_string(),
                detail: json!({ "result": result, "reply": answer, "msg_id": message.msg_id }),
                at: now,
            })
            .await?;
        }
        let title = lang.pick("积分", "jifen").to_string();
        let reply = RobotReply {
            message: Message::Markdown {
                title,
                text: answer,
            },
            at: sender.to_string(),
            webhook: message.session_webhook.clone(),
            webhook_expires_at: message.session_webhook_expired_time,
            group: message.in_group().then(|| message.conversation_id.clone()),
        };
        tx.enqueue_outbox(&reply.into_row(&message.msg_id, now))
            .await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(Handled::Answered)
    }

    /// Reads what a question needs and checks who may make a change; writes nothing.
    async fn plan(
        &self,
        message: &RobotMessage,
        sender: &str,
        text: &str,
        lang: Lang,
        now: Timestamp,
    ) -> Result<Plan, BotError> {
        let answer = |zh: &str, en: &str| Ok(Plan::Answer(lang.pick(zh, en).to_string()));
        if sender.is_empty() {
            return answer(
                "jifen 只为本企业的同事服务。",
                "jifen only serves the people of this organisation.",
            );
        }
        if message.typed_text().is_none() {
            return answer(
                "我只看得懂文字命令，发送「帮助」查看。",
                "I only read text commands; send \"help\".",
            );
        }
        let command = match parse(text, &message.mentioned()) {
            Ok(command) => command,
            Err(usage) => return Ok(Plan::Answer(usage.reply(lang))),
        };
        let Some(me) = self.store.employee(sender).await? else {
            return answer(
                "你还不在 jifen 的通讯录里，请 HR 同步通讯录（jifen employees sync）。",
                "You are not in jifen's address book yet; ask HR to sync it (jifen employees sync).",
            );
        };
        let roles = Roles::of(sender, &self.settings.roles, &me.leads);
        if let Err(answer) = may_run(&roles, &command, lang) {
            let subject = match &command {
                Command::Adjust { who, .. } | Command::Budget { who, .. } => who.clone(),
                _ => String::new(),
            };
            return Ok(Plan::Refuse { answer, subject });
        }
        let answer = match command {
            Command::Points => {
                let totals = self
                    .store
                    .account(sender)
                    .await?
                    .map(|a| a.totals)
                    .unwrap_or_default();
                let company = self.place(sender, None, now).await?;
                let department = match me.departments.first() {
                    Some(id) => {
                        let name = self.department_name(id).await?;
                        let place = self.place(sender, Some(id), now).await?;
                        Some((name, place))
                    }
                    None => None,
                };
                let recent = self.store.entries(sender, 5, None).await?;
                let department = department.as_ref().map(|(n, p)| (n.as_str(), *p));
                reply::standing(lang, &me.name, totals, company, department, &recent)
            }
            Command::Rank { window, department } => {
                let (scope, scope_name) = match (department, me.departments.first()) {
                    (false, _) => (None, lang.pick("全公司", "company").to_string()),
                    (true, Some(id)) => (Some(id.as_str()), self.department_name(id).await?),
                    (true, None) => {
                        return answer("你不属于任何部门。", "You are in no department.");
                    }
                };
                let query = BoardQuery {
                    window,
                    period: None,
                    department: scope.map(str::to_string),
                    limit: 10,
                };
                let board = self.leaderboard.people(&query, Some(sender), now).await?;
                let title = match lang {
                    Lang::Zh => format!("{}排行 · {scope_name}", reply::window_name(window, lang)),
                    Lang::En => format!(
                        "Ranking {} · {scope_name}",
                        reply::window_name(window, lang)
                    ),
                };
                reply::leaderboard(lang, &title, &board.top, board.me.as_ref())
            }
            Command::History { month } => {
                let month = month.unwrap_or_else(|| Month::of(self.calendar.local_date(now)));
                let period = self
                    .calendar
                    .period_of(PeriodKind::Month, month.first_day())?;
                const SHOWN: usize = 30;
                let mut entries = self
                    .store
                    .entries_between(Some(sender), period.start, period.end, 0, SHOWN as i64 + 1)
                    .await?;
                let more = entries.len() > SHOWN;
                entries.truncate(SHOWN);
                reply::history(lang, &month.to_string(), &entries, more)
            }
            Command::Rules => reply::rules(lang, &self.rules),
            Command::Help => reply::help(lang, &roles),
            Command::Audit { who } => {
                let records = self.store.audit_log(who.as_deref(), 20).await?;
                reply::audit(lang, who.as_deref(), &records, &self.calendar)
            }
            change => {
                return Ok(Plan::Change {
                    command: change,
                    roles,
                });
            }
        };
        Ok(Plan::Answer(answer))
    }

    /// A person's all-time place in the company or a department: (rank, how many are
    /// ranked); rank 0 when they are not ranked (excluded, or left).
    async fn place(
        &self,
        userid: &str,
        department: Option<&str>,
        now: Timestamp,
    ) -> Result<reply::Place, BotError> {
        let query = BoardQuery {
            window: Window::All,
            period: None,
            department: department.map(str::to_string),
            limit: 0,
        };
        let board = self.leaderboard.people(&query, Some(userid), now).await?;
        Ok((
            board.me.map_or(0, |m| i64::from(m.rank)),
            board.ranked as i64,
        ))
    }

    async fn department_name(&self, id: &str) -> Result<String, BotError> {
        Ok(self
            .store
            .department(id)
            .await?
            .map_or_else(|| id.to_string(), |d| d.name))
    }

    async fn name_of(&self, userid: &str) -> Result<Option<String>, BotError> {
        Ok(self.store.employee(userid).await?.map(|e| e.name))
    }

    /// Carries out a change inside `tx` for the message's sender; a refusal leaves `tx` to
    /// be rolled back.
    async fn change(
        &self,
        tx: &mut dyn StoreTx,
        roles: &Roles,
        command: &Command,
        message: &RobotMessage,
        lang: Lang,
        now: Timestamp,
    ) -> Result<Done, Failed> {
        let sender = message.sender_staff_id.as_deref().unwrap_or("");
        match command {
            Command::Adjust {
                who,
                points,
                reason,
            } => {
                if who == sender {
                    return Err(refused(
                        lang.pick(
                            "不能给自己加分或扣分。",
                            "Nobody can award or deduct their own points.",
                        ),
                        who,
                    ));
                }
                let Some(name) = self.name_of(who).await? else {
                    return Err(refused(
                        lang.pick(
                            "@ 的人不在 jifen 的通讯录里。",
                            "The person mentioned is not in jifen's address book.",
                        ),
                        who,
                    ));
                };
                if !roles.hr_admin {
                    if !covers(tx, roles, who).await? {
                        return Err(refused(
                            match lang {
                                Lang::Zh => format!("{name} 不在你管理的部门，不能给 TA 加减分。"),
                                Lang::En => format!(
                                    "{name} is not in a department you manage, so you cannot award or deduct their points."
                                ),
                            },
                            who,
                        ));
                    }
                    if *points > 0 {
                        // Lock both accounts, in one order, so that two awards by the same
                        // manager at once cannot both fit the budget, and cannot deadlock.
                        for userid in BTreeSet::from([sender, who.as_str()]) {
                            tx.lock_account(userid).await?;
                        }
                        let budget = tx
                            .monthly_budget(sender)
                            .await?
                            .unwrap_or(self.settings.manager_monthly_budget);
                        let month = self.calendar.period_containing(PeriodKind::Month, now)?;
                        let used = tx.manual_awarded_by(sender, month.start, month.end).await?;
                        within_budget(budget, used, *points, lang)
                            .map_err(|answer| refused(answer, who))?;
                    }
                }
                let review = *points > self.settings.review_threshold;
                let post = ManualPost {
                    actor: sender.to_string(),
                    userid: who.clone(),
                    points: *points,
                    reason: reason.clone(),
                    category: "manual".into(),
                    source_key: format!("robot:{}", message.msg_id),
                    review,
                    occurred_at: now,
                };
                let posting = ledger::post_manual(tx, &post, now)
                    .await
                    .map_err(|e| ledger_refusal(e, lang, who))?;
                let entry = posting.entry();
                let (zh, en) = match (review, *points > 0) {
                    (true, _) => (
                        format!("积分 {points:+} 待审核"),
                        format!("{points:+} points, pending review"),
                    ),
                    (false, true) => (
                        format!("获得 {points:+} 积分"),
                        format!("You earned {points:+} points"),
                    ),
                    (false, false) => {
                        (format!("扣除 {} 积分", -points), format!("{points} points"))
                    }
                };
                tx.enqueue_outbox(&outbox::change_notification(entry, &zh, &en))
                    .await?;
                let id = entry.id;
                let threshold = self.settings.review_threshold;
                let answer = match (lang, review) {
                    (Lang::Zh, false) => format!("已为 {name} 记 {points:+} 积分（#{id}）。"),
                    (Lang::Zh, true) => format!(
                        "已为 {name} 登记 {points:+} 积分（#{id}）；超过 {threshold} 分，等待 HR 审核（批准 {id}）。"
                    ),
                    (Lang::En, false) => format!("Recorded {points:+} for {name} (#{id})."),
                    (Lang::En, true) => format!(
                        "Recorded {points:+} for {name} (#{id}); above {threshold}, it waits for HR (approve {id})."
                    ),
                };
                Ok(Done {
                    answer,
                    subject: who.clone(),
                })
            }
            Command::Revoke { entry, reason } => {
                let Some(original) = tx.entry(*entry).await? else {
                    return Err(ledger_refusal(LedgerError::UnknownEntry(*entry), lang, ""));
                };
                let subject = original.userid.clone();
                if subject == sender {
                    return Err(refused(
                        lang.pick(
                            "不能撤销自己的记录。",
                            "Nobody can revoke their own entries.",
                        ),
                        &subject,
                    ));
                }
                if !roles.hr_admin && !covers(tx, roles, &subject).await? {
                    return Err(refused(
                        match lang {
                            Lang::Zh => format!("第 {entry} 条记录不属于你管理的部门。"),
                            Lang::En => {
                                format!("Entry #{entry} is not in a department you manage.")
                            }
                        },
                        &subject,
                    ));
                }
                let reversal = ledger::reverse(tx, *entry, sender, reason, now)
                    .await
                    .map_err(|e| ledger_refusal(e, lang, &subject))?;
                tx.enqueue_outbox(&outbox::change_notification(
                    &reversal,
                    &format!("第 {entry} 条积分记录已撤销"),
                    &format!("Entry #{entry} was revoked"),
                ))
                .await?;
                let points = reversal.points;
                let answer = match lang {
                    Lang::Zh => format!(
                        "已撤销第 {entry} 条记录：{points:+} 积分（#{}）。",
                        reversal.id
                    ),
                    Lang::En => format!("Revoked entry #{entry}: {points:+} (#{}).", reversal.id),
                };
                Ok(Done { answer, subject })
            }
            Command::Approve { entry } | Command::Reject { entry, .. } => {
                let (decision, reason) = match command {
                    Command::Reject { reason, .. } => (Decision::Reject, reason.as_str()),
                    _ => (Decision::Approve, ""),
                };
                let original = tx.entry(*entry).await?;
                let subject = original
                    .as_ref()
                    .map(|e| e.userid.clone())
                    .unwrap_or_default();
                // Four eyes: whoever made an award does not also approve it.
                if original.is_some_and(|e| e.actor.as_deref() == Some(sender)) {
                    return Err(refused(
                        lang.pick(
                            "不能审核自己发起的奖励，请另一位 HR 审核。",
                            "You made this award; another HR admin must review it.",
                        ),
                        &subject,
                    ));
                }
                let resolution = ledger::resolve(tx, *entry, decision, sender, reason, now)
                    .await
                    .map_err(|e| ledger_refusal(e, lang, &subject))?;
                let (zh, en) = match decision {
                    Decision::Approve => ("已通过审核", "was approved"),
                    Decision::Reject => ("被驳回", "was rejected"),
                };
                tx.enqueue_outbox(&outbox::change_notification(
                    &resolution,
                    &format!("第 {entry} 条积分{zh}"),
                    &format!("Entry #{entry} {en}"),
                ))
                .await?;
                let answer = match lang {
                    Lang::Zh => format!("第 {entry} 条记录{zh}（#{}）。", resolution.id),
                    Lang::En => format!("Entry #{entry} {en} (#{}).", resolution.id),
                };
                Ok(Done { answer, subject })
            }
            Command::Budget { who, points } => {
                let Some(manager) = self.store.employee(who).await? else {
                    return Err(refused(
                        lang.pick(
                            "@ 的人不在 jifen 的通讯录里。",
                            "The person mentioned is not in jifen's address book.",
                        ),
                        who,
                    ));
                };
                if !Roles::of(who, &self.settings.roles, &manager.leads).is_manager() {
                    return Err(refused(
                        match lang {
                            Lang::Zh => {
                                format!("{} 不是部门主管，预算对 TA 没有意义。", manager.name)
                            }
                            Lang::En => format!(
                                "{} manages no department, so a budget means nothing.",
                                manager.name
                            ),
                        },
                        who,
                    ));
                }
                tx.set_monthly_budget(who, *points, sender, now).await?;
                let month = self.calendar.period_containing(PeriodKind::Month, now)?;
                let used = tx.manual_awarded_by(who, month.start, month.end).await?;
                let name = manager.name;
                let answer = match lang {
                    Lang::Zh => {
                        format!("已把 {name} 的每月预算设为 {points} 分（本月已用 {used} 分）。")
                    }
                    Lang::En => format!(
                        "{name}'s monthly budget is now {points} points ({used} used this month)."
                    ),
                };
                Ok(Done {
                    answer,
                    subject: who.clone(),
                })
            }
            Command::Export { month } => {
                let Some(links) = &self.export else {
                    return Err(refused(
                        lang.pick(
                            "导出未配置：需要设置 JIFEN_DINGTALK_APP_SECRET。",
                            "Exports are not configured: set JIFEN_DINGTALK_APP_SECRET.",
                        ),
                        "",
                    ));
                };
                let link = links.link(*month, now);
                let minutes = links.minutes();
                let answer = match lang {
                    Lang::Zh => format!(
                        "[下载 {month} 积分明细（CSV）]({link})\n\n链接 {minutes} 分钟内有效。"
                    ),
                    Lang::En => format!(
                        "[Download the entries of {month} (CSV)]({link})\n\nThe link works for {minutes} minutes."
                    ),
                };
                Ok(Done {
                    answer,
                    subject: String::new(),
                })
            }
            Command::Points
            | Command::Rank { .. }
            | Command::History { .. }
            | Command::Rules
            | Command::Help
            | Command::Audit { .. } => unreachable!("questions are answered in plan"),
        }
    }
}
