//! DingTalk callback messages (PROTOCOL.md §b) as inbox rows: which events we know, and the
//! de-duplication key of each, so that a redelivered event is recognised. Pure.

use serde_json::Value;
use sha1::{Digest, Sha1};

/// Event types whose receipt needs an answer but carries no work.
pub const URL_CHECKS: &[&str] = &["check_url", "check_create_suite_url"];

/// Changes to the address book, which jifen follows.
pub const CONTACT_EVENTS: &[&str] = &[
    "user_add_org",
    "user_modify_org",
    "user_leave_org",
    "org_dept_create",
    "org_dept_modify",
    "org_dept_remove",
];

/// What changed in the address book, and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactChange {
    pub kind: ContactKind,
    /// Userids, or department ids.
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    /// A person joined, or their details changed: read them again.
    PersonChanged,
    PersonLeft,
    /// A department was created or changed: read the departments again.
    DepartmentChanged,
    DepartmentRemoved,
}

/// What the receiver stores for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEvent {
    pub dedup_key: String,
    pub event_type: String,
    /// The event as JSON text; for an attendance push, one record of it.
    pub payload: String,
    /// Why this event needs no processing (unknown type, or fields missing), if so.
    pub ignored: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the decrypted message is not a JSON object")]
    NotJson,
    #[error("the message has no EventType")]
    NoEventType,
    #[error("the EventType holds a control character")]
    BadEventType,
}

/// What a decrypted callback message asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// DingTalk checking the URL: answer `success`, store nothing.
    UrlCheck,
    Events(Vec<InboundEvent>),
}

pub fn parse_message(plaintext: &str) -> Result<Message, EventError> {
    let value: Value = serde_json::from_str(plaintext).map_err(|_| EventError::NotJson)?;
    let object = value.as_object().ok_or(EventError::NotJson)?;
    let event_type = object
        .get("EventType")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or(EventError::NoEventType)?;
    if event_type.chars().any(char::is_control) {
        return Err(EventError::BadEventType);
    }
    if URL_CHECKS.contains(&event_type) {
        return Ok(Message::UrlCheck);
    }
    let events = match event_type {
        "bpms_instance_change" => vec![keyed(event_type, plaintext, instance_key(&value))],
        "bpms_task_change" => vec![keyed(event_type, plaintext, task_key(&value))],
        "attendance_check_record" => attendance_records(&value, plaintext),
        contact if CONTACT_EVENTS.contains(&contact) => {
            vec![keyed(
                event_type,
                plaintext,
                contact_key(&value, event_type),
            )]
        }
        other => vec![InboundEvent {
            dedup_key: format!("raw:{other}:{}", digest(plaintext)),
            event_type: other.to_string(),
            payload: plaintext.to_string(),
            ignored: Some(format!("event type {other} is not used by jifen")),
        }],
    };
    Ok(Message::Events(events))
}

fn keyed(event_type: &str, plaintext: &str, key: Result<String, String>) -> InboundEvent {
    match key {
        Ok(key) => InboundEvent {
            dedup_key: key,
            event_type: event_type.to_string(),
            payload: plaintext.to_string(),
            ignored: None,
        },
        // Well signed but missing its ids: keep it, visibly, rather than make DingTalk retry.
        Err(missing) => InboundEvent {
            dedup_key: format!("raw:{event_type}:{}", digest(plaintext)),
            event_type: event_type.to_string(),
            payload: plaintext.to_string(),
            ignored: Some(missing),
        },
    }
}

/// A contact event's ids, under the legacy (`UserId`) or the Stream (`userId`) spelling.
fn contact_ids(v: &Value, event_type: &str) -> Result<Vec<String>, String> {
    let names: [&str; 2] = if event_type.starts_with("user_") {
        ["UserId", "userId"]
    } else {
        ["DeptId", "deptId"]
    };
    let list = names
        .iter()
        .find_map(|n| v.get(*n))
        .ok_or_else(|| format!("field {} is missing", names[0]))?;
    let ids: Vec<String> = match list {
        Value::Array(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    };
    if ids.is_empty() {
        return Err(format!("field {} lists nobody", names[0]));
    }
    if ids
        .iter()
        .any(|id| id.is_empty() || id.chars().any(char::is_control))
    {
        return Err(format!(
            "field {} holds an empty id or a control character",
            names[0]
        ));
    }
    Ok(ids)
}

/// (event type, time, ids): DingTalk stamps each change; the same push again has the same key.
fn contact_key(v: &Value, event_type: &str) -> Result<String, String> {
    let mut ids = contact_ids(v, event_type)?;
    ids.sort();
    let at = ["TimeStamp", "timeStamp"]
        .iter()
        .find_map(|n| v.get(*n).and_then(scalar))
        .unwrap_or_default();
    Ok(format!("contact:{event_type}:{at}:{}", ids.join(",")))
}

/// The change a stored contact event describes.
pub fn contact_change(payload: &str) -> Result<ContactChange, String> {
    let v: Value =
        serde_json::from_str(payload).map_err(|_| "the contact event is not JSON".to_string())?;
    let event_type = v
        .get("EventType")
        .or_else(|| v.get("eventType"))
        .and_then(Value::as_str)
        .ok_or("the contact event has no EventType")?;
    let kind = match event_type {
        "user_add_org" | "user_modify_org" => ContactKind::PersonChanged,
        "user_leave_org" => ContactKind::PersonLeft,
        "org_dept_create" | "org_dept_modify" => ContactKind::DepartmentChanged,
        "org_dept_remove" => ContactKind::DepartmentRemoved,
        other => return Err(format!("{other} is not a contact event")),
    };
    Ok(ContactChange {
        kind,
        ids: contact_ids(&v, event_type)?,
    })
}

/// (processInstanceId, type, result): an instance starts, then finishes once.
fn instance_key(v: &Value) -> Result<String, String> {
    let id = text(v, "processInstanceId")?;
    let kind = text(v, "type")?;
    let result = v.get("result").and_then(Value::as_str).unwrap_or("");
    Ok(format!("bpms_instance:{id}:{kind}:{result}"))
}

/// (processInstanceId, taskId or activityId+staffId, type).
fn task_key(v: &Value) -> Result<String, String> {
    let id = text(v, "processInstanceId")?;
    let kind = text(v, "type")?;
    let task = match v.get("taskId").map(scalar) {
        Some(Some(_)) => text(v, "taskId")?,
        _ => format!(
            "{}+{}",
            v.get("activityId")
                .map(|_| text(v, "activityId"))
                .transpose()?
                .unwrap_or_default(),
            text(v, "staffId")?
        ),
    };
    Ok(format!("bpms_task:{id}:{task}:{kind}"))
}

/// One push may carry several check-ins; each is its own event, keyed by bizId (or by
/// userId and checkTime when bizId is absent).
fn attendance_records(v: &Value, plaintext: &str) -> Vec<InboundEvent> {
    let Some(records) = v
        .get("DataList")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
    else {
        return vec![keyed(
            "attendance_check_record",
            plaintext,
            Err("attendance push without DataList".into()),
        )];
    };
    records
        .iter()
        .map(|record| {
            let key = match record.get("bizId").and_then(scalar) {
                Some(_) => text(record, "bizId").map(|biz| format!("attendance:{biz}")),
                None => text(record, "userId")
                    .and_then(|u| Ok(format!("attendance:{u}:{}", text(record, "checkTime")?))),
            };
            let payload =
                serde_json::json!({ "EventType": "attendance_check_record", "DataList": [record] })
                    .to_string();
            keyed("attendance_check_record", &payload, key)
        })
        .collect()
}

fn text(v: &Value, field: &str) -> Result<String, String> {
    let value = v
        .get(field)
        .and_then(scalar)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("field {field} is missing"))?;
    // An id goes into keys and columns; control characters (a NUL) have no place there.
    if value.chars().any(char::is_control) {
        return Err(format!("field {field} holds a control character"));
    }
    Ok(value)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn digest(text: &str) -> String {
    hex::encode(Sha1::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(plaintext: &str) -> Vec<InboundEvent> {
        match parse_message(plaintext).unwrap() {
            Message::Events(e) => e,
            Message::UrlCheck => panic!("not events"),
        }
    }

    #[test]
    fn known_events_get_their_protocol_dedup_keys() {
        // (plaintext, expected keys)
        let cases = [
            (
                r#"{"EventType":"bpms_instance_change","processInstanceId":"PI-1","type":"finish","result":"agree","processCode":"PROC-X"}"#,
                vec!["bpms_instance:PI-1:finish:agree"],
            ),
            (
                r#"{"EventType":"bpms_instance_change","processInstanceId":"PI-1","type":"start"}"#,
                vec!["bpms_instance:PI-1:start:"],
            ),
            (
                r#"{"EventType":"bpms_task_change","processInstanceId":"PI-1","taskId":77,"type":"finish","staffId":"u1"}"#,
                vec!["bpms_task:PI-1:77:finish"],
            ),
            (
                r#"{"EventType":"bpms_task_change","processInstanceId":"PI-1","activityId":"a9","staffId":"u1","type":"start"}"#,
                vec!["bpms_task:PI-1:a9+u1:start"],
            ),
            (
                r#"{"EventType":"attendance_check_record","DataList":[{"bizId":"b1","userId":"u1","checkTime":1},{"userId":"u2","checkTime":1718000000000}]}"#,
                vec!["attendance:b1", "attendance:u2:1718000000000"],
            ),
        ];
        for (plaintext, keys) in cases {
            let got: Vec<String> = events(plaintext).into_iter().map(|e| e.dedup_key).collect();
            assert_eq!(got, keys, "{plaintext}");
        }
    }

    #[test]
    fn contact_events_are_keyed_by_time_and_ids_and_say_what_changed() {
        let cases = [
            (
                r#"{"EventType":"user_add_org","TimeStamp":"1716185263417","UserId":["u2","u1"],"CorpId":"ding1"}"#,
                "contact:user_add_org:1716185263417:u1,u2",
                ContactKind::PersonChanged,
                vec!["u2", "u1"],
            ),
            (
                r#"{"EventType":"user_leave_org","TimeStamp":"1716185263418","UserId":["u3"]}"#,
                "contact:user_leave_org:1716185263418:u3",
                ContactKind::PersonLeft,
                vec!["u3"],
            ),
            (
                r#"{"EventType":"org_dept_remove","TimeStamp":"1","DeptId":[575401962]}"#,
                "contact:org_dept_remove:1:575401962",
                ContactKind::DepartmentRemoved,
                vec!["575401962"],
            ),
            (
                r#"{"EventType":"org_dept_create","timeStamp":"2","deptId":["7"]}"#,
                "contact:org_dept_create:2:7",
                ContactKind::DepartmentChanged,
                vec!["7"],
            ),
        ];
        for (plaintext, key, kind, ids) in cases {
            let event = &events(plaintext)[0];
            assert_eq!(
                (event.dedup_key.as_str(), &event.ignored),
                (key, &None),
                "{plaintext}"
            );
            let change = contact_change(&event.payload).unwrap();
            assert_eq!(change.kind, kind);
            assert_eq!(change.ids, ids);
        }
    }

    #[test]
    fn an_attendance_push_is_split_into_one_event_per_record() {
        let got = events(
            r#"{"EventType":"attendance_check_record","DataList":[{"bizId":"b1"},{"bizId":"b2"}]}"#,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1].payload,
            r#"{"DataList":[{"bizId":"b2"}],"EventType":"attendance_check_record"}"#
        );
        assert!(got.iter().all(|e| e.ignored.is_none()));
    }

    #[test]
    fn unknown_or_incomplete_events_are_kept_as_ignored() {
        let cases = [
            (
                r#"{"EventType":"org_role_change","RoleId":["r1"]}"#,
                "not used by jifen",
            ),
            (
                r#"{"EventType":"user_leave_org","UserId":[]}"#,
                "UserId lists nobody",
            ),
            (
                r#"{"EventType":"bpms_instance_change","type":"finish"}"#,
                "processInstanceId is missing",
            ),
            (
                r#"{"EventType":"attendance_check_record"}"#,
                "without DataList",
            ),
            (
                r#"{"EventType":"bpms_instance_change","processInstanceId":"PI\u0000","type":"finish"}"#,
                "processInstanceId holds a control character",
            ),
            (
                r#"{"EventType":"attendance_check_record","DataList":[{"bizId":"b\u0000"}]}"#,
                "bizId holds a control character",
            ),
        ];
        for (plaintext, reason) in cases {
            let got = events(plaintext);
            assert_eq!(got.len(), 1);
            assert!(got[0].dedup_key.starts_with("raw:"), "{plaintext}");
            assert!(
                got[0].ignored.as_deref().unwrap_or("").contains(reason),
                "{plaintext}: {:?}",
                got[0].ignored
            );
        }
        // The same unknown push twice has the same key.
        assert_eq!(
            events(cases[0].0)[0].dedup_key,
            events(cases[0].0)[0].dedup_key
        );
    }

    #[test]
    fn url_checks_and_malformed_messages() {
        assert_eq!(
            parse_message(r#"{"EventType":"check_url"}"#),
            Ok(Message::UrlCheck)
        );
        assert_eq!(
            parse_message(r#"{"EventType":"check_create_suite_url","Random":"x"}"#),
            Ok(Message::UrlCheck)
        );
        assert_eq!(parse_message("success"), Err(EventError::NotJson));
        assert_eq!(parse_message("[1]"), Err(EventError::NotJson));
        assert_eq!(
            parse_message(r#"{"type":"x"}"#),
            Err(EventError::NoEventType)
        );
        assert_eq!(
            parse_message(r#"{"EventType":"bpms\u0000"}"#),
            Err(EventError::BadEventType)
        );
    }
}
