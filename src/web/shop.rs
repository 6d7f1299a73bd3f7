//! `/api/v1/rewards` and `/api/v1/redemptions`: the catalogue with what is left, redeeming on
//! a person's behalf (safe to retry under one `Idempotency-Key`), and the steps HR takes.
//! The ledger decides who may take which step; this edge only reads requests and answers.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::idempotent::idempotency_key;
use super::{ApiError, AppState};
use crate::domain::{Redemption, RedemptionStatus, RedemptionStep, Reward};
use crate::ledger::{self, Redeem, Redeemed};
use crate::outbox;

#[derive(Serialize)]
pub struct RewardView<'a> {
    #[serde(flatten)]
    reward: &'a Reward,
    /// How many are left; absent without a stock.
    left: Option<i64>,
}

pub async fn rewards(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let out = state.store.rewards_out().await?;
    let rewards: Vec<RewardView<'_>> = state
        .catalogue
        .rewards
        .iter()
        .map(|reward| RewardView {
            reward,
            left: reward.left(out.get(&reward.id).copied().unwrap_or(0)),
        })
        .collect();
    Ok(Json(serde_json::json!({ "rewards": rewards })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedemptionsQuery {
    userid: Option<String>,
    /// held, approved, fulfilled, rejected or cancelled.
    status: Option<String>,
    /// At most this many, newest first (1–500, default 100).
    limit: Option<i64>,
}

#[derive(Serialize)]
pub struct RedemptionsView {
    redemptions: Vec<Redemption>,
}

pub async fn redemptions(
    State(state): State<AppState>,
    query: Result<Query<RedemptionsQuery>, QueryRejection>,
) -> Result<Json<RedemptionsView>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = super::api::page_limit(query.limit, 100)?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            RedemptionStatus::parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "status must be held, approved, fulfilled, rejected or cancelled, found {s:?}"
                ))
            })
        })
        .transpose()?;
    let redemptions = state
        .store
        .redemptions(query.userid.as_deref(), status, limit)
        .await?;
    Ok(Json(RedemptionsView { redemptions }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    /// Who redeems: their balance pays.
    userid: String,
    /// The reward's id in the catalogue.
    reward: String,
    /// Who asked, for the audit trail; the person themselves by default.
    actor: Option<String>,
}

/// The longest Idempotency-Key taken; a UUID or a hash fits many times over.
pub(super) fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// 201 with the new redemption; 200 with the first one for a retried key.
pub async fn redeem(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Result<Json<RedeemRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Redemption>), ApiError> {
    let key = idempotency_key(&headers)?;
    let request = body(request)?;
    let reward = state.catalogue.get(&request.reward).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no reward {:?} in the catalogue; GET /api/v1/rewards lists them",
            request.reward
        ))
    })?;
    let actor = request.actor.as_deref().unwrap_or(&request.userid);
    known(&state, actor).await?;
    let now = jiff::Timestamp::now();
    let mut tx = state.store.begin().await?;
    let source_key = format!("api:{key}");
    let redeemed = ledger::redeem(
        tx.as_mut(),
        &state.calendar,
        &Redeem {
            userid: &request.userid,
            reward,
            actor,
            source_key: &source_key,
            awaits_approval: false,
        },
        now,
    )
    .await?;
    match redeemed {
        Redeemed::New { redemption, entry } => {
            tx.enqueue_outbox(&outbox::redemption_notification(&redemption, Some(&entry)))
                .await?;
            tx.commit().await?;
            Ok((StatusCode::CREATED, Json(redemption)))
        }
        Redeemed::Already { redemption } => {
            if redemption.userid != request.userid || redemption.reward_id != reward.id {
                return Err(ApiError::Conflict(format!(
                    "Idempotency-Key {key:?} was used for redemption #{} of {} by {}; \
                     use a new key for a new request",
                    redemption.id, redemption.reward_id, redemption.userid
                )));
            }
            Ok((StatusCode::OK, Json(redemption)))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// Who takes the step: an HR admin, or for `cancel` the redemption's person.
    actor: String,
    /// The reason of a rejection, or how it was handed over.
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/redemptions/{id}/{approve|fulfil|reject|cancel}`.
pub async fn step(
    State(state): State<AppState>,
    Path((id, step)): Path<(String, String)>,
    request: Result<Json<StepRequest>, JsonRejection>,
) -> Result<Json<Redemption>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{id:?} is not a redemption number")))?;
    let step = match step.as_str() {
        "approve" => RedemptionStep::Approve,
        "fulfil" | "fulfill" => RedemptionStep::Fulfil,
        "reject" => RedemptionStep::Reject,
        "cancel" => RedemptionStep::Cancel,
        other => {
            return Err(ApiError::NotFound(format!(
                "no step {other:?}: approve, fulfil, reject or cancel"
            )));
        }
    };
    let request = body(request)?;
    if step != RedemptionStep::Cancel && !state.hr_admins.contains(&request.actor) {
        return Err(ApiError::Forbidden(format!(
            "{} is not an HR admin (roles.hr_admins): only HR may {} a redemption",
            request.actor,
            step.verb()
        )));
    }
    known(&state, &request.actor).await?;
    let now = jiff::Timestamp::now();
    let mut tx = state.store.begin().await?;
    let stepped =
        ledger::step_redemption(tx.as_mut(), id, step, &request.actor, &request.note, now).await?;
    tx.enqueue_outbox(&outbox::redemption_notification(
        &stepped.redemption,
        stepped.refund.as_ref(),
    ))
    .await?;
    tx.commit().await?;
    Ok(Json(stepped.redemption))
}

pub(super) async fn known(state: &AppState, userid: &str) -> Result<(), ApiError> {
    match state.store.employee(userid).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!("unknown employee {userid:?}"))),
    }
}
