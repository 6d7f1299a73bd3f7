//! `/api/v1/appeals`: the appeals, filing one on a person's behalf (a retry of the same
//! request answers the appeal it filed), and HR's decision; and the pairs of people who
//! thanked only each other, for HR to look at. The ledger decides who may.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::shop::{body, known};
use super::{ApiError, AppState};
use crate::domain::{Appeal, AppealStatus, Month, PeriodKind, Verdict};
use crate::ledger::{self, Flow, LedgerError, RECOGNITION_CATEGORY, Unappealable, mutual_pairs};
use crate::outbox;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppealsQuery {
    userid: Option<String>,
    /// open, upheld or rejected.
    status: Option<String>,
    /// At most this many, newest first (1–500, default 100).
    limit: Option<i64>,
}

#[derive(Serialize)]
pub struct AppealsView {
    appeals: Vec<Appeal>,
}

pub async fn appeals(
    State(state): State<AppState>,
    query: Result<Query<AppealsQuery>, QueryRejection>,
) -> Result<Json<AppealsView>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = super::api::page_limit(query.limit, 100)?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            AppealStatus::parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "status must be open, upheld or rejected, found {s:?}"
                ))
            })
        })
        .transpose()?;
    let appeals = state
        .store
        .appeals(query.userid.as_deref(), status, limit)
        .await?;
    Ok(Json(AppealsView { appeals }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    /// The person appealing: the entry must be theirs.
    userid: String,
    entry: i64,
    reason: String,
}

/// 201 with the new appeal; 200 with it when the same request is made again.
pub async fn file(
    State(state): State<AppState>,
    request: Result<Json<FileRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Appeal>), ApiError> {
    let request = body(request)?;
    known(&state, &request.userid).await?;
    let now = jiff::Timestamp::now();
    let mut tx = state.store.begin().await?;
    let filed = ledger::file_appeal(
        tx.as_mut(),
        request.entry,
        &request.userid,
        &request.reason,
        state.appeal_window_days,
        now,
    )
    .await;
    match filed {
        Ok(appeal) => {
            tx.commit().await?;
            Ok((StatusCode::CREATED, Json(appeal)))
        }
        Err(LedgerError::NotAppealable {
            why: Unappealable::AlreadyAppealed { appeal },
            ..
        }) => match state.store.appeal(appeal).await? {
            Some(a) if a.userid == request.userid && a.reason == request.reason.trim() => {
                Ok((StatusCode::OK, Json(a)))
            }
            _ => Err(ApiError::Conflict(format!(
                "entry #{} was appealed before (appeal #{appeal})",
                request.entry
            ))),
        },
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    /// The HR admin deciding; not whoever made the entry.
    actor: String,
    /// For `uphold`: how many points to give back; all of the deduction by default.
    points: Option<i64>,
    /// Required to reject: why.
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/appeals/{id}/{uphold|reject}`.
pub async fn decide(
    State(state): State<AppState>,
    Path((id, decision)): Path<(String, String)>,
    request: Result<Json<DecideRequest>, JsonRejection>,
) -> Result<Json<Appeal>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{id:?} is not an appeal number")))?;
    let request = body(request)?;
    let verdict = match decision.as_str() {
        "uphold" => Verdict::Uphold {
            points: request.points,
        },
        "reject" if request.points.is_none() => Verdict::Reject,
        "reject" => {
            return Err(ApiError::BadRequest(
                "points= says what an upheld appeal gives back; a rejection gives nothing".into(),
            ));
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "no decision {other:?}: uphold or reject"
            )));
        }
    };
    if !state.hr_admins.contains(&request.actor) {
        return Err(ApiError::Forbidden(format!(
            "{} is not an HR admin (roles.hr_admins): only HR decides appeals",
            request.actor
        )));
    }
    known(&state, &request.actor).await?;
    let now = jiff::Timestamp::now();
    let mut tx = state.store.begin().await?;
    let decided =
        ledger::decide_appeal(tx.as_mut(), id, verdict, &request.actor, &request.note, now).await?;
    tx.enqueue_outbox(&outbox::appeal_notification(
        &decided.appeal,
        decided.compensation.as_ref(),
    ))
    .await?;
    tx.commit().await?;
    Ok(Json(decided.appeal))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairsQuery {
    /// 2026-11; the current month by default.
    month: Option<String>,
}

/// `GET /api/v1/recognition/pairs`: people who thanked only each other in a month.
pub async fn recognition_pairs(
    State(state): State<AppState>,
    query: Result<Query<PairsQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let now = jiff::Timestamp::now();
    let period = match query.month.as_deref() {
        None => state.calendar.period_containing(PeriodKind::Month, now),
        Some(text) => {
            let month = Month::parse(text).ok_or_else(|| {
                ApiError::BadRequest(format!("month must be like 2026-11, found {text:?}"))
            })?;
            state
                .calendar
                .period_of(PeriodKind::Month, month.first_day())
        }
    }
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let flows: Vec<Flow> = state
        .store
        .gifts(RECOGNITION_CATEGORY, period.start, period.end)
        .await?
        .into_iter()
        .map(|(giver, recipient, points)| Flow {
            giver,
            recipient,
            points,
        })
        .collect();
    Ok(Json(serde_json::json!({
        "month": Month::of(period.first_day).to_string(),
        "pairs": mutual_pairs(&flows),
    })))
}

/// `GET /api/v1/employees/{userid}/badges`: the level with the way to the next, the badges
/// held, and what is left of this month's recognition allowance.
pub async fn milestones(
    State(state): State<AppState>,
    Path(userid): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if state.store.employee(&userid).await?.is_none() {
        return Err(ApiError::NotFound(format!("unknown employee {userid:?}")));
    }
    let score = state
        .store
        .account(&userid)
        .await?
        .map_or(0, |a| a.totals.score);
    let book = &state.badging.book;
    let level = book.level_of(score).map(|s| {
        serde_json::json!({
            "name": s.level.name,
            "name_en": s.level.name_en,
            "min": s.level.min,
            "next": s.next.map(|(n, to_go)| serde_json::json!({ "name": n.name, "name_en": n.name_en, "min": n.min, "to_go": to_go })),
        })
    });
    let badges: Vec<serde_json::Value> = state
        .store
        .badges_of(&userid)
        .await?
        .into_iter()
        .map(|g| {
            let badge = book.get(&g.badge_id);
            serde_json::json!({
                "id": g.badge_id,
                "name": badge.map(|b| b.name.as_str()),
                "name_en": badge.map(|b| b.name_en.as_str()),
                "reason": g.reason,
                "actor": g.actor,
                "granted_at": g.granted_at,
            })
        })
        .collect();
    let now = jiff::Timestamp::now();
    let month = state
        .calendar
        .period_containing(PeriodKind::Month, now)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let given: i64 = state
        .store
        .gifts(RECOGNITION_CATEGORY, month.start, month.end)
        .await?
        .into_iter()
        .filter(|(giver, _, _)| *giver == userid)
        .map(|(_, _, points)| points)
        .sum();
    let allowance = state.recognition;
    Ok(Json(serde_json::json!({
        "userid": userid,
        "score": score,
        "level": level,
        "badges": badges,
        "recognition": {
            "monthly": allowance.monthly,
            "per_colleague": allowance.per_recipient,
            "given": given,
            "left": (allowance.monthly - given).max(0),
        },
    })))
}
