//! The review digest: once a day, each HR admin is told what waits for their review (how
//! many entries, the oldest few) with a link to the queue, through the outbox. Nothing
//! waiting, nothing sent.

use jiff::Timestamp;
use serde_json::json;

use super::JobError;
use crate::dingtalk::openapi::Message;
use crate::outbox::WORK_NOTIFICATION;
use crate::store::{NewOutboxRow, Store};

/// Entries named in the message; the queue has the rest.
const NAMED: usize = 5;
/// Entries counted at most.
const COUNTED: i64 = 1_000;

/// Who is told, and where the queue is.
#[derive(Debug, Clone, Default)]
pub struct ReviewDigestSettings {
    pub hr_admins: Vec<String>,
    /// The review queue's address, e.g. `https://jifen.example.com/app/review`.
    pub queue_url: String,
}

pub async fn post_review_digest(
    store: &dyn Store,
    settings: &ReviewDigestSettings,
    slot: &str,
    now: Timestamp,
) -> Result<String, JobError> {
    let pending = store.pending_entries(COUNTED).await?;
    if pending.is_empty() || settings.hr_admins.is_empty() {
        return Ok(format!(
            "{} entries wait for review; nobody told",
            pending.len()
        ));
    }
    let names = store.employee_names().await?;
    let name = |userid: &str| {
        names
            .iter()
            .find(|(u, _)| u == userid)
            .map_or(userid, |(_, n)| n.as_str())
            .to_string()
    };
    let more = if pending.len() as i64 >= COUNTED {
        "+"
    } else {
        ""
    };
    let mut text = format!("### {}{more} 条积分记录待审核\n\n", pending.len());
    for e in pending.iter().take(NAMED) {
        text.push_str(&format!(
            "- #{} {} {:+}：{}\n",
            e.id,
            name(&e.userid),
            e.points,
            e.explanation.zh
        ));
    }
    let message = Message::ActionCard {
        title: format!("{} 条积分记录待审核", pending.len()),
        text,
        button: "打开审核页".into(),
        url: settings.queue_url.clone(),
    };
    let mut tx = store.begin().await?;
    for hr in &settings.hr_admins {
        tx.enqueue_outbox(&NewOutboxRow {
            dedup_key: format!("review-digest:{slot}:{hr}"),
            channel: WORK_NOTIFICATION.into(),
            recipient: hr.clone(),
            payload: json!(message),
            due_at: now,
            created_at: now,
        })
        .await?;
    }
    tx.commit().await?;
    Ok(format!(
        "{} entries wait for review; {} HR admins told",
        pending.len(),
        settings.hr_admins.len()
    ))
}
