//! Pushes to DingTalk, made durable: every message is an outbox row written in the same
//! transaction as the change that causes it, and a delivery worker sends it, retrying on a
//! schedule and dead-lettering with the reason after the last attempt (invariant 6).

pub mod deliver;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::badges::{self, BadgeError, Badging, Granted};
use crate::dingtalk::card::CardSpace;
use crate::dingtalk::openapi::Message;
use crate::domain::{Announce, Appeal, Calendar, Redemption, RedemptionStatus};
use crate::ledger::{Entry, EventPosting, Totals};
use crate::rules::NotifyPolicy;
use crate::store::{NewOutboxRow, StoreError, StoreTx};

pub const WORK_NOTIFICATION: &str = "work_notification";
pub const ROBOT_OTO: &str = "robot_oto";
pub const ROBOT_GROUP: &str = "robot_group";
/// A work notification built when it is sent: the day's entries of one person.
pub const DAILY_DIGEST: &str = "daily_digest";
/// The robot's answer to a message: through its sessionWebhook while that is valid and on
/// a trusted origin, else through the robot API to the sender.
pub const ROBOT_REPLY: &str = "robot_reply";

/// An interactive card created from a template and delivered (`card/instances/createAndDeliver`).
pub const CARD: &str = "card";
/// A card updated in place (`PUT card/instances`). Must match the store's reply lane.
pub const CARD_UPDATE: &str = "card_update";

/// A card to create and deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPush {
    pub template_id: String,
    pub out_track_id: String,
    pub params: BTreeMap<String, String>,
    pub spaces: Vec<CardSpace>,
}

/// New values for a card: shared ones, and private ones by userid. With `likes_param`, that
/// shared parameter is set to the card's like count when the update is sent, so the last
/// update sent carries every like made before it, whatever order updates go out in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRefresh {
    pub out_track_id: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub private: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub likes_param: Option<String>,
}

/// Where and how to answer one robot message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotReply {
    pub message: Message,
    /// The sender, @-mentioned in the reply.
    pub at: String,
    pub webhook: Option<String>,
    /// Milliseconds since the epoch.
    pub webhook_expires_at: Option<i64>,
}

impl RobotReply {
    /// The row that answers robot message `msg_id`: one reply per message.
    pub fn into_row(self, msg_id: &str, now: Timestamp) -> NewOutboxRow {
        NewOutboxRow {
            dedup_key: format!("reply:{msg_id}"),
            channel: ROBOT_REPLY.into(),
            recipient: self.at.clone(),
            payload: json!(self),
            due_at: now,
            created_at: now,
        }
    }
}

/// Where a person stands: their place by score and how many are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub totals: Totals,
    pub rank: i64,
    pub of: i64,
}

/// Queues the notifications a posting's rules ask for, in the posting's transaction: an
/// immediate one says where the person stands now, a digest waits for the evening. A
/// 0-point entry (a cap reached) is shown on request, not pushed.
pub async fn queue_notices(
    tx: &mut dyn StoreTx,
    posting: &EventPosting,
    calendar: &Calendar,
    now: Timestamp,
) -> Result<(), StoreError> {
    for notice in &posting.notices {
        let Some(entry) = posting.posted().find(|e| e.id == notice.entry_id) else {
            continue;
        };
        if entry.points == 0 {
            continue;
        }
        let push = match notice.policy {
            NotifyPolicy::Immediate => {
                let totals = tx
                    .lock_account(&entry.userid)
                    .await?
                    .map(|a| a.totals)
                    .unwrap_or_default();
                let (rank, of) = tx.score_rank(&entry.userid).await?;
                let standing = Standing { totals, rank, of };
                entry_notification(entry, &notice.rule_name, standing)
            }
            NotifyPolicy::Digest => daily_digest(&entry.userid, now, calendar),
            NotifyPolicy::None => continue,
        };
        tx.enqueue_outbox(&push).await?;
    }
    Ok(())
}

/// The work notification telling a person about an entry someone made by hand (an award, a
/// deduction, a reversal or a review decision), headed by what happened.
pub fn change_notification(entry: &Entry, headline_zh: &str, headline_en: &str) -> NewOutboxRow {
    let message = Message::Markdown {
        title: headline_zh.to_string(),
        text: format!(
            "### {headline_zh}\n\n{}\n\n{headline_en}: {}",
            entry.explanation.zh, entry.explanation.en
        ),
    };
    entry_message(entry, message)
}

/// The work notification telling a person where their redemption stands: about the entry
/// it posted (the hold, a refund), or, for a step that posted none, about the redemption.
/// One per redemption and status.
pub fn redemption_notification(redemption: &Redemption, entry: Option<&Entry>) -> NewOutboxRow {
    let (zh, en) = match redemption.status {
        RedemptionStatus::Held => ("兑换已提交", "Redemption placed"),
        RedemptionStatus::Approved if entry.is_some() => ("兑换成功", "Redeemed"),
        RedemptionStatus::Approved => ("兑换已通过", "Redemption approved"),
        RedemptionStatus::Fulfilled => ("奖品已发放", "Reward handed over"),
        RedemptionStatus::Rejected => (
            "兑换被驳回，积分已退还",
            "Redemption rejected, points refunded",
        ),
        RedemptionStatus::Cancelled => (
            "兑换已取消，积分已退还",
            "Redemption cancelled, points refunded",
        ),
    };
    if let Some(entry) = entry {
        return change_notification(entry, zh, en);
    }
    let note = redemption
        .note
        .as_deref()
        .map(|n| format!("（{n}）"))
        .unwrap_or_default();
    let message = Message::Markdown {
        title: zh.to_string(),
        text: format!(
            "### {zh}\n\n兑换单 #{} 「{}」：{}{note}\n\n{en}: redemption #{} \"{}\" is {}",
            redemption.id,
            redemption.reward_name,
            redemption.status.zh(),
            redemption.id,
            redemption.reward_name_en,
            redemption.status.as_str(),
        ),
    };
    NewOutboxRow {
        dedup_key: format!(
            "notify:redemption:{}:{}",
            redemption.id,
            redemption.status.as_str()
        ),
        channel: WORK_NOTIFICATION.into(),
        recipient: redemption.userid.clone(),
        payload: json!(message),
        due_at: redemption.updated_at,
        created_at: redemption.updated_at,
    }
}

/// The work notification telling a person that their 积分兑换 approval asked for what
/// cannot be redeemed, and why; one per instance and step.
pub fn form_redemption_refused(
    userid: &str,
    process_instance_id: &str,
    step: &str,
    why: (&str, &str),
    at: Timestamp,
) -> NewOutboxRow {
    let (zh, en) = why;
    let message = Message::Markdown {
        title: "积分兑换未受理".into(),
        text: format!("### 积分兑换未受理\n\n{zh}\n\nYour redemption request was not taken: {en}"),
    };
    NewOutboxRow {
        dedup_key: format!("notify:redemption-form:{process_instance_id}:{step}"),
        channel: WORK_NOTIFICATION.into(),
        recipient: userid.to_string(),
        payload: json!(message),
        due_at: at,
        created_at: at,
    }
}

/// The work notification telling a person how their appeal was decided: about the
/// compensating entry when upheld, else about the appeal and its reason.
pub fn appeal_notification(appeal: &Appeal, compensation: Option<&Entry>) -> NewOutboxRow {
    if let Some(entry) = compensation {
        return change_notification(entry, "申诉成立", "Appeal upheld");
    }
    let why = appeal.decision_note.as_deref().unwrap_or_default();
    let at = appeal.decided_at.unwrap_or(appeal.created_at);
    let message = Message::Markdown {
        title: "申诉驳回".into(),
        text: format!(
            "### 申诉驳回\n\n申诉 #{}（第 {} 条记录）未成立：{why}\n\nAppeal #{} on entry #{} was rejected: {why}",
            appeal.id, appeal.entry_id, appeal.id, appeal.entry_id
        ),
    };
    NewOutboxRow {
        dedup_key: format!("notify:appeal:{}", appeal.id),
        channel: WORK_NOTIFICATION.into(),
        recipient: appeal.userid.clone(),
        payload: json!(message),
        due_at: at,
        created_at: at,
    }
}

/// The work notification telling a person they earned a badge, once per badge; and, for a
/// badge announced to groups, a robot message to each of `groups` (openConversationIds).
pub fn badge_notifications(granted: &Granted, groups: &[String]) -> Vec<NewOutboxRow> {
    let Granted { badge, grant } = granted;
    let about = if badge.description.is_empty() {
        String::new()
    } else {
        format!("\n\n{}", badge.description)
    };
    let message = Message::Markdown {
        title: format!("获得徽章「{}」", badge.name),
        text: format!(
            "### 🏅 获得徽章「{}」\n\n{}{about}\n\nYou earned the badge \"{}\": {}",
            badge.name, grant.reason, badge.name_en, grant.reason
        ),
    };
    let key = format!("{}:{}", grant.userid, grant.badge_id);
    let mut rows = vec![NewOutboxRow {
        dedup_key: format!("notify:badge:{key}"),
        channel: WORK_NOTIFICATION.into(),
        recipient: grant.userid.clone(),
        payload: json!(message),
        due_at: grant.granted_at,
        created_at: grant.granted_at,
    }];
    if badge.announce == Announce::Group {
        let cheer = Message::Markdown {
            title: format!("🏅 {}", badge.name),
            text: format!(
                "### 🏅 恭喜 {} 获得徽章「{}」\n\n{}{about}",
                grant.userid, badge.name, grant.reason
            ),
        };
        rows.extend(groups.iter().map(|group| NewOutboxRow {
            dedup_key: format!("announce:badge:{key}:{group}"),
            channel: ROBOT_GROUP.into(),
            recipient: group.clone(),
            payload: json!(cheer),
            due_at: grant.granted_at,
            created_at: grant.granted_at,
        }));
    }
    rows
}

/// Why an event could not be posted with its notifications.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Badge(#[from] BadgeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Posts `event` through the rules and, in the same transaction, queues the notifications
/// of its entries and grants (and announces) the badges they earn: what every path that
/// posts an event does (DingTalk's, other systems', imports).
pub async fn post_and_tell(
    tx: &mut dyn StoreTx,
    rules: &crate::rules::RuleSet,
    badging: &Badging,
    calendar: &Calendar,
    event: &crate::domain::DomainEvent,
    now: Timestamp,
) -> Result<EventPosting, PostError> {
    let posting = crate::ledger::post_event(tx, rules, calendar, event, now).await?;
    queue_notices(tx, &posting, calendar, now).await?;
    let people = posting.posted().map(|e| e.userid.clone()).collect();
    let rules: BTreeSet<String> = posting.posted().filter_map(|e| e.rule_id.clone()).collect();
    let earning = badges::Earning::Posted(&rules);
    grant_and_announce(tx, badging, calendar, &people, earning, now).await?;
    Ok(posting)
}

/// Grants each of `people` the badges they have earned and queues their announcements, in
/// the caller's transaction; returns how many were granted.
pub async fn grant_and_announce(
    tx: &mut dyn StoreTx,
    badging: &Badging,
    calendar: &Calendar,
    people: &BTreeSet<String>,
    earning: badges::Earning<'_>,
    now: Timestamp,
) -> Result<usize, BadgeError> {
    if badging.book.badges.is_empty() {
        return Ok(0);
    }
    let mut granted = 0;
    for userid in people {
        for badge in badges::grant_earned(tx, &badging.book, calendar, userid, earning, now).await?
        {
            for row in badge_notifications(&badge, &badging.groups) {
                tx.enqueue_outbox(&row).await?;
            }
            granted += 1;
        }
    }
    Ok(granted)
}

/// The work notification about `entry`: one per entry, whoever asks for it.
fn entry_message(entry: &Entry, message: Message) -> NewOutboxRow {
    NewOutboxRow {
        dedup_key: format!("notify:entry:{}", entry.id),
        channel: WORK_NOTIFICATION.into(),
        recipient: entry.userid.clone(),
        payload: json!(message),
        due_at: entry.posted_at,
        created_at: entry.posted_at,
    }
}

/// The work notification telling a person about a new entry, e.g. "+5 积分 · 准时打卡
/// (attendance.ontime v3) — 余额 128，排名 12/340".
pub fn entry_notification(entry: &Entry, rule_name: &str, standing: Standing) -> NewOutboxRow {
    let Standing { totals, rank, of } = standing;
    let rule = match (&entry.rule_id, entry.rule_version) {
        (Some(id), Some(v)) => format!(" ({id} v{v})"),
        _ => String::new(),
    };
    let held = if entry.deltas.pending != 0 {
        "，待审核后到账"
    } else {
        ""
    };
    let message = Message::Markdown {
        title: format!("积分 {:+}", entry.points),
        text: format!(
            "### {:+} 积分 · {rule_name}{rule}{held}\n\n{}\n\n余额 {} · 总积分 {} · 排名 {rank}/{of}\n\nYou {} {} 积分 for {rule_name}{rule} — balance {}, rank {rank} of {of}",
            entry.points,
            entry.explanation.zh,
            totals.balance,
            totals.score,
            if entry.points >= 0 { "earned" } else { "lost" },
            if entry.points >= 0 {
                format!("{:+}", entry.points)
            } else {
                entry.points.abs().to_string()
            },
            totals.balance,
        ),
    };
    entry_message(entry, message)
}

/// Local hour at which a day's digest is sent.
pub const DIGEST_HOUR: i8 = 20;

/// The day's digest for a person, due in the evening; one per person per day, so DingTalk's
/// once-a-day rule for the same content never swallows one.
pub fn daily_digest(userid: &str, posted_at: Timestamp, calendar: &Calendar) -> NewOutboxRow {
    let day = calendar.local_date(posted_at);
    let evening = day
        .at(DIGEST_HOUR, 0, 0, 0)
        .to_zoned(calendar.time_zone().clone())
        .map(|z| z.timestamp())
        .unwrap_or(posted_at);
    NewOutboxRow {
        dedup_key: format!("digest:{userid}:{day}"),
        channel: DAILY_DIGEST.into(),
        recipient: userid.to_string(),
        payload: json!({ "date": day }),
        due_at: evening.max(posted_at),
        created_at: posted_at,
    }
}

/// The digest message for a person's entries of one day; `None` when there are none.
pub fn digest_message(day: Date, entries: &[Entry], totals: Totals) -> Option<Message> {
    if entries.is_empty() {
        return None;
    }
    let sum: i64 = entries.iter().map(|e| e.points).sum();
    let lines: Vec<String> = entries
        .iter()
        .map(|e| format!("- {:+} {}", e.points, e.explanation.zh))
        .collect();
    Some(Message::Markdown {
        title: format!("{day} 积分小结 {sum:+}"),
        text: format!(
            "### {day} 积分小结：{sum:+}\n\n{}\n\n余额 {} · 总积分 {}",
            lines.join("\n"),
            totals.balance,
            totals.score
        ),
    })
}
