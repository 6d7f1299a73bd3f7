//! The endpoints jifen calls, with request and response shapes from PROTOCOL.md §e and the
//! fixtures captured from DingTalk's SDKs. Only the fields jifen reads are typed; the rest of
//! each answer is ignored.

use std::collections::BTreeMap;

use jiff::civil::Date;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, Failure, OpenApiClient};
use crate::dingtalk::card::{CardSpace, open_space_id};

/// Where a Stream connection goes, and the ticket that opens it once.
#[derive(Debug, Clone)]
pub struct StreamTicket {
    pub endpoint: String,
    pub ticket: secrecy::SecretString,
}

impl StreamTicket {
    /// The WebSocket URL: the endpoint with the ticket form-encoded, as DingTalk's Python
    /// SDK sends it (tickets are UUIDs, so encoding usually changes nothing); `None` when
    /// the endpoint is not a URL.
    pub fn url(&self) -> Option<String> {
        let ticket = secrecy::ExposeSecret::expose_secret(&self.ticket);
        reqwest::Url::parse_with_params(&self.endpoint, &[("ticket", ticket)])
            .ok()
            .map(String::from)
    }
}

/// An approval instance (`GET /v1.0/workflow/processInstances`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessInstance {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub originator_user_id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub result: String,
    /// UTC, `yyyy-MM-ddTHH:mmZ`.
    #[serde(default)]
    pub finish_time: Option<String>,
    #[serde(default)]
    pub form_component_values: Vec<FormComponent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormComponent {
    #[serde(default)]
    pub component_type: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
    /// For an employee picker, a JSON string listing the people chosen (`emplId`s).
    #[serde(default)]
    pub ext_value: Option<String>,
}

/// One attendance result (`POST /attendance/list`); times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttendanceRecord {
    pub user_id: String,
    pub work_date: i64,
    pub check_type: String,
    pub time_result: String,
    #[serde(default)]
    pub location_result: String,
    pub base_check_time: i64,
    /// When the person checked; DingTalk may leave it out, or repeat the planned time, for a
    /// check nobody made.
    #[serde(default)]
    pub user_check_time: i64,
    #[serde(default)]
    pub source_type: String,
    /// The approval (leave, a business trip, a correction) that covers this check, if any.
    #[serde(default)]
    pub approve_id: Option<i64>,
    #[serde(default)]
    pub proc_inst_id: Option<String>,
}

/// What an attendance result says happened at one planned check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The person checked, at this Unix ms.
    Made { at: i64 },
    /// Nobody checked and no approval covers it: 缺卡.
    Missed,
    /// Nobody checked, and an approval (leave) covers it.
    Excused,
}

impl AttendanceRecord {
    pub fn check(&self) -> Check {
        let excused = self.approve_id.is_some_and(|id| id != 0)
            || self
                .proc_inst_id
                .as_deref()
                .is_some_and(|id| !id.is_empty());
        match self.time_result.as_str() {
            "NotSigned" if excused => Check::Excused,
            "NotSigned" => Check::Missed,
            _ if self.user_check_time > 0 => Check::Made {
                at: self.user_check_time,
            },
            _ if excused => Check::Excused,
            _ => Check::Missed,
        }
    }
}

/// `topapi/attendance/getupdatedata`: what changed for one person on one day.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AttendanceUpdate {
    #[serde(default)]
    pub attendance_result_list: Vec<UpdatedResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UpdatedResult {
    pub check_type: String,
    pub time_result: String,
    /// `yyyy-MM-dd HH:mm:ss`, local time.
    #[serde(default)]
    pub plan_check_time: String,
    #[serde(default)]
    pub user_check_time: String,
}

/// A person (`topapi/v2/user/get`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub userid: String,
    pub name: String,
    #[serde(default)]
    pub dept_id_list: Vec<i64>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub job_number: Option<String>,
    /// The departments this person leads.
    #[serde(default)]
    pub leader_in_dept: Vec<DeptLeader>,
    #[serde(default)]
    pub active: Option<bool>,
    /// Unix milliseconds.
    #[serde(default)]
    pub hired_date: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeptLeader {
    pub dept_id: i64,
    pub leader: bool,
}

/// A department (`topapi/v2/department/listsub`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub dept_id: i64,
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<i64>,
}

/// Who signed in to the micro-app (`topapi/v2/user/getuserinfo`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoginUser {
    pub userid: String,
    #[serde(default)]
    pub name: String,
}

/// What became of a work notification (`getsendresult`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SendResult {
    #[serde(default)]
    pub invalid_user_id_list: Vec<String>,
    /// Users DingTalk's limits kept it from (the same content twice a day, too many a day).
    #[serde(default)]
    pub forbidden_user_id_list: Vec<String>,
    #[serde(default)]
    pub failed_user_id_list: Vec<String>,
    #[serde(default)]
    pub read_user_id_list: Vec<String>,
    #[serde(default)]
    pub unread_user_id_list: Vec<String>,
}

/// The answer to a robot's one-to-one send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RobotSendResult {
    #[serde(default)]
    pub process_query_key: String,
    #[serde(default)]
    pub invalid_staff_id_list: Vec<String>,
    #[serde(default)]
    pub flow_controlled_staff_id_list: Vec<String>,
}

/// A card to create from a template of DingTalk's card platform.
#[derive(Debug, Clone)]
pub struct NewCard<'a> {
    pub template_id: &'a str,
    /// Ours, unique per card: later updates and button presses name it.
    pub out_track_id: &'a str,
    /// The template's variables; DingTalk takes strings only.
    pub params: &'a BTreeMap<String, String>,
    pub spaces: &'a [CardSpace],
}

/// What became of a card in one space.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardDelivered {
    #[serde(default)]
    pub space_type: String,
    #[serde(default)]
    pub space_id: String,
    pub success: bool,
    #[serde(default)]
    pub error_msg: String,
}

/// A card's new values.
#[derive(Debug, Clone)]
pub struct CardUpdate<'a> {
    pub out_track_id: &'a str,
    /// Shared parameters to change, when any.
    pub params: Option<&'a BTreeMap<String, String>>,
    /// Parameters only this person sees, by userid.
    pub private: &'a BTreeMap<String, BTreeMap<String, String>>,
}

/// A callback DingTalk failed to deliver (`topapi/callback/failrecord/list`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FailedCallback {
    pub id: i64,
    pub call_back_tag: String,
    /// The event, as the JSON it would have been pushed with.
    pub call_back_data: String,
    /// Unix milliseconds.
    #[serde(default)]
    pub event_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FailedCallbacks {
    #[serde(default)]
    pub failed_list: Vec<FailedCallback>,
    #[serde(default)]
    pub has_more: bool,
}

/// A message, sent either as a work notification or by the robot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Text {
        content: String,
    },
    Markdown {
        title: String,
        text: String,
    },
    /// Markdown with one button that opens a URL.
    ActionCard {
        title: String,
        text: String,
        button: String,
        url: String,
    },
}

impl Message {
    /// The `msg` of a work notification.
    pub fn work_notification(&self) -> Value {
        match self {
            Message::Text { content } => json!({"msgtype": "text", "text": {"content": content}}),
            Message::Markdown { title, text } => {
                json!({"msgtype": "markdown", "markdown": {"title": title, "text": text}})
            }
            Message::ActionCard {
                title,
                text,
                button,
                url,
            } => json!({"msgtype": "action_card", "action_card": {
                "title": title, "markdown": text, "single_title": button, "single_url": url,
            }}),
        }
    }

    /// The robot's `msgKey` and `msgParam` (a JSON string).
    pub fn robot_message(&self) -> (&'static str, String) {
        let (key, param) = match self {
            Message::Text { content } => ("sampleText", json!({"content": content})),
            Message::Markdown { title, text } => {
                ("sampleMarkdown", json!({"title": title, "text": text}))
            }
            Message::ActionCard {
                title,
                text,
                button,
                url,
            } => (
                "sampleActionCard",
                json!({"title": title, "text": text, "singleTitle": button, "singleURL": url}),
            ),
        };
        (key, param.to_string())
    }

    /// The body of a sessionWebhook reply, @-mentioning `at_user` as DingTalk's SDK does.
    /// Cards cannot go this way, so a card becomes markdown with its link.
    pub fn session_reply(&self, at_user: &str) -> Value {
        let at = json!({"atUserIds": [at_user]});
        match self {
            Message::Text { content } => {
                json!({"msgtype": "text", "text": {"content": content}, "at": at})
            }
            Message::Markdown { title, text } => {
                json!({"msgtype": "markdown", "markdown": {"title": title, "text": text}, "at": at})
            }
            Message::ActionCard {
                title,
                text,
                button,
                url,
            } => json!({"msgtype": "markdown", "markdown": {
                "title": title, "text": format!("{text}\n\n[{button}]({url})")}, "at": at}),
        }
    }
}

/// `attendance/list` takes at most this many people and days per call.
const ATTENDANCE_USERS_PER_CALL: usize = 50;
const ATTENDANCE_DAYS_PER_CALL: i32 = 7;

impl OpenApiClient {
    pub async fn process_instance(&self, id: &str) -> Result<ProcessInstance, ApiError> {
        const API: &str = "workflow/processInstances";
        let value = self
            .new_api(
                API,
                Method::GET,
                "/v1.0/workflow/processInstances",
                &[("processInstanceId", id)],
                None,
            )
            .await?;
        field(API, &value, "result")
    }

    /// Attendance results for these people between two work dates, both included.
    pub async fn attendance_results(
        &self,
        user_ids: &[String],
        from: Date,
        to: Date,
    ) -> Result<Vec<AttendanceRecord>, ApiError> {
        const API: &str = "/attendance/list";
        let mut records = Vec::new();
        for users in user_ids.chunks(ATTENDANCE_USERS_PER_CALL) {
            let mut start = from;
            while start <= to {
                let end = start
                    .checked_add(jiff::Span::new().days(ATTENDANCE_DAYS_PER_CALL - 1))
                    .unwrap_or(to)
                    .min(to);
                let mut offset = 0;
                loop {
                    let value = self
                        .oapi(
                            API,
                            json!({
                                "workDateFrom": format!("{start} 00:00:00"),
                                "workDateTo": format!("{end} 00:00:00"),
                                "userIdList": users,
                                "offset": offset,
                                "limit": ATTENDANCE_USERS_PER_CALL,
                                "isI18n": false,
                            }),
                        )
                        .await?;
                    let page: Vec<AttendanceRecord> = field(API, &value, "recordresult")?;
                    offset += page.len();
                    let more = value.get("hasMore").and_then(Value::as_bool) == Some(true);
                    records.extend(page);
                    if !more {
                        break;
                    }
                }
                match end.tomorrow() {
                    Ok(next) if end < to => start = next,
                    _ => break,
                }
            }
        }
        Ok(records)
    }

    pub async fn attendance_update(
        &self,
        userid: &str,
        work_date: Date,
    ) -> Result<AttendanceUpdate, ApiError> {
        const API: &str = "/topapi/attendance/getupdatedata";
        let value = self
            .oapi(
                API,
                json!({"userid": userid, "work_date": format!("{work_date} 00:00:00")}),
            )
            .await?;
        field(API, &value, "result")
    }

    /// Forgets cached people, departments and memberships, so the next look-ups read the
    /// address book as it is now.
    pub fn forget_directory(&self) {
        self.users.clear();
        self.sub_departments.clear();
        self.department_members.clear();
    }

    /// A person, from the cache when looked up recently.
    pub async fn user(&self, userid: &str) -> Result<User, ApiError> {
        match self.users.get(&userid.to_string()) {
            Some(user) => Ok(user),
            None => self.fresh_user(userid).await,
        }
    }

    /// A person as DingTalk has them now (after a change to the address book), cached anew.
    pub async fn fresh_user(&self, userid: &str) -> Result<User, ApiError> {
        const API: &str = "/topapi/v2/user/get";
        let value = self
            .oapi(API, json!({"userid": userid, "language": "zh_CN"}))
            .await?;
        let user: User = field(API, &value, "result")?;
        self.users.put(userid.to_string(), user.clone());
        Ok(user)
    }

    /// The departments directly under `dept_id` (1 is the organisation itself).
    pub async fn sub_departments(&self, dept_id: i64) -> Result<Vec<Department>, ApiError> {
        const API: &str = "/topapi/v2/department/listsub";
        if let Some(list) = self.sub_departments.get(&dept_id) {
            return Ok(list);
        }
        let value = self
            .oapi(API, json!({"dept_id": dept_id, "language": "zh_CN"}))
            .await?;
        let list: Vec<Department> = field(API, &value, "result")?;
        self.sub_departments.put(dept_id, list.clone());
        Ok(list)
    }

    /// The userids directly in a department.
    pub async fn department_user_ids(&self, dept_id: i64) -> Result<Vec<String>, ApiError> {
        const API: &str = "/topapi/user/listid";
        if let Some(list) = self.department_members.get(&dept_id) {
            return Ok(list);
        }
        let value = self.oapi(API, json!({"dept_id": dept_id})).await?;
        let result: Value = field(API, &value, "result")?;
        let list: Vec<String> = field(API, &result, "userid_list")?;
        self.department_members.put(dept_id, list.clone());
        Ok(list)
    }

    /// Registers a Stream connection (PROTOCOL.md §c): where to connect and the ticket for
    /// it, valid 90 seconds and for one connection. The app's credentials are in the body;
    /// no access token is needed.
    pub async fn open_stream_connection(
        &self,
        subscriptions: &[crate::dingtalk::stream::Subscription],
    ) -> Result<StreamTicket, ApiError> {
        const API: &str = "/v1.0/gateway/connections/open";
        let body = json!({
            "clientId": self.settings.app_key,
            "clientSecret": secrecy::ExposeSecret::expose_secret(&self.settings.app_secret),
            "subscriptions": subscriptions,
            "ua": crate::dingtalk::stream::user_agent(),
        });
        let call = super::Call::NewApi {
            method: Method::POST,
            path: API,
            query: &[],
            body: Some(body),
        };
        let value = self.run(API, &call, false).await?;
        let endpoint: String = field(API, &value, "endpoint")?;
        let ticket: String = field(API, &value, "ticket")?;
        if endpoint.is_empty() || ticket.is_empty() {
            return Err(ApiError {
                api: API,
                attempts: 1,
                failure: Failure::Decode("an empty endpoint or ticket".into()),
            });
        }
        Ok(StreamTicket {
            endpoint,
            ticket: secrecy::SecretString::from(ticket),
        })
    }

    /// The person behind a micro-app free-login code (valid five minutes, usable once).
    pub async fn user_by_login_code(&self, code: &str) -> Result<LoginUser, ApiError> {
        const API: &str = "/topapi/v2/user/getuserinfo";
        let value = self.oapi(API, json!({"code": code})).await?;
        field(API, &value, "result")
    }

    /// Sends a work notification; returns DingTalk's task id for `work_notification_result`.
    pub async fn send_work_notification(
        &self,
        user_ids: &[String],
        message: &Message,
    ) -> Result<i64, ApiError> {
        const API: &str = "/topapi/message/corpconversation/asyncsend_v2";
        let agent_id = self.agent_id(API)?;
        let value = self
            .oapi(
                API,
                json!({
                    "agent_id": agent_id,
                    "userid_list": user_ids.join(","),
                    "to_all_user": false,
                    "msg": message.work_notification(),
                }),
            )
            .await?;
        field(API, &value, "task_id")
    }

    pub async fn work_notification_result(&self, task_id: i64) -> Result<SendResult, ApiError> {
        const API: &str = "/topapi/message/corpconversation/getsendresult";
        let agent_id = self.agent_id(API)?;
        let value = self
            .oapi(API, json!({"agent_id": agent_id, "task_id": task_id}))
            .await?;
        field(API, &value, "send_result")
    }

    /// The robot writes to each person one to one.
    pub async fn robot_send_to_users(
        &self,
        user_ids: &[String],
        message: &Message,
    ) -> Result<RobotSendResult, ApiError> {
        const API: &str = "robot/oToMessages/batchSend";
        let (msg_key, msg_param) = message.robot_message();
        let body = json!({
            "robotCode": self.robot_code(API)?,
            "userIds": user_ids,
            "msgKey": msg_key,
            "msgParam": msg_param,
        });
        let value = self
            .new_api(
                API,
                Method::POST,
                "/v1.0/robot/oToMessages/batchSend",
                &[],
                Some(body),
            )
            .await?;
        parse(API, value)
    }

    /// Whether `url` is a sessionWebhook on one of the trusted origins. The URL comes in the
    /// body of a robot message, which the robot's signature does not cover, so it is never
    /// called unless it points there.
    pub fn is_session_webhook(&self, url: &str) -> bool {
        self.settings.session_webhook_origins.iter().any(|origin| {
            url.strip_prefix(origin.as_str())
                .is_some_and(|rest| rest.starts_with("/robot/sendBySession?"))
        })
    }

    /// Replies through a robot message's sessionWebhook (no token: the URL is the credential).
    pub async fn reply_by_session(
        &self,
        webhook: &str,
        message: &Message,
        at_user: &str,
    ) -> Result<(), ApiError> {
        const API: &str = "robot/sendBySession";
        if !self.is_session_webhook(webhook) {
            return Err(ApiError::new(
                API,
                Failure::NotSent(
                    "the sessionWebhook is not on a trusted origin (robot.session_webhook_origins)"
                        .into(),
                ),
            ));
        }
        let call = super::Call::Session {
            url: webhook,
            body: message.session_reply(at_user),
        };
        self.run(API, &call, false).await.map(|_| ())
    }

    /// The robot writes to a group; returns the process query key.
    pub async fn robot_send_to_group(
        &self,
        open_conversation_id: &str,
        message: &Message,
    ) -> Result<String, ApiError> {
        const API: &str = "robot/groupMessages/send";
        let (msg_key, msg_param) = message.robot_message();
        let body = json!({
            "robotCode": self.robot_code(API)?,
            "openConversationId": open_conversation_id,
            "msgKey": msg_key,
            "msgParam": msg_param,
        });
        let value = self
            .new_api(
                API,
                Method::POST,
                "/v1.0/robot/groupMessages/send",
                &[],
                Some(body),
            )
            .await?;
        field(API, &value, "processQueryKey")
    }

    /// Creates an interactive card from template `card.template_id` and delivers it to its
    /// spaces through the robot; its buttons answer over Stream. Returns what became of
    /// each space (one may fail while another succeeds).
    pub async fn create_and_deliver_card(
        &self,
        card: &NewCard<'_>,
    ) -> Result<Vec<CardDelivered>, ApiError> {
        const API: &str = "card/instances/createAndDeliver";
        let robot_code = self.robot_code(API)?;
        let mut body = json!({
            "cardTemplateId": card.template_id,
            "outTrackId": card.out_track_id,
            "callbackType": "STREAM",
            "cardData": { "cardParamMap": card.params },
            "openSpaceId": open_space_id(card.spaces),
            "userIdType": 1,
        });
        for space in card.spaces {
            let (open, deliver) = match space {
                CardSpace::Group(_) => (
                    ("imGroupOpenSpaceModel", json!({"supportForward": true})),
                    ("imGroupOpenDeliverModel", json!({"robotCode": robot_code})),
                ),
                CardSpace::Robot(_) => (
                    ("imRobotOpenSpaceModel", json!({"supportForward": true})),
                    (
                        "imRobotOpenDeliverModel",
                        json!({"robotCode": robot_code, "spaceType": "IM_ROBOT"}),
                    ),
                ),
            };
            body[open.0] = open.1;
            body[deliver.0] = deliver.1;
        }
        let value = self
            .new_api(
                API,
                Method::POST,
                "/v1.0/card/instances/createAndDeliver",
                &[],
                Some(body),
            )
            .await?;
        let result: Value = field(API, &value, "result")?;
        field(API, &result, "deliverResults")
    }

    /// Updates a card in place: the shared parameters named (others keep their values) and
    /// each listed person's private ones.
    pub async fn update_card(&self, update: &CardUpdate<'_>) -> Result<(), ApiError> {
        const API: &str = "card/instances";
        let mut body = json!({
            "outTrackId": update.out_track_id,
            "cardUpdateOptions": {"updateCardDataByKey": true, "updatePrivateDataByKey": true},
            "userIdType": 1,
        });
        if let Some(params) = update.params {
            body["cardData"] = json!({ "cardParamMap": params });
        }
        if !update.private.is_empty() {
            let private: serde_json::Map<String, Value> = update
                .private
                .iter()
                .map(|(userid, params)| (userid.clone(), json!({ "cardParamMap": params })))
                .collect();
            body["privateData"] = Value::Object(private);
        }
        let value = self
            .new_api(API, Method::PUT, "/v1.0/card/instances", &[], Some(body))
            .await?;
        match value.get("result").and_then(Value::as_bool) {
            Some(false) => Err(ApiError {
                api: API,
                attempts: 1,
                failure: Failure::Decode("DingTalk answered result: false".into()),
            }),
            _ => Ok(()),
        }
    }

    /// Callbacks DingTalk could not deliver between two times (it keeps seven days), after
    /// record `cursor` (0 for the first page).
    pub async fn failed_callbacks(
        &self,
        begin: jiff::Timestamp,
        end: jiff::Timestamp,
        cursor: i64,
    ) -> Result<FailedCallbacks, ApiError> {
        const API: &str = "/topapi/callback/failrecord/list";
        let value = self
            .oapi(
                API,
                json!({"req": {
                    "cursor": cursor,
                    "page_size": 100,
                    "begin_time": begin.as_second(),
                    "end_time": end.as_second(),
                    "confirm": false,
                }}),
            )
            .await?;
        parse(API, value)
    }

    fn agent_id(&self, api: &'static str) -> Result<i64, ApiError> {
        self.settings
            .agent_id
            .ok_or_else(|| not_configured(api, "JIFEN_DINGTALK_AGENT_ID (dingtalk.agent_id)"))
    }

    fn robot_code(&self, api: &'static str) -> Result<&str, ApiError> {
        self.settings
            .robot_code
            .as_deref()
            .ok_or_else(|| not_configured(api, "JIFEN_DINGTALK_ROBOT_CODE (dingtalk.robot_code)"))
    }
}

fn not_configured(api: &'static str, what: &str) -> ApiError {
    ApiError {
        api,
        attempts: 0,
        failure: Failure::Decode(format!("not configured: set {what}")),
    }
}

fn field<T: DeserializeOwned>(api: &'static str, value: &Value, key: &str) -> Result<T, ApiError> {
    let inner = value.get(key).cloned().ok_or_else(|| ApiError {
        api,
        attempts: 1,
        failure: Failure::Decode(format!("the answer has no {key}")),
    })?;
    parse(api, inner)
}

fn parse<T: DeserializeOwned>(api: &'static str, value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError {
        api,
        attempts: 1,
        failure: Failure::Decode(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_ticket_is_form_encoded_into_the_endpoint_as_the_sdk_does() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/dingtalk/stream-open-connection.json"
        );
        let open: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let body = &open["response"]["body"];
        let ticket = StreamTicket {
            endpoint: body["endpoint"].as_str().unwrap().into(),
            ticket: secrecy::SecretString::from(body["ticket"].as_str().unwrap()),
        };
        // The same URL; the parser drops the default port 443.
        let url = ticket.url().unwrap();
        let target = open["websocket_connect"]["captured_request_target"]
            .as_str()
            .unwrap();
        assert_eq!(
            url,
            format!("wss://wss-open-connection.dingtalk.com{target}")
        );
        let nowhere = StreamTicket {
            endpoint: "not a url".into(),
            ticket: secrecy::SecretString::from("t"),
        };
        assert_eq!(nowhere.url(), None);
    }
}
