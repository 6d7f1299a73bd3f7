//! The robot message DingTalk posts to `/dingtalk/robot` (and sends over Stream), with the
//! keys of `ChatbotMessage` in DingTalk's SDK; and the replies we send back.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RobotMessage {
    pub msg_id: String,
    #[serde(default)]
    pub msgtype: String,
    #[serde(default)]
    pub text: Option<Text>,
    /// `"1"` a direct chat, `"2"` a group.
    #[serde(default)]
    pub conversation_type: String,
    #[serde(default)]
    pub conversation_id: String,
    /// The sender's userid; absent for people outside the organisation.
    #[serde(default)]
    pub sender_staff_id: Option<String>,
    #[serde(default)]
    pub robot_code: Option<String>,
    /// The organisation the robot belongs to.
    #[serde(default)]
    pub chatbot_corp_id: Option<String>,
    /// Everyone mentioned; the robot itself is listed without a staffId.
    #[serde(default)]
    pub at_users: Vec<AtUser>,
    #[serde(default)]
    pub session_webhook: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub session_webhook_expired_time: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    #[serde(default)]
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AtUser {
    #[serde(default)]
    pub dingtalk_id: Option<String>,
    #[serde(default)]
    pub staff_id: Option<String>,
}

impl RobotMessage {
    /// What was typed, or `None` for pictures, files and the like.
    pub fn typed_text(&self) -> Option<&str> {
        match (self.msgtype.as_str(), &self.text) {
            ("text", Some(text)) => Some(text.content.trim()),
            _ => None,
        }
    }

    /// The people mentioned, in order, without the robot and without repeats.
    pub fn mentioned(&self) -> Vec<String> {
        let mut people: Vec<String> = Vec::new();
        for staff_id in self.at_users.iter().filter_map(|u| u.staff_id.as_ref()) {
            if !people.contains(staff_id) {
                people.push(staff_id.clone());
            }
        }
        people
    }

    pub fn in_group(&self) -> bool {
        self.conversation_type == "2"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_captured_group_message_parses_with_its_mentions() {
        let body = r#"{"conversationId":"cid1","atUsers":[{"dingtalkId":"$:LWCP_v1:$x"},
            {"dingtalkId":"$:LWCP_v1:$y","staffId":"281826612426286785"}],"msgId":"m1",
            "senderStaffId":"manager4220","conversationType":"2","msgtype":"text",
            "text":{"content":" 给@李强 加50积分 理由：协助完成五月客户回访"},
            "sessionWebhook":"https://oapi.dingtalk.com/robot/sendBySession?session=9f",
            "sessionWebhookExpiredTime":1716190663417}"#;
        let message: RobotMessage = serde_json::from_str(body).unwrap();
        assert_eq!(message.mentioned(), ["281826612426286785"]);
        assert_eq!(
            message.typed_text(),
            Some("给@李强 加50积分 理由：协助完成五月客户回访")
        );
        assert!(message.in_group());
    }

    #[test]
    fn a_picture_has_no_text() {
        let body = r#"{"msgId":"m2","msgtype":"picture","content":{"downloadCode":"x"}}"#;
        let message: RobotMessage = serde_json::from_str(body).unwrap();
        assert_eq!(message.typed_text(), None);
    }
}
