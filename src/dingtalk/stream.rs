//! DingTalk's Stream protocol (PROTOCOL.md §c) as data: the frames the gateway pushes over
//! the WebSocket, the ACKs we write back, and the body that opens a connection. Pure, so
//! the client and the emulator share one reading of the wire and both are checked against
//! the frames captured from DingTalk's own SDK.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Robot messages arrive as CALLBACK frames on this topic.
pub const ROBOT_TOPIC: &str = "/v1.0/im/bot/messages/get";
/// Interactive cards' button presses.
pub const CARD_TOPIC: &str = "/v1.0/card/instances/callback";

/// A frame as it travels, either way: the gateway's pushes have `type`, `headers` and a
/// `data` string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Frame {
    #[serde(default = "spec_version")]
    pub spec_version: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Header values are strings on the wire (`time` too); kept as JSON to read leniently.
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// The payload, itself JSON, as a string.
    #[serde(default)]
    pub data: String,
}

fn spec_version() -> String {
    "1.0".into()
}

/// What a downstream frame asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Answer with the same data, at once.
    Ping { message_id: String, data: String },
    /// The gateway will close this connection soon: open another.
    Disconnect { message_id: String, reason: String },
    /// A subscribed event; `event_type` from the headers, `data` its body.
    Event {
        message_id: String,
        event_type: String,
        event_id: String,
        data: String,
    },
    /// A callback (robot message, card press) on `topic`.
    Callback {
        message_id: String,
        topic: String,
        data: String,
    },
    /// A frame type or SYSTEM topic this client does not know; answered 404.
    Unknown { message_id: String, what: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the frame is not JSON of the Stream shape: {0}")]
    NotAFrame(String),
    #[error("the frame has no headers.messageId")]
    NoMessageId,
    #[error("the EVENT frame has no headers.eventType")]
    NoEventType,
    #[error("the event data is not a JSON object")]
    DataNotAnObject,
}

fn header(frame: &Frame, name: &str) -> Option<String> {
    frame.headers.get(name).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Reads one downstream text frame.
pub fn parse_frame(text: &str) -> Result<Inbound, FrameError> {
    let frame: Frame = serde_json::from_str(text).map_err(|e| {
        // Serde's message, never the text itself: it may hold people's messages.
        FrameError::NotAFrame(e.to_string())
    })?;
    let topic = header(&frame, "topic").unwrap_or_default();
    // A disconnect may come without a messageId (one documented example has none).
    let message_id = header(&frame, "messageId");
    let id = || message_id.clone().ok_or(FrameError::NoMessageId);
    Ok(match (frame.kind.as_str(), topic.as_str()) {
        ("SYSTEM", "ping") => Inbound::Ping {
            message_id: id()?,
            data: frame.data,
        },
        ("SYSTEM", "disconnect") => Inbound::Disconnect {
            message_id: message_id.unwrap_or_default(),
            reason: serde_json::from_str::<Value>(&frame.data)
                .ok()
                .and_then(|d| d.get("reason").and_then(Value::as_str).map(String::from))
                .unwrap_or_default(),
        },
        ("EVENT", _) => Inbound::Event {
            message_id: id()?,
            event_type: header(&frame, "eventType")
                .filter(|t| !t.is_empty())
                .ok_or(FrameError::NoEventType)?,
            event_id: header(&frame, "eventId").unwrap_or_default(),
            data: frame.data,
        },
        ("CALLBACK", _) => Inbound::Callback {
            message_id: id()?,
            topic,
            data: frame.data,
        },
        (kind, topic) => Inbound::Unknown {
            message_id: message_id.unwrap_or_default(),
            what: format!("{kind} {topic}"),
        },
    })
}

/// Whether an event was taken: `Later` asks DingTalk to push it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Success,
    Later,
}

/// The upstream ACK of `message_id` with `code` and `data` (a JSON text).
pub fn ack(message_id: &str, code: u16, data: &str) -> String {
    json!({
        "code": code,
        "headers": { "contentType": "application/json", "messageId": message_id },
        "message": if code == 200 { "OK" } else { "error" },
        "data": data,
    })
    .to_string()
}

/// The ACK of an event: stored (`SUCCESS`) or not (`LATER`).
pub fn event_ack(message_id: &str, status: EventStatus) -> String {
    let data = match status {
        EventStatus::Success => json!({"status": "SUCCESS", "message": "success"}),
        EventStatus::Later => json!({"status": "LATER", "message": "retry later"}),
    };
    ack(message_id, 200, &data.to_string())
}

/// The ACK of a callback, with the reply DingTalk reads (`null` for robot messages).
pub fn callback_ack(message_id: &str, response: Value) -> String {
    ack(
        message_id,
        200,
        &json!({ "response": response }).to_string(),
    )
}

/// An event's body in the shape of an HTTP callback's plaintext (`EventType` beside the
/// fields), so both paths store it under the same de-duplication key.
pub fn event_plaintext(event_type: &str, data: &str) -> Result<String, FrameError> {
    let mut body: Map<String, Value> = match serde_json::from_str(data) {
        Ok(Value::Object(map)) => map,
        _ => return Err(FrameError::DataNotAnObject),
    };
    body.insert("EventType".into(), Value::String(event_type.to_string()));
    Ok(Value::Object(body).to_string())
}

/// What a connection subscribes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    #[serde(rename = "type")]
    pub kind: String,
    pub topic: String,
}

impl Subscription {
    /// Every event the console chose (EVENT takes only `*`).
    pub fn events() -> Subscription {
        Subscription {
            kind: "EVENT".into(),
            topic: "*".into(),
        }
    }

    pub fn callback(topic: &str) -> Subscription {
        Subscription {
            kind: "CALLBACK".into(),
            topic: topic.into(),
        }
    }
}

/// The user agent jifen names itself by when opening a connection.
pub fn user_agent() -> String {
    format!("jifen/{}-rust", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/dingtalk/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn decoded(ack: &str) -> Value {
        let mut v: Value = serde_json::from_str(ack).unwrap();
        let data = v["data"].as_str().unwrap().to_string();
        v["data"] = serde_json::from_str(&data).unwrap();
        v
    }

    type Check = fn(&Inbound) -> bool;

    #[test]
    fn the_captured_frames_read_as_what_they_ask() {
        let cases: [(&str, Check); 5] = [
            ("stream-system-ping", |f| {
                matches!(f, Inbound::Ping { message_id, data }
                    if message_id == "213d841d_972_1898bb26334_70a7" && data.contains("opaque"))
            }),
            (
                "stream-system-disconnect",
                |f| matches!(f, Inbound::Disconnect { reason, .. } if reason == "connection is expired"),
            ),
            ("stream-event-bpms-instance-change", |f| {
                matches!(f, Inbound::Event { event_type, event_id, .. }
                    if event_type == "bpms_instance_change" && event_id == "c7c7120f2c0741958a3b9ebdba0318c8")
            }),
            (
                "stream-callback-robot-message",
                |f| matches!(f, Inbound::Callback { topic, .. } if topic == ROBOT_TOPIC),
            ),
            (
                "stream-callback-card",
                |f| matches!(f, Inbound::Callback { topic, .. } if topic == CARD_TOPIC),
            ),
        ];
        for (name, expected) in cases {
            let frame = fixture(name)["frame"].to_string();
            let inbound = parse_frame(&frame).unwrap();
            assert!(expected(&inbound), "{name}: {inbound:?}");
        }
    }

    #[test]
    fn our_acks_are_the_protocols() {
        let ping = fixture("stream-system-ping");
        let data = ping["frame"]["data"].as_str().unwrap();
        let id = ping["frame"]["headers"]["messageId"].as_str().unwrap();
        assert_eq!(
            decoded(&ack(id, 200, data)),
            decoded(&ping["ack_per_protocol"].to_string())
        );
        let event = fixture("stream-event-bpms-instance-change");
        let id = event["frame"]["headers"]["messageId"].as_str().unwrap();
        for (status, key) in [
            (EventStatus::Success, "ack_per_protocol"),
            (EventStatus::Later, "ack_later_per_protocol"),
        ] {
            assert_eq!(
                decoded(&event_ack(id, status)),
                decoded(&event[key].to_string()),
                "{status:?}"
            );
        }
        let robot = fixture("stream-callback-robot-message");
        let id = robot["frame"]["headers"]["messageId"].as_str().unwrap();
        assert_eq!(
            decoded(&callback_ack(id, Value::Null)),
            decoded(&robot["ack_per_protocol"].to_string())
        );
        let card = fixture("stream-callback-card");
        let id = card["frame"]["headers"]["messageId"].as_str().unwrap();
        let response = decoded(&card["ack_per_protocol"].to_string())["data"]["response"].clone();
        assert_eq!(
            decoded(&callback_ack(id, response)),
            decoded(&card["ack_per_protocol"].to_string())
        );
    }

    #[test]
    fn a_stream_event_is_keyed_as_its_http_twin() {
        let event = fixture("stream-event-bpms-instance-change");
        let data = event["frame"]["data"].as_str().unwrap();
        let plaintext = event_plaintext("bpms_instance_change", data).unwrap();
        let crate::dingtalk::events::Message::Events(events) =
            crate::dingtalk::events::parse_message(&plaintext).unwrap()
        else {
            panic!("not events")
        };
        assert_eq!(
            events[0].dedup_key,
            "bpms_instance:Yx3kR8vNTm2qLwZ5pH7sAg03821716185263:finish:agree"
        );
        assert_eq!(
            event_plaintext("x", "[1]"),
            Err(FrameError::DataNotAnObject)
        );
    }

    #[test]
    fn frames_that_cannot_be_read_are_refused_with_the_reason() {
        let cases = [
            ("not json", "NotAFrame"),
            (
                r#"{"type":"EVENT","headers":{"eventType":"x"},"data":"{}"}"#,
                "NoMessageId",
            ),
            (
                r#"{"type":"EVENT","headers":{"messageId":"m"},"data":"{}"}"#,
                "NoEventType",
            ),
            (
                r#"{"type":"CALLBACK","headers":{"topic":"t"},"data":"{}"}"#,
                "NoMessageId",
            ),
        ];
        for (text, expected) in cases {
            let error = parse_frame(text).unwrap_err();
            assert!(
                format!("{error:?}").starts_with(expected),
                "{text}: {error:?}"
            );
        }
        assert_eq!(
            parse_frame(r#"{"type":"SYSTEM","headers":{"topic":"KEEPALIVE","messageId":"m"}}"#),
            Ok(Inbound::Unknown {
                message_id: "m".into(),
                what: "SYSTEM KEEPALIVE".into()
            })
        );
    }

    #[test]
    fn the_open_body_subscribes_as_the_sdk_does() {
        let open = fixture("stream-open-connection");
        let subscriptions = vec![
            Subscription::events(),
            Subscription::callback(ROBOT_TOPIC),
            Subscription::callback(CARD_TOPIC),
        ];
        assert_eq!(
            serde_json::to_value(&subscriptions).unwrap(),
            open["request"]["body"]["subscriptions"]
        );
    }
}
