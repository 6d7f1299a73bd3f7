//! The jifen robot: HR, managers and employees talk to jifen in DingTalk chats. Signed
//! messages come in at `/dingtalk/robot` and wait in the inbox; the processor hands each to
//! the bot, which parses the command (`command`), checks the sender's role (`roles`), has
//! one handler per command family carry it out (`handlers`, chosen in `dispatch`) and
//! answers in the sender's language (`text`). A message acts once and is answered once:
//! its change, audit record, notifications and reply commit with the inbox row.

mod act;
pub mod card;
pub mod command;
mod dispatch;
mod handlers;
pub mod roles;
pub mod text;

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::json;
use tokio::sync::Notify;

pub use self::act::Acted;
use self::command::Lang;
use self::dispatch::Plan;
use self::roles::{Needed, OverBudget, RoleConfig};
use crate::badges::{BadgeError, Badging};
use crate::dingtalk::openapi::Message;
use crate::dingtalk::robot::RobotMessage;
use crate::domain::calendar::CalendarError;
use crate::domain::{Calendar, Catalogue};
use crate::export::ExportLinks;
use crate::leaderboard::{LeaderboardError, LeaderboardIndex};
use crate::ledger::{Allowance, LedgerError};
use crate::outbox::RobotReply;
use crate::rules::RuleSet;
use crate::store::{NewAudit, Store, StoreError};

#[derive(Debug, Clone)]
pub struct BotSettings {
    pub roles: RoleConfig,
    /// Points a manager may award in a month unless HR set their budget.
    pub manager_monthly_budget: i64,
    /// Manual awards and deductions above this many points wait for an HR admin's approval.
    pub review_threshold: i64,
    /// Days after an entry within which its person may appeal it.
    pub appeal_window_days: i64,
    /// What each person may give colleagues (点赞) a month.
    pub recognition: Allowance,
    /// The leaderboard card's template (`cards.leaderboard_template`): `排行` in a group is
    /// answered with an interactive card; without it, with markdown.
    pub leaderboard_card: Option<String>,
}

pub struct Bot {
    pub store: Arc<dyn Store>,
    pub rules: Arc<RuleSet>,
    /// What balance points buy.
    pub catalogue: Arc<Catalogue>,
    /// Badges and levels, and where the big badges are announced.
    pub badging: Badging,
    pub calendar: Calendar,
    pub leaderboard: Arc<LeaderboardIndex>,
    pub settings: BotSettings,
    /// `None` when there is no secret to sign export links with.
    pub export: Option<ExportLinks>,
    /// Told when a reply is queued, so the delivery worker sends it at once.
    pub wake: Arc<Notify>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Answered,
    /// Another worker took the row meanwhile (our lease ran out); its transaction decides.
    Superseded,
    /// Asked nothing jifen answers (a press on a card it does not know, a second 点赞), and
    /// why.
    Ignored(String),
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

/// Why a change was not made: answered (`text::refusal`), and kept in the audit trail.
#[derive(Debug)]
pub enum Refusal {
    /// The sender's roles do not allow the command at all.
    Denied(Needed),
    OwnPoints,
    /// The person mentioned is not in the address book.
    UnknownPerson,
    OutsideDepartments {
        name: String,
    },
    OverBudget(OverBudget),
    OwnEntry,
    EntryOutsideDepartments {
        entry: i64,
    },
    /// Four eyes: whoever made an award does not also approve it.
    OwnAward,
    NotAManager {
        name: String,
    },
    ExportsOff,
    /// Not in the rewards catalogue.
    UnknownReward(String),
    Badge(Box<BadgeError>),
    Ledger(LedgerError),
}

/// A change carried out: the answer, and whom it concerned.
struct Done {
    answer: String,
    subject: String,
}

enum Failed {
    Refused { refusal: Refusal, subject: String },
    Broken(BotError),
}

impl<E: Into<BotError>> From<E> for Failed {
    fn from(e: E) -> Failed {
        Failed::Broken(e.into())
    }
}

impl Failed {
    fn refused(refusal: Refusal, subject: &str) -> Failed {
        Failed::Refused {
            refusal,
            subject: subject.to_string(),
        }
    }

    /// A ledger refusal; a database or calendar failure stays a failure.
    fn ledger(e: LedgerError, subject: &str) -> Failed {
        match e {
            LedgerError::Store(e) => Failed::Broken(e.into()),
            LedgerError::Calendar(e) => Failed::Broken(e.into()),
            refused => Failed::refused(Refusal::Ledger(refused), subject),
        }
    }
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
        let typed = message.typed_text().unwrap_or("");
        let lang = Lang::of(typed);
        if let Some(handled) = self.leaderboard_card(inbox_id, message, now).await? {
            return Ok(handled);
        }
        let (plan, private) = self.plan(message, lang, now).await?;
        // In a group, a private answer goes to the sender one to one.
        let private = private && message.in_group();
        let mut tx = self.store.begin().await?;
        if !tx.complete_inbox(inbox_id, None, now).await? {
            return Ok(Handled::Superseded);
        }
        let (answer, audited) = match plan {
            Plan::Answer(answer) => (answer, None),
            Plan::Refuse { refusal, subject } => {
                (text::refusal(&refusal, lang), Some((subject, "refused")))
            }
            Plan::Change(change) => match self.change(tx.as_mut(), &change, now).await {
                Ok(Done { answer, subject }) => (answer, Some((subject, "ok"))),
                Err(Failed::Broken(e)) => return Err(e),
                Err(Failed::Refused { refusal, subject }) => {
                    // Nothing of the change may stay; the refusal itself is recorded.
                    drop(tx);
                    tx = self.store.begin().await?;
                    if !tx.complete_inbox(inbox_id, None, now).await? {
                        return Ok(Handled::Superseded);
                    }
                    (text::refusal(&refusal, lang), Some((subject, "refused")))
                }
            },
        };
        if let Some((subject, result)) = audited {
            // An export link works without a login: the trail says where it went, not what.
            let reply = if private { "sent privately" } else { &answer };
            tx.record_audit(&NewAudit {
                actor: sender.to_string(),
                action: "bot_command".into(),
                subject,
                reason: typed.to_string(),
                detail: json!({ "result": result, "reply": reply, "msg_id": message.msg_id }),
                at: now,
            })
            .await?;
        }
        if private {
            let to_sender = RobotReply {
                webhook: None,
                webhook_expires_at: None,
                ..reply_to(message, lang, answer)
            };
            tx.enqueue_outbox(&to_sender.into_row(&format!("{}:private", message.msg_id), now))
                .await?;
            let note = reply_to(message, lang, text::sent_privately(lang));
            tx.enqueue_outbox(&note.into_row(&message.msg_id, now))
                .await?;
        } else {
            let reply = reply_to(message, lang, answer);
            tx.enqueue_outbox(&reply.into_row(&message.msg_id, now))
                .await?;
        }
        tx.commit().await?;
        self.wake.notify_one();
        Ok(Handled::Answered)
    }
}

/// The answer to `message`, in its chat.
fn reply_to(message: &RobotMessage, lang: Lang, answer: String) -> RobotReply {
    RobotReply {
        message: Message::Markdown {
            title: text::title(lang).to_string(),
            text: answer,
        },
        at: message.sender_staff_id.clone().unwrap_or_default(),
        webhook: message.session_webhook.clone(),
        webhook_expires_at: message.session_webhook_expired_time,
    }
}
