//! `jifen inbox` and `jifen outbox`: what came in from DingTalk and what goes out to it,
//! with the failures an operator needs to see and requeue.

use crate::say;
use std::process::ExitCode;

use anyhow::bail;
use jiff::Timestamp;

use super::{InboxCommand, OutboxCommand};
use crate::domain::Calendar;
use crate::store::Store;

pub(super) async fn inbox(
    store: &dyn Store,
    command: InboxCommand,
    calendar: Calendar,
) -> anyhow::Result<ExitCode> {
    match command {
        InboxCommand::List {
            failed,
            json,
            limit,
        } => {
            let rows = store.inbox(failed.then_some("failed"), limit).await?;
            let tz = calendar.time_zone().clone();
            for row in &rows {
                if json {
                    say!("{}", serde_json::to_string(row)?)?;
                } else {
                    let received = row
                        .received_at
                        .to_zoned(tz.clone())
                        .strftime("%Y-%m-%d %H:%M:%S");
                    say!(
                        "#{:<6} {received}  {:<10} {:<24} attempts {}  {}",
                        row.id,
                        row.status,
                        row.event_type,
                        row.attempts,
                        row.dedup_key
                    )?;
                    if let Some(note) = &row.last_error {
                        say!("        {note}")?;
                    }
                    if row.status == "failed" && row.retryable {
                        let again = row.next_attempt_at.to_zoned(tz.clone());
                        say!(
                            "        tried again at {}",
                            again.strftime("%Y-%m-%d %H:%M")
                        )?;
                    }
                }
            }
            if !json {
                say!(
                    "{} event{}",
                    rows.len(),
                    if rows.len() == 1 { "" } else { "s" }
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        InboxCommand::Retry { id, .. } => {
            let requeued = store.retry_inbox(id, Timestamp::now()).await?;
            if let (Some(id), 0) = (id, requeued) {
                bail!("event #{id} is not a failed event (see jifen inbox list --failed)");
            }
            say!(
                "requeued {requeued} failed event{}",
                if requeued == 1 { "" } else { "s" }
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(super) async fn outbox(
    store: &dyn Store,
    command: OutboxCommand,
    calendar: Calendar,
) -> anyhow::Result<ExitCode> {
    match command {
        OutboxCommand::List { dead, json, limit } => {
            let rows = store.outbox(dead.then_some("dead"), limit).await?;
            let tz = calendar.time_zone().clone();
            for row in &rows {
                if json {
                    let attempts = store.outbox_attempts(row.id).await?;
                    let mut value = serde_json::to_value(row)?;
                    value["attempt_log"] = serde_json::to_value(attempts)?;
                    say!("{value}")?;
                } else {
                    let created = row
                        .created_at
                        .to_zoned(tz.clone())
                        .strftime("%Y-%m-%d %H:%M:%S");
                    say!(
                        "#{:<6} {created}  {:<8} {:<18} to {:<20} attempts {}",
                        row.id,
                        row.status,
                        row.channel,
                        row.recipient,
                        row.attempts
                    )?;
                    if let Some(error) = &row.last_error {
                        say!("        {error}")?;
                    }
                    if let Some(result) = &row.result {
                        say!("        DingTalk: {result}")?;
                    }
                }
            }
            if !json {
                say!(
                    "{} push{}",
                    rows.len(),
                    if rows.len() == 1 { "" } else { "es" }
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        OutboxCommand::Retry { id, .. } => {
            let requeued = store.retry_outbox(id, Timestamp::now()).await?;
            if let (Some(id), 0) = (id, requeued) {
                bail!("push #{id} is not dead-lettered (see jifen outbox list --dead)");
            }
            say!(
                "requeued {requeued} dead push{}",
                if requeued == 1 { "" } else { "es" }
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
