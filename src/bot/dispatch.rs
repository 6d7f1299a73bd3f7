//! Choosing what a message comes to, before anything is written: who sent it, which command
//! it is, whether the sender may run it; then questions are answered by their handler and
//! changes are handed to theirs inside the message's transaction.

use jiff::Timestamp;

use super::command::{Change, Command, Lang, Question, parse};
use super::roles::{Roles, may_run};
use super::text::{self, Unserved};
use super::{Bot, BotError, Done, Failed, Refusal, handlers};
use crate::dingtalk::robot::RobotMessage;
use crate::domain::Employee;
use crate::store::StoreTx;

/// Who asked, as jifen knows them.
pub(super) struct Sender<'m> {
    /// The request's identity (`robot:<msgId>`, `app:<nonce>`): a change asked for twice
    /// under it is made once.
    pub source: String,
    pub userid: &'m str,
    pub me: Employee,
    pub roles: Roles,
    pub lang: Lang,
}

/// What a message comes to before anything is written.
pub(super) enum Plan<'m> {
    /// An answer to a question, or to a command that could not be understood.
    Answer(String),
    /// A change that this person may not make: answered, and kept in the audit trail.
    Refuse {
        refusal: Refusal,
        subject: String,
    },
    Change(Box<Request<'m>>),
}

/// A change to make, and who asked for it.
pub(super) struct Request<'m> {
    pub sender: Sender<'m>,
    pub change: Change,
}

/// Answers that must not be read in a group: an export link works without a login, and the
/// audit trail is for HR and auditors.
fn is_private(command: &Command) -> bool {
    matches!(
        command,
        Command::Ask(Question::Audit { .. }) | Command::Do(Change::Export { .. })
    )
}

impl Bot {
    /// Reads what a question needs and checks who may make a change; writes nothing. Also
    /// says whether the answer is for the sender's eyes only.
    pub(super) async fn plan<'m>(
        &self,
        message: &'m RobotMessage,
        lang: Lang,
        now: Timestamp,
    ) -> Result<(Plan<'m>, bool), BotError> {
        let Some(typed) = message.typed_text() else {
            return Ok((Plan::Answer(text::unserved(Unserved::NotText, lang)), false));
        };
        let command = match parse(typed, &message.mentioned()) {
            Ok(command) => command,
            Err(usage) => return Ok((Plan::Answer(text::usage(&usage, lang)), false)),
        };
        let private = is_private(&command);
        Ok((
            self.plan_command(message, command, lang, now).await?,
            private,
        ))
    }

    async fn plan_command<'m>(
        &self,
        message: &'m RobotMessage,
        command: Command,
        lang: Lang,
        now: Timestamp,
    ) -> Result<Plan<'m>, BotError> {
        let unserved = |why| Ok(Plan::Answer(text::unserved(why, lang)));
        let userid = message.sender_staff_id.as_deref().unwrap_or("");
        if userid.is_empty() {
            return unserved(Unserved::Outsider);
        }
        let Some(me) = self.store.employee(userid).await? else {
            return unserved(Unserved::NotInDirectory);
        };
        let roles = Roles::of(userid, &self.settings.roles, &me.leads);
        if let Err(needed) = may_run(&roles, &command) {
            let subject = match &command {
                Command::Do(Change::Adjust { who, .. } | Change::Budget { who, .. }) => who.clone(),
                _ => String::new(),
            };
            return Ok(Plan::Refuse {
                refusal: Refusal::Denied(needed),
                subject,
            });
        }
        let sender = Sender {
            source: format!("robot:{}", message.msg_id),
            userid,
            me,
            roles,
            lang,
        };
        match command {
            Command::Ask(question) => self.answer(&sender, question, now).await.map(Plan::Answer),
            Command::Do(change) => Ok(Plan::Change(Box::new(Request { sender, change }))),
        }
    }

    async fn answer(
        &self,
        sender: &Sender<'_>,
        question: Question,
        now: Timestamp,
    ) -> Result<String, BotError> {
        match question {
            Question::Points => handlers::points::answer(self, sender, now).await,
            Question::Rank { window, department } => {
                handlers::rank::answer(self, sender, window, department, now).await
            }
            Question::History { month } => {
                handlers::history::answer(self, sender, month, now).await
            }
            Question::Rules => Ok(text::rules(sender.lang, &self.rules)),
            Question::Help => Ok(text::help(sender.lang, &sender.roles)),
            Question::Audit { who } => handlers::audit::answer(self, sender, who).await,
            Question::Rewards => handlers::shop::rewards(self, sender, now).await,
            Question::Redemptions => handlers::shop::redemptions(self, sender).await,
            Question::Appeals => handlers::appeals::list(self, sender, now).await,
            Question::Challenges => handlers::challenges::answer(self, sender).await,
            Question::Badges => {
                let held = self.store.badges_of(sender.userid).await?;
                Ok(text::badges::badges(sender.lang, &self.badging.book, &held))
            }
        }
    }

    /// Carries out a change inside `tx`; a refusal leaves `tx` to be rolled back.
    pub(super) async fn change(
        &self,
        tx: &mut dyn StoreTx,
        request: &Request<'_>,
        now: Timestamp,
    ) -> Result<Done, Failed> {
        let sender = &request.sender;
        match &request.change {
            Change::Adjust {
                who,
                points,
                reason,
            } => handlers::adjust::change(self, tx, sender, who, *points, reason, now).await,
            Change::Revoke { entry, reason } => {
                handlers::revoke::change(self, tx, sender, *entry, reason, now).await
            }
            Change::Approve { entry } => {
                handlers::review::approve(self, tx, sender, *entry, now).await
            }
            Change::Reject { entry, reason } => {
                handlers::review::reject(self, tx, sender, *entry, reason, now).await
            }
            Change::Budget { who, points } => {
                handlers::budget::change(self, tx, sender, who, *points, now).await
            }
            Change::Export { month } => handlers::export::change(self, sender, *month, now),
            Change::Redeem { reward } => {
                handlers::shop::redeem(self, tx, sender, reward, now).await
            }
            Change::Redemption { id, step, note } => {
                handlers::shop::step(tx, sender, *id, *step, note, now).await
            }
            Change::Appeal { entry, reason } => {
                handlers::appeals::file(self, tx, sender, *entry, reason, now).await
            }
            Change::Decide {
                appeal,
                verdict,
                note,
            } => handlers::appeals::decide(tx, sender, *appeal, *verdict, note, now).await,
            Change::Recognise {
                who,
                points,
                reason,
            } => handlers::recognise::change(self, tx, sender, who, *points, reason, now).await,
            Change::GrantBadge { who, badge, reason } => {
                handlers::badge::grant(self, tx, sender, who, badge, reason, now).await
            }
        }
    }
}
