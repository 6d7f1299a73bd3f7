//! DingTalk's side of the robot (PROTOCOL.md §d): a person's message, with the keys of the
//! captured `ChatbotMessage`, signed with the app secret and posted to jifen; and the
//! sessionWebhook that jifen answers on, valid for 90 minutes like DingTalk's.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::gate::lock;
use super::org::{APP_KEY, APP_SECRET, CORP_ID};
use super::{Emulator, RecordedMessage};
use crate::dingtalk::robot::sign::sign;

/// How long a sessionWebhook works after the message (DingTalk's sample: 90 minutes).
pub const SESSION_MS: i64 = 90 * 60 * 1000;

/// A message a person sends the robot.
#[derive(Debug, Clone, Deserialize)]
pub struct RobotSend {
    /// The sender's userid.
    pub from: String,
    /// As typed, mentions included (e.g. "奖 @李强 5 加班").
    pub text: String,
    /// Userids of the people mentioned, in order.
    #[serde(default)]
    pub mentions: Vec<String>,
    /// In a group chat (the default) or a direct chat with the robot.
    #[serde(default = "in_group")]
    pub group: bool,
    /// The same id twice is a redelivery.
    #[serde(default)]
    pub msg_id: Option<String>,
    /// How long the sessionWebhook works; DingTalk's is 90 minutes.
    #[serde(default)]
    pub webhook_ttl_ms: Option<i64>,
}

fn in_group() -> bool {
    true
}

impl RobotSend {
    /// `text` from `from` in the group chat, mentioning `mentions`.
    pub fn in_group(from: &str, text: &str, mentions: &[&str]) -> RobotSend {
        RobotSend {
            from: from.into(),
            text: text.into(),
            mentions: mentions.iter().map(|m| m.to_string()).collect(),
            group: true,
            msg_id: None,
            webhook_ttl_ms: None,
        }
    }
}

/// What jifen answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotDelivery {
    pub msg_id: String,
    pub status: u16,
    pub body: String,
}

/// A sessionWebhook handed out with a message.
#[derive(Debug, Clone)]
pub(super) struct Session {
    expires_ms: i64,
    conversation: String,
}

pub const GROUP_CONVERSATION: &str = "cidJifenEmulatorGroup==";

impl Emulator {
    /// Where robot messages go (jifen's `/dingtalk/robot`).
    pub fn set_robot_url(&self, url: String) {
        *lock(&self.robot_url) = Some(url);
    }

    /// Sends a person's message to jifen, signed as DingTalk signs it.
    pub async fn send_robot_message(&self, send: &RobotSend) -> Result<RobotDelivery, String> {
        let stream = self.stream_mode(true);
        let url = lock(&self.robot_url).clone();
        if url.is_none() && !stream {
            return Err("no robot URL set (jifen emulator --robot-url) and no Stream connection takes robot messages".into());
        }
        let base = self.base_url().ok_or("the emulator is not serving")?;
        // Someone outside the address book can write to the robot too (a new hire, a guest).
        let nick = self
            .org
            .user(&send.from)
            .map_or_else(|| send.from.clone(), |u| u.name.clone());
        let now = Timestamp::now().as_millisecond();
        let msg_id = send
            .msg_id
            .clone()
            .unwrap_or_else(|| format!("msg{:024x}", rand::random::<u128>() >> 32));
        let session = format!("{:032x}", rand::random::<u128>());
        let expires_ms = now + send.webhook_ttl_ms.unwrap_or(SESSION_MS);
        let conversation = if send.group {
            GROUP_CONVERSATION.to_string()
        } else {
            format!("cidDirect{}==", send.from)
        };
        lock(&self.books).sessions.insert(
            session.clone(),
            Session {
                expires_ms,
                conversation: conversation.clone(),
            },
        );
        // The robot is listed among the mentioned without a staffId, as DingTalk does.
        let mut at_users = vec![json!({"dingtalkId": "$:LWCP_v1:$jifenRobot"})];
        for userid in &send.mentions {
            at_users.push(json!({"dingtalkId": format!("$:LWCP_v1:${userid}"), "staffId": userid}));
        }
        let mut body = json!({
            "conversationId": conversation,
            "atUsers": if send.group { at_users } else { vec![] },
            "chatbotCorpId": CORP_ID,
            "chatbotUserId": "$:LWCP_v1:$jifenRobot",
            "msgId": msg_id,
            "senderNick": nick,
            "isAdmin": false,
            "senderStaffId": send.from,
            "sessionWebhookExpiredTime": expires_ms,
            "createAt": now,
            "senderCorpId": CORP_ID,
            "conversationType": if send.group { "2" } else { "1" },
            "senderId": format!("$:LWCP_v1:${}", send.from),
            "isInAtList": true,
            "sessionWebhook": format!("{base}/robot/sendBySession?session={session}"),
            "text": {"content": format!(" {}", send.text)},
            "robotCode": APP_KEY,
            "msgtype": "text",
        });
        if send.group {
            body["conversationTitle"] = json!("积分运营群");
        }
        if stream {
            // Over Stream the connection vouches for the message: no signature headers.
            let ack = self.stream_robot_message(&body).await;
            return Ok(RobotDelivery {
                msg_id,
                status: ack.as_ref().map_or(0, |a| a.code as u16),
                body: ack.map(|a| a.raw).unwrap_or_default(),
            });
        }
        let url = url.unwrap_or_default();
        let timestamp = now.to_string();
        let response = self
            .http
            .post(&url)
            .header("timestamp", &timestamp)
            .header("sign", sign(APP_SECRET, &timestamp))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("cannot reach {url}: {}", e.without_url()))?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Ok(RobotDelivery {
            msg_id,
            status,
            body,
        })
    }

    /// `POST /robot/sendBySession?session=…`: a reply to a robot message.
    pub(super) fn session_reply(&self, session: Option<&str>, body: &[u8]) -> Value {
        let now = Timestamp::now().as_millisecond();
        let known = session.and_then(|s| lock(&self.books).sessions.get(s).cloned());
        let Some(session) = known else {
            // DingTalk documents no code for this; any errcode other than 0 is a failure.
            return json!({"errcode": 300001, "errmsg": "session is invalid"});
        };
        if now > session.expires_ms {
            return json!({"errcode": 300001, "errmsg": "session has expired"});
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return json!({"errcode": 40035, "errmsg": "body is not JSON"});
        };
        let (title, text) = match body.get("msgtype").and_then(Value::as_str) {
            Some("text") => (String::new(), body["text"]["content"].as_str()),
            Some("markdown") => (
                body["markdown"]["title"].as_str().unwrap_or("").to_string(),
                body["markdown"]["text"].as_str(),
            ),
            _ => return json!({"errcode": 40035, "errmsg": "msgtype must be text or markdown"}),
        };
        let Some(text) = text else {
            return json!({"errcode": 40035, "errmsg": "the message has no text"});
        };
        let mut to = vec![session.conversation];
        to.extend(super::params::list(&body["at"], "atUserIds"));
        self.record(RecordedMessage {
            seq: 0,
            at: Timestamp::now().to_string(),
            channel: "robot_session".into(),
            to,
            forbidden: vec![],
            title,
            text: text.to_string(),
            body,
        });
        json!({"errcode": 0, "errmsg": "ok"})
    }
}
