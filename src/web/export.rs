//! `GET /export/{period}.csv?expires=…&signature=…`: a month (quarter, year) of ledger
//! entries as CSV, and `/export/{period}.xlsx?…`: a closed period's frozen totals, behind the signed, expiring
//! links the bot and the HR console hand out. The CSV is streamed page by page, so a month
//! of millions of entries never sits in memory.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::{ApiError, AppState};
use crate::domain::Closable;
use crate::export::{Download, csv_header, csv_rows};
use crate::period::archive::{ArchiveError, read_archive};

const PAGE: i64 = 5_000;

pub async fn download(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(links) = &state.export else {
        return Err(ApiError::NotFound("exports are not configured".into()));
    };
    let (download, month) = Download::of_file(&file)
        .ok_or_else(|| ApiError::NotFound("exports are .csv or .xlsx files".into()))?;
    let param = |name: &str| query.get(name).map(String::as_str).unwrap_or("");
    links
        .verify(
            &file,
            param("expires"),
            param("signature"),
            Timestamp::now(),
        )
        .map_err(|e| ApiError::Forbidden(e.to_string()))?;
    match download {
        Download::Entries => month_csv(&state, month).await,
        Download::Archive => archive_xlsx(&state, month).await,
    }
}

/// A closed month's frozen totals; built in memory (a sheet row a person), off the runtime's
/// threads.
async fn archive_xlsx(state: &AppState, month: &str) -> Result<Response, ApiError> {
    let archive = read_archive(state.store.as_ref(), month, |_| {})
        .await
        .map_err(|e| match e {
            ArchiveError::NotClosed(_) => ApiError::NotFound(e.to_string()),
            ArchiveError::Store(e) => ApiError::Store(e),
            ArchiveError::Write { .. } => ApiError::Unavailable(e.to_string()),
        })?;
    let xlsx = tokio::task::spawn_blocking(move || archive.to_xlsx())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .map_err(|e| ApiError::Unavailable(format!("cannot write the workbook: {e}")))?;
    let disposition = format!("attachment; filename=\"jifen-{month}.xlsx\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        xlsx,
    )
        .into_response())
}

async fn month_csv(state: &AppState, month: &str) -> Result<Response, ApiError> {
    // The signature covers the period, so it parses; checked again all the same.
    let closable = Closable::parse(month).ok_or_else(|| {
        ApiError::BadRequest(format!("{month:?} is not a month, quarter or year"))
    })?;
    let period = state
        .calendar
        .period_of(closable.kind(), closable.first_day())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut names = state.store.employee_names().await?;
    names.sort();
    let header_line = csv_header().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let pages = Arc::new((state.store.clone(), state.calendar.clone(), names));
    // State: the id after which the next page starts, or None when done.
    let rows = futures_util::stream::try_unfold(Some(0i64), move |after| {
        let pages = pages.clone();
        async move {
            let Some(after) = after else { return Ok(None) };
            let (store, calendar, names) = &*pages;
            let entries = store
                .entries_between(None, period.start, period.end, after, PAGE)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            if entries.is_empty() {
                return Ok(None);
            }
            let next = (entries.len() as i64 == PAGE)
                .then(|| entries.last().map(|e| e.id))
                .flatten();
            let chunk = csv_rows(&entries, names, calendar)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok::<_, std::io::Error>(Some((Bytes::from(chunk), next)))
        }
    });
    let body = futures_util::stream::iter([Ok(Bytes::from(header_line))]);
    let body = Body::from_stream(futures_util::StreamExt::chain(body, rows));
    let disposition = format!("attachment; filename=\"jifen-{month}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
