//! Bulk reads for other systems: everyone's balances, the people, and the entries of a
//! period (of one department and those under it), each paged by a cursor the answer
//! gives, so a payroll or BI export walks a company of 100,000 in pages.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{entry_view, page_limit};
use super::{ApiError, AppState};
use crate::domain::PeriodKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next_after` of the page before.
    #[serde(default)]
    after: String,
    /// 1–500, default 500.
    limit: Option<i64>,
}

/// `GET /api/v1/balances`: score, balance and pending of everyone, by userid.
pub async fn balances(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = page_limit(query.limit, 500)?;
    let page = state.store.accounts_after(&query.after, limit).await?;
    let next_after = next(
        page.len(),
        limit,
        page.last().map(|(a, _)| a.userid.clone()),
    );
    let balances: Vec<Value> = page
        .into_iter()
        .map(|(account, name)| {
            json!({ "userid": account.userid, "name": name, "score": account.totals.score,
                    "balance": account.totals.balance, "pending": account.totals.pending })
        })
        .collect();
    Ok(Json(
        json!({ "balances": balances, "next_after": next_after }),
    ))
}

/// `GET /api/v1/employees`: the people jifen knows, with their departments, by userid.
pub async fn employees(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = page_limit(query.limit, 500)?;
    let page = state.store.employees_after(&query.after, limit).await?;
    let next_after = next(page.len(), limit, page.last().map(|e| e.userid.clone()));
    Ok(Json(json!({ "employees": page, "next_after": next_after })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodEntriesQuery {
    /// First and last local day, inclusive.
    from: Date,
    to: Date,
    /// Only the people of this department and those under it.
    department: Option<String>,
    /// The `next_after` of the page before (an entry id).
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

/// Days one request may span: a year.
const MAX_DAYS: i32 = 366;

/// `GET /api/v1/entries?from=&to=&department=`: the entries that occurred in the period,
/// in id order. With a department, a page may hold fewer than `limit` (the others'
/// entries are skipped); page on while `next_after` is given.
pub async fn period_entries(
    State(state): State<AppState>,
    query: Result<Query<PeriodEntriesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = page_limit(query.limit, 500)?;
    if query.to < query.from {
        return Err(ApiError::BadRequest(format!(
            "to ({}) is before from ({})",
            query.to, query.from
        )));
    }
    let days = (query.to - query.from).get_days();
    if days >= MAX_DAYS {
        return Err(ApiError::BadRequest(format!(
            "a request spans at most {MAX_DAYS} days; page through longer periods"
        )));
    }
    let calendar = &state.calendar;
    let day = |d: Date| {
        calendar
            .period_of(PeriodKind::Day, d)
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    };
    let (start, end) = (day(query.from)?.start, day(query.to)?.end);
    let members: Option<HashSet<String>> = match &query.department {
        None => None,
        Some(id) => {
            if state.store.department(id).await?.is_none() {
                return Err(ApiError::NotFound(format!("unknown department {id:?}")));
            }
            Some(state.store.members_under(id).await?.into_iter().collect())
        }
    };
    let scanned = state
        .store
        .entries_between(None, start, end, query.after, limit)
        .await?;
    let next_after = next(scanned.len(), limit, scanned.last().map(|e| e.id));
    let tz = calendar.time_zone();
    let entries: Vec<_> = scanned
        .into_iter()
        .filter(|e| members.as_ref().is_none_or(|m| m.contains(&e.userid)))
        .map(|e| entry_view(e, tz))
        .collect();
    Ok(Json(json!({
        "from": query.from, "to": query.to, "department": query.department,
        "entries": entries, "next_after": next_after,
    })))
}

/// The cursor of the next page: the last one read, when the page was full.
fn next<T>(read: usize, limit: i64, last: Option<T>) -> Option<T> {
    (read as i64 == limit).then_some(last).flatten()
}
