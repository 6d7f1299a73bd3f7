//! The delivery worker: claims due pushes, sends them through the OpenAPI client, and
//! records every attempt. A failure is retried on the configured schedule; after the last
//! attempt the push is dead-lettered with the reason, visible in `jifen outbox list --dead`.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use super::{
    DAILY_DIGEST, ROBOT_GROUP, ROBOT_OTO, ROBOT_REPLY, RobotReply, WORK_NOTIFICATION,
    digest_message,
};
use crate::dingtalk::openapi::{Message, OpenApiClient};
use crate::domain::Calendar;
use crate::domain::calendar::signed;
use crate::runtime::CancellationToken;
use crate::store::{Delivery, OutboxRow, Store, StoreError};

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Waits after the first, second… failed attempt; a push fails for good after one more
    /// attempt than there are waits.
    pub retry_schedule: Vec<Duration>,
    /// How long a claimed push is ours; after a crash it is sent again once this passes.
    pub lease: Duration,
    pub batch: i64,
    pub idle_poll: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            retry_schedule: [10, 60, 300, 1800, 7200].map(Duration::from_secs).to_vec(),
            lease: Duration::from_secs(120),
            batch: 32,
            idle_poll: Duration::from_millis(500),
        }
    }
}

pub struct Deliverer {
    pub store: Arc<dyn Store>,
    pub client: Arc<OpenApiClient>,
    pub calendar: Calendar,
    pub settings: DeliverySettings,
    /// Notified when a push is due now (a bot reply), so it does not wait for the next poll.
    pub wake: Arc<Notify>,
}

impl Deliverer {
    /// Sends due pushes until `cancel` fires; a batch under way is finished first.
    pub async fn run(&self, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            match self.run_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "delivery cannot reach the database"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.idle_poll) => {}
                _ = self.wake.notified() => {}
                _ = cancel.cancelled() => {}
            }
        }
    }

    /// Claims and sends one batch; returns how many pushes it handled.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = Timestamp::now();
        let lease_until = now + signed(self.settings.lease);
        let rows = self
            .store
            .claim_outbox(now, lease_until, self.settings.batch)
            .await?;
        for row in &rows {
            let delivery = match self.send(row).await {
                Ok(detail) => Delivery::Sent { detail },
                Err(error) => match self
                    .settings
                    .retry_schedule
                    .get(row.attempts.max(1) as usize - 1)
                {
                    Some(wait) => Delivery::Retry {
                        error,
                        at: Timestamp::now() + signed(*wait),
                    },
                    None => Delivery::Dead { error },
                },
            };
            match &delivery {
                Delivery::Sent { detail } => {
                    tracing::info!(id = row.id, channel = %row.channel, recipient = %row.recipient, detail, "pushed")
                }
                Delivery::Retry { error, at } => {
                    tracing::warn!(id = row.id, attempt = row.attempts, error, retry_at = %at, "push failed; will retry")
                }
                Delivery::Dead { error } => tracing::error!(
                    id = row.id,
                    attempts = row.attempts,
                    error,
                    "push failed for good; dead-lettered (jifen outbox list --dead)"
                ),
            }
            self.store
                .finish_outbox(row, &delivery, Timestamp::now())
                .await?;
        }
        Ok(rows.len())
    }

    /// One attempt; what DingTalk said on success, or why it failed.
    async fn send(&self, row: &OutboxRow) -> Result<String, String> {
        let to = std::slice::from_ref(&row.recipient);
        match row.channel.as_str() {
            DAILY_DIGEST => return self.send_digest(row).await,
            ROBOT_REPLY => return self.send_reply(row).await,
            _ => {}
        }
        let message: Message = serde_json::from_value(row.payload.clone())
            .map_err(|e| format!("the payload is not a message: {e}"))?;
        match row.channel.as_str() {
            WORK_NOTIFICATION => self
                .client
                .send_work_notification(to, &message)
                .await
                .map(|task| format!("work notification task {task}"))
                .map_err(|e| e.to_string()),
            ROBOT_OTO => self
                .send_to_user(&row.recipient, &message)
                .await
                .map(|key| format!("robot message {key}")),
            ROBOT_GROUP => self
                .client
                .robot_send_to_group(&row.recipient, &message)
                .await
                .map(|key| format!("group message {key}"))
                .map_err(|e| e.to_string()),
            other => Err(format!("unknown channel {other:?}")),
        }
    }

    async fn send_reply(&self, row: &OutboxRow) -> Result<String, String> {
        let reply: RobotReply = serde_json::from_value(row.payload.clone())
            .map_err(|e| format!("the payload is not a robot reply: {e}"))?;
        // A little slack, so the request does not arrive just after the webhook expired.
        let valid = reply
            .webhook_expires_at
            .is_some_and(|at| at > Timestamp::now().as_millisecond() + 5_000);
        if let Some(webhook) = reply.webhook.as_deref().filter(|_| valid) {
            match self
                .client
                .reply_by_session(webhook, &reply.message, &reply.at)
                .await
            {
                Ok(()) => return Ok("replied through the sessionWebhook".into()),
                Err(e) => {
                    tracing::warn!(error = %e, "sessionWebhook reply failed; sending through the robot API")
                }
            }
        }
        // Without a trusted, live webhook the answer goes to the sender alone: the group a
        // message names is in its body, which the robot's signature does not cover.
        self.send_to_user(&reply.at, &reply.message)
            .await
            .map(|key| format!("direct reply {key}"))
    }

    /// A robot message to one person; DingTalk answers success even for a userid it does
    /// not know, and lists it as invalid.
    async fn send_to_user(&self, userid: &str, message: &Message) -> Result<String, String> {
        let sent = self
            .client
            .robot_send_to_users(&[userid.to_string()], message)
            .await
            .map_err(|e| e.to_string())?;
        if sent.invalid_staff_id_list.iter().any(|u| u == userid) {
            return Err(format!("DingTalk does not know user {userid}"));
        }
        Ok(sent.process_query_key)
    }

    async fn send_digest(&self, row: &OutboxRow) -> Result<String, String> {
        let day: jiff::civil::Date = row
            .payload
            .get("date")
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse().ok())
            .ok_or("the digest has no date")?;
        let entries: Vec<_> = self
            .store
            .entries(&row.recipient, 500, None)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|e| self.calendar.local_date(e.posted_at) == day && e.points != 0)
            .collect();
        let totals = self
            .store
            .account(&row.recipient)
            .await
            .map_err(|e| e.to_string())?
            .map(|a| a.totals)
            .unwrap_or_default();
        let Some(message) = digest_message(day, &entries, totals) else {
            return Ok("nothing to summarise".into());
        };
        self.client
            .send_work_notification(std::slice::from_ref(&row.recipient), &message)
            .await
            .map(|task| format!("digest task {task}"))
            .map_err(|e| e.to_string())
    }
}
