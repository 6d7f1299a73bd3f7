//! The new API (api.dingtalk.com) as the emulator speaks it: the token in the
//! `x-acs-dingtalk-access-token` header, camelCase bodies, and errors as HTTP 4xx/5xx with
//! `{code, message, requestid}`.

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::gate::Refusal;
use super::org::{APP_KEY, APP_SECRET};
use super::params::{list, text};
use super::{Emulator, RecordedMessage, request_id};

pub(super) type Answer = Result<Value, (StatusCode, &'static str, String)>;

pub async fn handle(
    emu: &Emulator,
    method: &Method,
    path: &str,
    query: &std::collections::HashMap<String, String>,
    token: Option<&str>,
    body: &[u8],
) -> Response {
    let needs_token = path != "/v1.0/oauth2/accessToken";
    match emu.gate.admit(path, needs_token.then_some(token)) {
        Ok(delay) => tokio::time::sleep(delay).await,
        Err(refusal) => return answer(Err(refused(refusal))),
    }
    let body: Value = match (method.as_str(), body.is_empty()) {
        ("POST" | "PUT", true) => {
            return answer(Err((
                StatusCode::BAD_REQUEST,
                "Missingbody",
                "body is mandatory for this action.".into(),
            )));
        }
        (_, true) => Value::Null,
        (_, false) => match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                return answer(Err((
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter",
                    "the body is not JSON".into(),
                )));
            }
        },
    };
    let result = match (method.as_str(), path) {
        ("POST", "/v1.0/oauth2/accessToken") => access_token(emu, &body),
        ("GET", "/v1.0/workflow/processInstances") => process_instance(emu, query),
        ("POST", "/v1.0/robot/oToMessages/batchSend") => robot_oto(emu, &body),
        ("POST", "/v1.0/robot/groupMessages/send") => robot_group(emu, &body),
        ("POST", "/v1.0/card/instances/createAndDeliver") => {
            super::cards::create_and_deliver(emu, &body)
        }
        ("PUT", "/v1.0/card/instances") => super::cards::update(emu, &body),
        _ => Err((
            StatusCode::NOT_FOUND,
            "InvalidAction.NotFound",
            format!("Specified api is not found: {method} {path}"),
        )),
    };
    answer(result)
}

fn answer(result: Answer) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err((status, code, message)) => (
            status,
            [("x-acs-request-id", request_id())],
            Json(json!({"code": code, "requestid": request_id(), "message": message})),
        )
            .into_response(),
    }
}

fn refused(refusal: Refusal) -> (StatusCode, &'static str, String) {
    match refusal {
        // DingTalk answers a bad or expired token with 400, not 401.
        Refusal::NoToken | Refusal::UnknownToken | Refusal::ExpiredToken => (
            StatusCode::BAD_REQUEST,
            "InvalidAuthentication",
            "不合法的access_token".into(),
        ),
        Refusal::RateLimited => (
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            "应用调用该接口的频率超过限制".into(),
        ),
        Refusal::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "服务器内部错误".into(),
        ),
        Refusal::Timeout => (
            StatusCode::GATEWAY_TIMEOUT,
            "GatewayTimeout",
            "网关超时".into(),
        ),
    }
}

pub(super) fn bad(message: String) -> (StatusCode, &'static str, String) {
    (StatusCode::BAD_REQUEST, "InvalidParameter", message)
}

fn access_token(emu: &Emulator, body: &Value) -> Answer {
    if text(body, "appKey") != Some(APP_KEY) || text(body, "appSecret") != Some(APP_SECRET) {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalidClientIdOrSecret",
            "无效的clientId或者clientSecret".into(),
        ));
    }
    emu.token_requests
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(json!({
        "accessToken": emu.gate.issue_token(),
        "expireIn": emu.gate.token_ttl().as_secs(),
    }))
}

/// `yyyy-MM-ddTHH:mmZ`, as the SDK documents GetProcessInstance times.
fn utc_minutes(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%MZ").to_string())
        .unwrap_or_default()
}

fn process_instance(emu: &Emulator, query: &std::collections::HashMap<String, String>) -> Answer {
    let id = query
        .get("processInstanceId")
        .ok_or_else(|| bad("processInstanceId is mandatory for this action.".into()))?;
    let instance = emu
        .approval(id)
        .ok_or_else(|| bad(format!("processInstanceId {id} does not exist")))?;
    let originator = emu.org.user(&instance.originator);
    let dept = originator.and_then(|u| emu.org.department(u.dept));
    let form: Vec<Value> = instance
        .form
        .iter()
        .enumerate()
        .map(|(i, (label, component, value, ext))| {
            let mut f = json!({
                "componentType": component,
                "name": label,
                "id": format!("{component}_{i:04}"),
                "value": value,
                "bizAlias": "",
            });
            if let Some(ext) = ext {
                f["extValue"] = json!(ext);
            }
            f
        })
        .collect();
    Ok(json!({"success": true, "result": {
        "title": instance.title,
        "createTime": utc_minutes(instance.create_ms),
        "finishTime": utc_minutes(instance.finish_ms),
        "originatorUserId": instance.originator,
        "originatorDeptId": dept.map(|d| d.id.to_string()).unwrap_or_default(),
        "originatorDeptName": dept.map(|d| d.name.clone()).unwrap_or_default(),
        "status": instance.status,
        "result": instance.result,
        "businessId": instance.id.chars().rev().take(21).collect::<String>(),
        "approverUserIds": [],
        "ccUserIds": [],
        "bizAction": "NONE",
        "formComponentValues": form,
        "operationRecords": [],
        "tasks": [],
    }}))
}

/// The msgKey/msgParam pair a person sees, as title and text.
fn describe_robot_message(
    body: &Value,
) -> Result<(String, String), (StatusCode, &'static str, String)> {
    let key = text(body, "msgKey").ok_or_else(|| bad("msgKey is mandatory".into()))?;
    let param: Value = text(body, "msgParam")
        .and_then(|p| serde_json::from_str(p).ok())
        .ok_or_else(|| bad("msgParam must be a JSON string".into()))?;
    let s = |k: &str| param.get(k).and_then(Value::as_str).map(str::to_string);
    let described = match key {
        "sampleText" => s("content").map(|c| (String::new(), c)),
        "sampleMarkdown" => s("title").zip(s("text")),
        "sampleActionCard" => s("title").zip(s("text")),
        "sampleLink" => s("title").zip(s("text")),
        _ => None,
    };
    described.ok_or_else(|| bad(format!("msgParam does not fit msgKey {key}")))
}

fn check_robot(body: &Value) -> Result<(), (StatusCode, &'static str, String)> {
    match text(body, "robotCode") {
        Some(APP_KEY) => Ok(()),
        _ => Err(bad("robotCode is not this app's robot".into())),
    }
}

fn query_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn robot_oto(emu: &Emulator, body: &Value) -> Answer {
    check_robot(body)?;
    let (title, text) = describe_robot_message(body)?;
    let users = list(body, "userIds");
    if users.is_empty() || users.len() > 20 {
        return Err(bad("userIds must list 1 to 20 people".into()));
    }
    let (known, invalid): (Vec<_>, Vec<_>) =
        users.into_iter().partition(|u| emu.org.user(u).is_some());
    emu.record(RecordedMessage {
        seq: 0,
        at: jiff::Timestamp::now().to_string(),
        channel: "robot_oto".into(),
        to: known,
        forbidden: vec![],
        title,
        text,
        body: body.clone(),
    });
    Ok(json!({
        "processQueryKey": query_key(),
        "invalidStaffIdList": invalid,
        "flowControlledStaffIdList": [],
        "filteredStaffIdList": [],
    }))
}

fn group_id(body: &Value) -> Result<String, (StatusCode, &'static str, String)> {
    text(body, "openConversationId")
        .filter(|c| c.starts_with("cid"))
        .map(str::to_string)
        .ok_or_else(|| bad("openConversationId is not a group's id (cid…)".into()))
}

fn robot_group(emu: &Emulator, body: &Value) -> Answer {
    check_robot(body)?;
    let group = group_id(body)?;
    let (title, text) = describe_robot_message(body)?;
    emu.record(RecordedMessage {
        seq: 0,
        at: jiff::Timestamp::now().to_string(),
        channel: "robot_group".into(),
        to: vec![group],
        forbidden: vec![],
        title,
        text,
        body: body.clone(),
    });
    Ok(json!({"processQueryKey": query_key()}))
}
