//! `GET /metrics` (a key with `read`, or the admin token): Prometheus' text format. This process's counters (what
//! arrived and how it was answered, DingTalk calls by API and result) and, read from the
//! database at each scrape, what every replica shares: the inbox and outbox by status and the
//! age of their oldest waiting row, the ledger's last entry, the latest job runs, and workers
//! down here.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use jiff::Timestamp;

use super::{ApiError, AppState};
use crate::store::QueueSummary;

/// Job runs read to find each job's latest.
const JOB_RUNS: i64 = 200;

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let now = Timestamp::now();
    let mut out = crate::metrics::render();
    let store = state.store.as_ref();
    queue(
        &mut out,
        "inbox",
        "Inbox rows (events and messages received)",
        &store.inbox_summary().await?,
        now,
    );
    queue(
        &mut out,
        "outbox",
        "Outbox pushes (messages to DingTalk)",
        &store.outbox_summary().await?,
        now,
    );
    gauge(
        &mut out,
        "jifen_ledger_last_entry_id",
        "The highest ledger entry id: its rate is entries posted",
        &[("", store.last_entry_id().await? as f64)],
    );
    let mut latest: BTreeMap<String, (String, f64)> = BTreeMap::new();
    for run in store.job_runs(None, JOB_RUNS).await? {
        let at = run.started_at.as_second() as f64;
        let entry = latest
            .entry(run.job.clone())
            .or_insert((run.status.clone(), at));
        if at > entry.1 {
            *entry = (run.status, at);
        }
    }
    let jobs: Vec<(String, f64)> = latest
        .into_iter()
        .map(|(job, (status, at))| {
            (
                format!("job=\"{}\",status=\"{}\"", label(&job), label(&status)),
                at,
            )
        })
        .collect();
    gauge_labelled(
        &mut out,
        "jifen_job_last_run_timestamp_seconds",
        "When each job's latest run started, with how it ended",
        &jobs,
    );
    let down = state.health.down().len() as f64;
    gauge(
        &mut out,
        "jifen_workers_down",
        "Workers of this process that are down",
        &[("", down)],
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}

fn queue(out: &mut String, table: &str, help: &str, summary: &QueueSummary, now: Timestamp) {
    let rows: Vec<(String, f64)> = summary
        .counts
        .iter()
        .map(|(status, n)| (format!("status=\"{}\"", label(status)), *n as f64))
        .collect();
    gauge_labelled(
        out,
        &format!("jifen_{table}_rows"),
        &format!("{help}, by status"),
        &rows,
    );
    let age = summary
        .oldest_waiting
        .map_or(0.0, |at| now.duration_since(at).as_secs_f64().max(0.0));
    gauge(
        out,
        &format!("jifen_{table}_oldest_waiting_seconds"),
        &format!("Age of the oldest {table} row still waiting (0 when none)"),
        &[("", age)],
    );
}

fn gauge(out: &mut String, name: &str, help: &str, values: &[(&str, f64)]) {
    let values: Vec<(String, f64)> = values.iter().map(|(l, v)| (l.to_string(), *v)).collect();
    gauge_labelled(out, name, help, &values);
}

fn gauge_labelled(out: &mut String, name: &str, help: &str, values: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in values {
        let _ = match labels.is_empty() {
            true => writeln!(out, "{name} {value}"),
            false => writeln!(out, "{name}{{{labels}}} {value}"),
        };
    }
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
