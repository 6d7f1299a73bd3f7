//! The delivery worker: claims due pushes, sends them through the OpenAPI client, and
//! records every attempt. Robot replies have a lane of their own and pushes go out a few at
//! a time, so an answer never waits behind a slow work notification. A failure is retried on
//! the configured schedule (a rate limit spends no attempt); a push that cannot succeed, or
//! has used its attempts, is dead-lettered with the reason (`jifen outbox list --dead`).
//! What DingTalk did with each accepted work notification is read back and kept.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use tokio::sync::Notify;

use super::{
    CARD, CARD_UPDATE, CardPush, CardRefresh, DAILY_DIGEST, ROBOT_GROUP, ROBOT_OTO, ROBOT_REPLY,
    RobotReply, WORK_NOTIFICATION, digest_message,
};
use crate::dingtalk::openapi::{CardUpdate, Message, NewCard, OpenApiClient, SendResult};
use crate::domain::calendar::signed;
use crate::domain::{Calendar, Failure};
use crate::runtime::CancellationToken;
use crate::store::{Delivery, Lane, OutboxRow, SentTask, Store, StoreError};

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Waits after the first, second… failed attempt; a push fails for good after one more
    /// attempt than there are waits.
    pub retry_schedule: Vec<Duration>,
    /// How long a claimed push is ours; after a crash it is sent again once this passes
    /// (or at once, when the same process starts again).
    pub lease: Duration,
    pub batch: i64,
    /// Pushes sent at once, in each lane.
    pub concurrency: usize,
    pub idle_poll: Duration,
    /// How long after sending a work notification its outcome is read back; past
    /// `result_give_up` without an answer, it is recorded as unknown.
    pub result_after: Duration,
    pub result_give_up: Duration,
    /// Who claims: a restarted process with the same name takes its claims back at once.
    pub owner: String,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            retry_schedule: [10, 60, 300, 1800, 7200].map(Duration::from_secs).to_vec(),
            lease: Duration::from_secs(120),
            batch: 32,
            concurrency: 4,
            idle_poll: Duration::from_millis(500),
            result_after: Duration::from_secs(10),
            result_give_up: Duration::from_secs(3600),
            owner: "jifen".into(),
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
    /// Sends due pushes, replies in their own lane, and reads back what became of work
    /// notifications, until `cancel` fires; a batch under way is finished first.
    pub async fn run(&self, cancel: CancellationToken) {
        match self
            .store
            .release_outbox(&self.settings.owner, Timestamp::now())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(pushes = n, "took back the pushes this process held before"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot take back earlier claims; their leases will")
            }
        }
        tokio::join!(
            self.lane(Lane::Replies, &cancel),
            self.lane(Lane::Others, &cancel),
            self.check_results_until(&cancel),
        );
    }

    async fn lane(&self, lane: Lane, cancel: &CancellationToken) {
        while !cancel.is_cancelled() {
            match self.run_lane(lane).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "delivery cannot reach the database"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.idle_poll) => {}
                _ = self.wake.notified(), if lane == Lane::Replies => {}
                _ = cancel.cancelled() => {}
            }
        }
    }

    async fn check_results_until(&self, cancel: &CancellationToken) {
        while !cancel.is_cancelled() {
            if let Err(e) = self.check_results(Timestamp::now()).await {
                tracing::warn!(error = %e, "cannot read back work notification results now");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.result_after) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }

    /// Claims and sends one batch of each lane; returns how many pushes it handled.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        Ok(self.run_lane(Lane::Replies).await? + self.run_lane(Lane::Others).await?)
    }

    /// Claims and sends one batch of `lane`, a few at a time.
    async fn run_lane(&self, lane: Lane) -> Result<usize, StoreError> {
        let now = Timestamp::now();
        let lease_until = now + signed(self.settings.lease);
        let rows = self
            .store
            .claim_outbox(
                now,
                lease_until,
                self.settings.batch,
                &self.settings.owner,
                lane,
            )
            .await?;
        let handled = rows.len();
        let results: Vec<Result<(), StoreError>> = futures_util::stream::iter(rows)
            .map(|row| async move { self.deliver(&row).await })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<(), _>>()?;
        Ok(handled)
    }

    /// One attempt at one push, and its record.
    async fn deliver(&self, row: &OutboxRow) -> Result<(), StoreError> {
        let delivery = match self.send(row).await {
            Ok(sent) => Delivery::Sent {
                detail: sent.detail,
                task_id: sent.task_id,
            },
            Err(failure) => self.setback(row, failure),
        };
        match &delivery {
            Delivery::Sent { detail, .. } => {
                tracing::info!(id = row.id, channel = %row.channel, recipient = %row.recipient, detail, "pushed")
            }
            Delivery::Retry { error, at, .. } => {
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
            .await
    }

    /// What a failed attempt comes to, by its kind and the retry schedule.
    fn setback(&self, row: &OutboxRow, failure: Failure) -> Delivery {
        let error = failure.to_string();
        match failure {
            Failure::Permanent(_) => Delivery::Dead { error },
            Failure::RateLimited { after, .. } => Delivery::Retry {
                error,
                at: Timestamp::now() + signed(after),
                counted: false,
            },
            Failure::Retry(_) => {
                let attempt = usize::try_from(row.attempts.max(1) - 1).unwrap_or(usize::MAX);
                match self.settings.retry_schedule.get(attempt) {
                    Some(wait) => Delivery::Retry {
                        error,
                        at: Timestamp::now() + signed(*wait),
                        counted: true,
                    },
                    None => Delivery::Dead { error },
                }
            }
        }
    }

    /// One attempt; what DingTalk said on success, or why it failed.
    async fn send(&self, row: &OutboxRow) -> Result<Sent, Failure> {
        let to = std::slice::from_ref(&row.recipient);
        match row.channel.as_str() {
            DAILY_DIGEST => return self.send_digest(row).await,
            ROBOT_REPLY => return self.send_reply(row).await.map(Sent::detail),
            CARD => return self.send_card(row).await.map(Sent::detail),
            CARD_UPDATE => return self.update_card(row).await.map(Sent::detail),
            _ => {}
        }
        let message: Message = serde_json::from_value(row.payload.clone())
            .map_err(|e| Failure::Permanent(format!("the payload is not a message: {e}")))?;
        match row.channel.as_str() {
            WORK_NOTIFICATION => {
                let task = self.client.send_work_notification(to, &message).await?;
                Ok(Sent::task(format!("work notification task {task}"), task))
            }
            ROBOT_OTO => {
                let key = self.send_to_user(&row.recipient, &message).await?;
                Ok(Sent::detail(format!("robot message {key}")))
            }
            ROBOT_GROUP => {
                let key = self
                    .client
                    .robot_send_to_group(&row.recipient, &message)
                    .await?;
                Ok(Sent::detail(format!("group message {key}")))
            }
            other => Err(Failure::Permanent(format!("unknown channel {other:?}"))),
        }
    }

    async fn send_card(&self, row: &OutboxRow) -> Result<String, Failure> {
        let card: CardPush = serde_json::from_value(row.payload.clone())
            .map_err(|e| Failure::Permanent(format!("the payload is not a card: {e}")))?;
        let delivered = self
            .client
            .create_and_deliver_card(&NewCard {
                template_id: &card.template_id,
                out_track_id: &card.out_track_id,
                params: &card.params,
                spaces: &card.spaces,
            })
            .await?;
        let failed: Vec<String> = delivered
            .iter()
            .filter(|d| !d.success)
            .map(|d| format!("{} {}: {}", d.space_type, d.space_id, d.error_msg))
            .collect();
        if !failed.is_empty() && failed.len() == delivered.len() {
            // E.g. the robot is not in the group: trying again changes nothing.
            return Err(Failure::Permanent(format!(
                "DingTalk did not deliver card {}: {}",
                card.out_track_id,
                failed.join("; ")
            )));
        }
        Ok(match failed.is_empty() {
            true => format!("card {}", card.out_track_id),
            false => format!("card {}, not to {}", card.out_track_id, failed.join("; ")),
        })
    }

    async fn update_card(&self, row: &OutboxRow) -> Result<String, Failure> {
        let mut refresh: CardRefresh = serde_json::from_value(row.payload.clone())
            .map_err(|e| Failure::Permanent(format!("the payload is not a card update: {e}")))?;
        if let Some(param) = refresh.likes_param.take() {
            let likes = self.store.card_likes(&refresh.out_track_id).await?;
            refresh.params.insert(param, likes.to_string());
        }
        self.client
            .update_card(&CardUpdate {
                out_track_id: &refresh.out_track_id,
                params: (!refresh.params.is_empty()).then_some(&refresh.params),
                private: &refresh.private,
            })
            .await?;
        Ok(format!("card {} updated", refresh.out_track_id))
    }

    async fn send_reply(&self, row: &OutboxRow) -> Result<String, Failure> {
        let reply: RobotReply = serde_json::from_value(row.payload.clone())
            .map_err(|e| Failure::Permanent(format!("the payload is not a robot reply: {e}")))?;
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
        let key = self.send_to_user(&reply.at, &reply.message).await?;
        Ok(format!("direct reply {key}"))
    }

    /// A robot message to one person; DingTalk answers success even for a userid it does
    /// not know, and lists it as invalid.
    async fn send_to_user(&self, userid: &str, message: &Message) -> Result<String, Failure> {
        let sent = self
            .client
            .robot_send_to_users(&[userid.to_string()], message)
            .await?;
        if sent.invalid_staff_id_list.iter().any(|u| u == userid) {
            return Err(Failure::Permanent(format!(
                "DingTalk does not know user {userid}"
            )));
        }
        if sent
            .flow_controlled_staff_id_list
            .iter()
            .any(|u| u == userid)
        {
            return Err(Failure::Retry(format!(
                "DingTalk held back the message to {userid} (flow control)"
            )));
        }
        Ok(sent.process_query_key)
    }

    async fn send_digest(&self, row: &OutboxRow) -> Result<Sent, Failure> {
        let day: jiff::civil::Date = row
            .payload
            .get("date")
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| Failure::Permanent("the digest has no date".into()))?;
        let entries: Vec<_> = self
            .store
            .entries(&row.recipient, 500, None)
            .await?
            .into_iter()
            .filter(|e| self.calendar.local_date(e.posted_at) == day && e.points != 0)
            .collect();
        let totals = self
            .store
            .account(&row.recipient)
            .await?
            .map(|a| a.totals)
            .unwrap_or_default();
        let Some(message) = digest_message(day, &entries, totals) else {
            return Ok(Sent::detail("nothing to summarise".into()));
        };
        let task = self
            .client
            .send_work_notification(std::slice::from_ref(&row.recipient), &message)
            .await?;
        Ok(Sent::task(format!("digest task {task}"), task))
    }

    /// Reads back what became of work notifications sent a little while ago, and records it
    /// on each push; returns how many were settled.
    pub async fn check_results(&self, now: Timestamp) -> Result<usize, StoreError> {
        let before = now - signed(self.settings.result_after);
        let sent = self.store.unchecked_sends(before, 100).await?;
        let mut settled = 0;
        for task in &sent {
            let answer = self.client.work_notification_result(task.task_id).await;
            let result = match answer {
                Ok(result) => outcome(&result, &task.recipient),
                Err(e) => {
                    tracing::debug!(error = %e, task = task.task_id, "send result not read yet");
                    None
                }
            };
            let result = result.or_else(|| self.given_up(task, now));
            if let Some(result) = result {
                if result.starts_with("refused") {
                    tracing::warn!(id = task.id, recipient = %task.recipient, result, "DingTalk did not deliver a work notification");
                }
                self.store.record_send_result(task.id, &result).await?;
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// "unknown" for a push DingTalk has said nothing about for too long.
    fn given_up(&self, task: &SentTask, now: Timestamp) -> Option<String> {
        (task.sent_at + signed(self.settings.result_give_up) < now).then(|| {
            format!(
                "unknown: DingTalk said nothing about it within {} minutes",
                self.settings.result_give_up.as_secs() / 60
            )
        })
    }
}

/// What DingTalk reports for one recipient of a task, or `None` while it says nothing yet.
fn outcome(result: &SendResult, userid: &str) -> Option<String> {
    let listed = |list: &[String]| list.iter().any(|u| u == userid);
    if listed(&result.invalid_user_id_list) {
        Some("refused: DingTalk does not know this user (invalid)".into())
    } else if listed(&result.forbidden_user_id_list) {
        Some(
            "refused: held back by DingTalk's limits (the same message twice a day, or too many today)"
                .into(),
        )
    } else if listed(&result.failed_user_id_list) {
        Some("refused: DingTalk could not deliver it (failed)".into())
    } else if listed(&result.read_user_id_list) {
        Some("delivered, read".into())
    } else if listed(&result.unread_user_id_list) {
        Some("delivered, not read yet".into())
    } else {
        None
    }
}

/// What a successful send returns.
struct Sent {
    detail: String,
    task_id: Option<i64>,
}

impl Sent {
    fn detail(detail: String) -> Sent {
        Sent {
            detail,
            task_id: None,
        }
    }

    fn task(detail: String, task_id: i64) -> Sent {
        Sent {
            detail,
            task_id: Some(task_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_result_says_what_became_of_each_recipient() {
        let result = SendResult {
            invalid_user_id_list: vec!["0123456789".into()],
            forbidden_user_id_list: vec!["16842541552397523".into()],
            failed_user_id_list: vec![],
            read_user_id_list: vec!["281826612426286785".into()],
            unread_user_id_list: vec!["manager4220".into()],
        };
        let cases = [
            ("0123456789", Some("refused: DingTalk does not know")),
            ("16842541552397523", Some("refused: held back")),
            ("281826612426286785", Some("delivered, read")),
            ("manager4220", Some("delivered, not read yet")),
            ("someone-else", None),
        ];
        for (userid, want) in cases {
            let got = outcome(&result, userid);
            match want {
                Some(start) => assert!(
                    got.as_deref().is_some_and(|g| g.starts_with(start)),
                    "{userid}: {got:?}"
                ),
                None => assert_eq!(got, None, "{userid}"),
            }
        }
    }
}
