//! `/api/v1`: a person's account and their entries with explanations, and the audit trail.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState};
use crate::leaderboard::{BoardQuery, DepartmentOrder};
use crate::ledger::{Entry, Totals};
use crate::store::AuditRecord;

#[derive(Serialize)]
pub struct AccountView {
    pub userid: String,
    pub name: String,
    #[serde(flatten)]
    pub totals: Totals,
}

pub async fn account(
    State(state): State<AppState>,
    Path(userid): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let employee = state
        .store
        .employee(&userid)
        .await?
        .ok_or_else(|| unknown(&userid))?;
    let account = state
        .store
        .account(&userid)
        .await?
        .ok_or_else(|| unknown(&userid))?;
    Ok(Json(AccountView {
        userid,
        name: employee.name,
        totals: account.totals,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// At most this many entries (1–500, default 50).
    limit: Option<i64>,
    /// Only entries older than this entry id, for the next page.
    before: Option<i64>,
}

#[derive(Serialize)]
pub struct EntriesView {
    pub userid: String,
    pub entries: Vec<EntryView>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<i64>,
}

#[derive(Serialize)]
pub struct EntryView {
    #[serde(flatten)]
    pub entry: Entry,
    /// `posted`, `pending`, `approved`, `rejected` or `reversed`.
    pub status: &'static str,
    /// Event time in the organisation's time zone.
    pub occurred_local: String,
}

/// An entry as the API shows it: with its status and its local time.
pub(super) fn entry_view(entry: Entry, tz: &jiff::tz::TimeZone) -> EntryView {
    EntryView {
        status: status(&entry),
        occurred_local: entry
            .occurred_at
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
        entry,
    }
}

pub async fn entries(
    State(state): State<AppState>,
    Path(userid): Path<String>,
    query: Result<Query<EntriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EntriesView>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = page_limit(query.limit, 50)?;
    if state.store.employee(&userid).await?.is_none() {
        return Err(unknown(&userid));
    }
    let entries = state.store.entries(&userid, limit, query.before).await?;
    let next_before = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let tz = state.calendar.time_zone();
    let entries = entries.into_iter().map(|e| entry_view(e, tz)).collect();
    Ok(Json(EntriesView {
        userid,
        entries,
        next_before,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only what this person did or had done to them.
    userid: Option<String>,
    /// At most this many records, newest first (1–500, default 100).
    limit: Option<i64>,
}

#[derive(Serialize)]
pub struct AuditView {
    pub records: Vec<AuditRecord>,
}

pub async fn audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditView>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = page_limit(query.limit, 100)?;
    let records = state
        .store
        .audit_log(query.userid.as_deref(), limit)
        .await?;
    Ok(Json(AuditView { records }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardQuery {
    /// week, month, quarter, year or all (default week).
    window: Option<String>,
    /// current (default), previous, a date in the period, or 2026-10 / 2026-Q4 / 2026.
    period: Option<String>,
    /// Only this department and those under it; with by=department, the departments under it.
    dept: Option<String>,
    /// At most this many rows (1–100, default 20).
    limit: Option<usize>,
    /// Also this person's place.
    userid: Option<String>,
    /// person (default) or department.
    by: Option<String>,
    /// For departments: total (default) or per_head.
    order: Option<String>,
}

pub async fn leaderboard(
    State(state): State<AppState>,
    query: Result<Query<LeaderboardQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and 100, found {limit}"
        )));
    }
    let board = BoardQuery {
        window: query.window.as_deref().unwrap_or("week").parse()?,
        period: query.period,
        department: query.dept,
        limit,
    };
    let now = jiff::Timestamp::now();
    let index = &state.leaderboard;
    let body = match query.by.as_deref().unwrap_or("person") {
        "person" => {
            if query.order.is_some() {
                return Err(ApiError::BadRequest(
                    "order= ranks departments; use it with by=department".into(),
                ));
            }
            serde_json::to_value(index.people(&board, query.userid.as_deref(), now).await?)
        }
        "department" => {
            if query.userid.is_some() {
                return Err(ApiError::BadRequest(
                    "userid= places a person; use it with by=person".into(),
                ));
            }
            let order = match query.order.as_deref().unwrap_or("total") {
                "total" => DepartmentOrder::Total,
                "per_head" => DepartmentOrder::PerHead,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "order must be total or per_head, found {other:?}"
                    )));
                }
            };
            serde_json::to_value(index.departments(&board, order, now).await?)
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "by must be person or department, found {other:?}"
            )));
        }
    };
    body.map(Json)
        .map_err(|e| ApiError::Unavailable(format!("cannot write the board: {e}")))
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see README.md for the API".into())
}

pub(super) fn status(entry: &Entry) -> &'static str {
    if entry.reversed_by.is_some() {
        "reversed"
    } else if entry.is_pending() {
        "pending"
    } else if let Some(approved) = entry.approved {
        if approved { "approved" } else { "rejected" }
    } else {
        "posted"
    }
}

/// A list's `limit=`: 1 to 500, `default` when absent.
pub(super) fn page_limit(given: Option<i64>, default: i64) -> Result<i64, ApiError> {
    let limit = given.unwrap_or(default);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and 500, found {limit}"
        )));
    }
    Ok(limit)
}

fn unknown(userid: &str) -> ApiError {
    ApiError::NotFound(format!("unknown employee {userid:?}"))
}
