//! The old API (oapi.dingtalk.com) as the emulator speaks it: `?access_token=`, JSON bodies
//! whose scalars may be strings, and errors as HTTP 200 with an errcode.

use axum::Json;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde_json::{Value, json};

use super::gate::{Refusal, lock};
use super::org::{AGENT_ID, APP_KEY, APP_SECRET, CORP_ID, FakeAttendance};
use super::params::{boolean, int, list, text};
use super::push::failed_record;
use super::{Emulator, RecordedMessage, digest, request_id};

type Answer = Result<Value, (i64, String)>;

pub async fn handle(
    emu: &Emulator,
    method: &Method,
    path: &str,
    query: &std::collections::HashMap<String, String>,
    body: &[u8],
) -> Response {
    let token = (path != "/gettoken").then(|| query.get("access_token").map(String::as_str));
    match emu.gate.admit(path, token) {
        Ok(delay) => tokio::time::sleep(delay).await,
        Err(refusal) => return refused(refusal, path),
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                let refusal = (43004, "无效的HTTP HEADER Content-Type或请求体".into());
                return answer(Err(refusal), path);
            }
        }
    };
    let result = match (method.as_str(), path) {
        ("GET", "/gettoken") => get_token(emu, query),
        ("POST", "/attendance/list") => attendance_list(emu, &body),
        ("POST", "/topapi/attendance/getupdatedata") => update_data(emu, &body),
        ("POST", "/topapi/v2/user/get") => user_get(emu, &body),
        ("POST", "/topapi/v2/department/listsub") => listsub(emu, &body),
        ("POST", "/topapi/user/listid") => listid(emu, &body),
        ("POST", "/topapi/v2/user/getuserinfo") => getuserinfo(emu, &body),
        ("POST", "/topapi/message/corpconversation/asyncsend_v2") => asyncsend(emu, &body),
        ("POST", "/topapi/message/corpconversation/getsendresult") => sendresult(emu, &body),
        ("POST", "/topapi/message/corpconversation/getsendprogress") => sendprogress(&body),
        ("POST", "/topapi/callback/failrecord/list") => failrecords(emu, &body),
        _ => Err((
            22,
            format!("Invalid method[submsg=不合法ApiName，ApiName = {path}]"),
        )),
    };
    answer(result, path)
}

/// Success or errcode. Most `/topapi/…` answers also carry a request id; the fixtures show
/// which do not.
fn answer(result: Answer, path: &str) -> Response {
    let mut body = match result {
        Ok(Value::Object(mut fields)) => {
            fields.insert("errcode".into(), json!(0));
            fields.insert("errmsg".into(), json!("ok"));
            Value::Object(fields)
        }
        Ok(other) => json!({"errcode": 0, "errmsg": "ok", "result": other}),
        Err((errcode, errmsg)) => json!({"errcode": errcode, "errmsg": errmsg}),
    };
    let without_id = [
        "/topapi/attendance/getupdatedata",
        "/topapi/callback/failrecord/list",
    ];
    if path.starts_with("/topapi/") && !without_id.contains(&path) {
        body["request_id"] = json!(request_id());
    }
    Json(body).into_response()
}

fn refused(refusal: Refusal, path: &str) -> Response {
    let (code, msg) = match refusal {
        Refusal::NoToken | Refusal::UnknownToken => (40014, "不合法的access_token"),
        Refusal::ExpiredToken => (42001, "access_token超时"),
        Refusal::RateLimited => (90018, "当前应用调用接口的频率超过限制"),
        Refusal::Timeout => (15, "isp.top-remote-connection-timeout"),
        Refusal::ServerError => {
            return (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response();
        }
    };
    answer(Err((code, msg.into())), path)
}

fn missing(what: &str) -> (i64, String) {
    (40035, format!("缺少参数 {what}"))
}

fn get_token(emu: &Emulator, query: &std::collections::HashMap<String, String>) -> Answer {
    let key = query.get("appkey").map(String::as_str);
    let secret = query.get("appsecret").map(String::as_str);
    if key != Some(APP_KEY) || secret != Some(APP_SECRET) {
        return Err((40001, "不合法的appkey或appsecret".into()));
    }
    emu.token_requests
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(json!({
        "access_token": emu.gate.issue_token(),
        "expires_in": emu.gate.token_ttl().as_secs(),
    }))
}

/// `yyyy-MM-dd HH:mm:ss` (or just the date) to a date.
fn work_date(body: &Value, key: &str) -> Result<Date, (i64, String)> {
    let raw = text(body, key).ok_or_else(|| missing(key))?;
    raw.get(..10)
        .and_then(|d| d.parse::<Date>().ok())
        .ok_or_else(|| (40035, format!("{key} is not yyyy-MM-dd HH:mm:ss")))
}

fn attendance_list(emu: &Emulator, body: &Value) -> Answer {
    let from = work_date(body, "workDateFrom")?;
    let to = work_date(body, "workDateTo")?;
    let users = list(body, "userIdList");
    let offset = int(body, "offset").unwrap_or(0).max(0) as usize;
    let limit = int(body, "limit").unwrap_or(50);
    if users.is_empty() || users.len() > 50 {
        return Err((40035, "userIdList must list 1 to 50 people".into()));
    }
    if !(1..=50).contains(&limit) {
        return Err((40035, "limit must be 1 to 50".into()));
    }
    if to < from || from.until(to).map(|s| s.get_days()).unwrap_or(99) > 7 {
        return Err((
            40035,
            "workDateFrom to workDateTo must span at most 7 days".into(),
        ));
    }
    let mut all: Vec<FakeAttendance> = Vec::new();
    let mut day = from;
    while day <= to {
        for user in &users {
            all.extend(emu.attendance(user, day));
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    let page: Vec<Value> = all
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit as usize)
        .map(|(i, a)| attendance_record(i, a))
        .collect();
    Ok(json!({"recordresult": page, "hasMore": offset + (limit as usize) < all.len()}))
}

fn attendance_record(i: usize, a: &FakeAttendance) -> Value {
    let work_date = a
        .work_date
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC))
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or_default();
    json!({
        "id": 81_000_000_000i64 + i as i64,
        "recordId": 61_000_000_000i64 + i as i64,
        "userId": a.userid,
        "workDate": work_date,
        "checkType": a.check_type,
        "timeResult": a.time_result,
        "locationResult": if a.user_check_time.is_some() { "Normal" } else { "NotSigned" },
        "baseCheckTime": a.base_check_time,
        "userCheckTime": a.user_check_time.unwrap_or(a.base_check_time),
        "sourceType": match (&a.approval, a.user_check_time) {
            (Some(_), _) => "APPROVE",
            (None, Some(_)) => "USER",
            (None, None) => "SYSTEM",
        },
        "groupId": 412345678,
        "planId": 91_000_000_000i64 + i as i64,
        "approveId": if a.approval.is_some() { 5_000_000_000i64 + i as i64 } else { 0 },
        "procInstId": a.approval.clone().unwrap_or_default(),
    })
}

fn update_data(emu: &Emulator, body: &Value) -> Answer {
    let userid = text(body, "userid").ok_or_else(|| missing("userid"))?;
    let date = work_date(body, "work_date")?;
    if emu.org.user(userid).is_none() {
        return Err((60121, "找不到该用户".into()));
    }
    let local = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| {
                t.to_zoned(emu.org.time_zone.clone())
                    .strftime("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let results = emu.attendance(userid, date);
    let checks: Vec<Value> = results
        .iter()
        .filter_map(|a| a.user_check_time)
        .map(|at| json!({"record_id": at, "user_check_time": local(at), "source_type": "USER", "valid_matched": true, "invalid_record_type": "Normal", "invalid_record_msg": ""}))
        .collect();
    let results: Vec<Value> = results
        .iter()
        .map(|a| {
            json!({
                "record_id": a.user_check_time.unwrap_or_default(),
                "check_type": a.check_type,
                "time_result": a.time_result,
                "location_result": "Normal",
                "plan_check_time": local(a.base_check_time),
                "user_check_time": a.user_check_time.map(local).unwrap_or_default(),
                "source_type": "USER",
                "location_method": "MAP",
                "group_id": 412345678,
                "procInst_id": "",
            })
        })
        .collect();
    Ok(json!({"success": true, "result": {
        "userid": userid,
        "corpId": CORP_ID,
        "work_date": format!("{date} 00:00:00"),
        "check_record_list": checks,
        "attendance_result_list": results,
        "approve_list": [],
    }}))
}

fn user_get(emu: &Emulator, body: &Value) -> Answer {
    let userid = text(body, "userid").ok_or_else(|| missing("userid"))?;
    let user = emu
        .user_now(userid)
        .ok_or_else(|| (60121, "找不到该用户".to_string()))?;
    Ok(json!({"result": {
        "userid": user.userid,
        "unionid": format!("union{}", user.userid),
        "name": user.name,
        "avatar": "",
        "mobile": "",
        "title": user.title,
        "job_number": "",
        "dept_id_list": [user.dept],
        "leader_in_dept": [{"dept_id": user.dept, "leader": user.leader}],
        "active": true,
        "admin": false,
        "boss": false,
        "hired_date": user.hired_date(),
    }}))
}

fn listsub(emu: &Emulator, body: &Value) -> Answer {
    let parent = int(body, "dept_id").unwrap_or(1);
    let departments = emu.departments_now();
    if !departments.iter().any(|d| d.id == parent) {
        return Err((60003, "部门不存在".into()));
    }
    let subs: Vec<Value> = departments
        .iter()
        .filter(|d| d.parent == Some(parent))
        .map(|d| json!({"dept_id": d.id, "name": d.name, "parent_id": parent, "create_dept_group": false, "auto_add_user": true}))
        .collect();
    Ok(json!({"result": subs}))
}

fn listid(emu: &Emulator, body: &Value) -> Answer {
    let dept = int(body, "dept_id").ok_or_else(|| missing("dept_id"))?;
    if !emu.departments_now().iter().any(|d| d.id == dept) {
        return Err((60003, "部门不存在".into()));
    }
    let ids = emu.members_now().remove(&dept).unwrap_or_default();
    Ok(json!({"result": {"userid_list": ids}}))
}

fn getuserinfo(emu: &Emulator, body: &Value) -> Answer {
    let code = text(body, "code").ok_or_else(|| missing("code"))?;
    // Usable once, for five minutes.
    let issued = lock(&emu.books).login_codes.remove(code);
    let userid = match issued {
        Some((userid, at)) if at.elapsed() < std::time::Duration::from_secs(300) => userid,
        _ => return Err((40078, "不存在的临时授权码".into())),
    };
    let name = emu
        .org
        .user(&userid)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    Ok(json!({"result": {
        "userid": userid, "device_id": "", "sys": false, "sys_level": 0,
        "unionid": format!("union{userid}"), "associated_unionid": "", "name": name,
    }}))
}

fn asyncsend(emu: &Emulator, body: &Value) -> Answer {
    if int(body, "agent_id") != Some(AGENT_ID) {
        return Err((40056, "不合法的agentid".into()));
    }
    let msg = body.get("msg").cloned().ok_or_else(|| missing("msg"))?;
    let (title, text) = describe_work_message(&msg)
        .ok_or_else(|| (40035, "msg has no content for its msgtype".to_string()))?;
    let users = list(body, "userid_list");
    if users.is_empty() && boolean(body, "to_all_user") != Some(true) {
        return Err((40035, "缺少参数 userid_list".into()));
    }
    let today = jiff::Timestamp::now()
        .to_zoned(emu.org.time_zone.clone())
        .date();
    let content = digest(&msg);
    let (mut delivered, mut forbidden, mut invalid, mut forbidden_list) =
        (vec![], vec![], vec![], vec![]);
    {
        let mut books = lock(&emu.books);
        for user in &users {
            if emu.org.user(user).is_none() {
                invalid.push(user.clone());
                continue;
            }
            let sent = books.notified.entry((user.clone(), today)).or_default();
            // DingTalk still answers success; the person is listed as forbidden.
            let code = if sent.contains(&content) {
                Some("143106")
            } else if sent.len() >= emu.settings.notifications_per_user_per_day {
                Some("143105")
            } else {
                None
            };
            match code {
                Some(code) => {
                    forbidden.push(user.clone());
                    forbidden_list.push(json!({"code": code, "count": 1, "userid": user}));
                }
                None => {
                    sent.push(content);
                    delivered.push(user.clone());
                }
            }
        }
    }
    let task_id = emu.next_id() + 256_000_000_000;
    lock(&emu.books).tasks.insert(
        task_id,
        json!({
            "invalid_user_id_list": invalid,
            "forbidden_user_id_list": forbidden,
            "failed_user_id_list": [],
            "read_user_id_list": [],
            "unread_user_id_list": delivered,
            "invalid_dept_id_list": [],
            "forbidden_list": forbidden_list,
        }),
    );
    emu.record(RecordedMessage {
        seq: 0,
        at: jiff::Timestamp::now().to_string(),
        channel: "work_notification".into(),
        to: delivered,
        forbidden,
        title,
        text,
        body: body.clone(),
    });
    Ok(json!({"task_id": task_id}))
}

/// The title and text a person would see.
fn describe_work_message(msg: &Value) -> Option<(String, String)> {
    let kind = msg.get("msgtype")?.as_str()?;
    let part = msg.get(kind)?;
    let s = |k: &str| part.get(k).and_then(Value::as_str).map(str::to_string);
    match kind {
        "text" => Some((String::new(), s("content")?)),
        "markdown" => Some((s("title")?, s("text")?)),
        "action_card" => Some((s("title")?, s("markdown")?)),
        "link" => Some((s("title")?, s("text")?)),
        "oa" => Some((String::new(), part.to_string())),
        _ => None,
    }
}

fn sendresult(emu: &Emulator, body: &Value) -> Answer {
    let task = int(body, "task_id").ok_or_else(|| missing("task_id"))?;
    let result = lock(&emu.books)
        .tasks
        .get(&task)
        .cloned()
        .ok_or_else(|| (40035, format!("no task {task}")))?;
    Ok(json!({"send_result": result}))
}

fn sendprogress(body: &Value) -> Answer {
    int(body, "task_id").ok_or_else(|| missing("task_id"))?;
    Ok(json!({"progress": {"progress_in_percent": 100, "status": 2}}))
}

fn failrecords(emu: &Emulator, body: &Value) -> Answer {
    let req = body.get("req").cloned().unwrap_or(Value::Null);
    // Sent as an object or, by the Java SDK, as a JSON string.
    let req = match req {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::Null),
        other => other,
    };
    let cursor = int(&req, "cursor").unwrap_or(0);
    let size = int(&req, "page_size").unwrap_or(100).clamp(1, 100) as usize;
    let begin = int(&req, "begin_time").map(|s| s * 1000);
    let end = int(&req, "end_time").map(|s| s * 1000);
    let tags = list(&req, "tags");
    let matching: Vec<_> = emu
        .failed_pushes()
        .into_iter()
        .filter(|p| p.id > cursor)
        .filter(|p| begin.is_none_or(|b| p.event_time >= b) && end.is_none_or(|e| p.event_time < e))
        .filter(|p| tags.is_empty() || tags.contains(&p.tag))
        .collect();
    let page: Vec<Value> = matching.iter().take(size).map(failed_record).collect();
    Ok(json!({"failed_list": page, "has_more": matching.len() > size}))
}
