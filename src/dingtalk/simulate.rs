//! Playing DingTalk's side of a callback: encrypt and sign a message exactly as DingTalk
//! does, post it, and check the encrypted `success` that comes back. Used by
//! `jifen simulate` and by tests; the same crypto module as the receiver, so they agree.

use serde_json::json;

use super::crypto::{CallbackCrypto, EncryptedReply};

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("cannot reach {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the server refused the callback with HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the reply is not the encrypted success DingTalk expects: {0}")]
    BadReply(String),
}

/// Sends `plaintext` to `url` as a signed, encrypted callback; returns once the server's
/// reply has been verified to decrypt to `success`.
pub async fn send_callback(
    client: &reqwest::Client,
    url: &str,
    crypto: &CallbackCrypto,
    plaintext: &str,
) -> Result<(), SimulateError> {
    let timestamp = jiff::Timestamp::now().as_millisecond().to_string();
    let nonce = format!("{:016x}", rand::random::<u64>());
    let encrypt = crypto.encrypt(plaintext);
    let signature = crypto.signature(&timestamp, &nonce, &encrypt);
    let response = client
        .post(url)
        .query(&[
            ("msg_signature", signature.as_str()),
            ("timestamp", timestamp.as_str()),
            ("nonce", nonce.as_str()),
        ])
        .json(&json!({ "encrypt": encrypt }))
        .send()
        .await
        .map_err(|source| SimulateError::Unreachable {
            url: url.to_string(),
            source,
        })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(SimulateError::Refused {
            status: status.as_u16(),
            body,
        });
    }
    let reply: EncryptedReply =
        serde_json::from_str(&body).map_err(|e| SimulateError::BadReply(e.to_string()))?;
    match crypto.verify_and_decrypt(
        &reply.msg_signature,
        &reply.time_stamp,
        &reply.nonce,
        &reply.encrypt,
    ) {
        Ok(text) if text == "success" => Ok(()),
        Ok(text) => Err(SimulateError::BadReply(format!("decrypts to {text:?}"))),
        Err(e) => Err(SimulateError::BadReply(e.to_string())),
    }
}

/// A `bpms_instance_change` message for an instance finished at `finish_ms` (Unix ms).
pub fn approval_message(
    corp_id: &str,
    instance: &str,
    process_code: &str,
    originator: &str,
    title: &str,
    result: &str,
    finish_ms: i64,
) -> String {
    json!({
        "EventType": "bpms_instance_change",
        "processInstanceId": instance,
        "corpId": corp_id,
        "createTime": finish_ms - 60_000,
        "finishTime": finish_ms,
        "title": title,
        "type": "finish",
        "result": result,
        "staffId": originator,
        "url": format!("https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?procInstId={instance}"),
        "processCode": process_code,
    })
    .to_string()
}

/// The `bpms_instance_change` DingTalk sends when an instance is started at `create_ms`:
/// `type` start, with neither `result` nor `finishTime`.
pub fn start_message(
    corp_id: &str,
    instance: &str,
    process_code: &str,
    originator: &str,
    title: &str,
    create_ms: i64,
) -> String {
    json!({
        "EventType": "bpms_instance_change",
        "processInstanceId": instance,
        "corpId": corp_id,
        "createTime": create_ms,
        "title": title,
        "type": "start",
        "staffId": originator,
        "url": format!("https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?procInstId={instance}"),
        "processCode": process_code,
    })
    .to_string()
}

/// The `bpms_instance_change` DingTalk sends when an instance is withdrawn (撤销) at
/// `at_ms`: `type` terminate, and no `result`.
pub fn withdrawal_message(
    corp_id: &str,
    instance: &str,
    process_code: &str,
    originator: &str,
    title: &str,
    at_ms: i64,
) -> String {
    json!({
        "EventType": "bpms_instance_change",
        "processInstanceId": instance,
        "corpId": corp_id,
        "createTime": at_ms - 60_000,
        "finishTime": at_ms,
        "title": title,
        "type": "terminate",
        "staffId": originator,
        "url": format!("https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?procInstId={instance}"),
        "processCode": process_code,
    })
    .to_string()
}

/// An `attendance_check_record` push with one check-in; `biz_id` identifies the check-in.
pub fn attendance_message(corp_id: &str, userid: &str, check_time_ms: i64, biz_id: &str) -> String {
    json!({
        "EventType": "attendance_check_record",
        "DataList": [{
            "userId": userid,
            "corpId": corp_id,
            "checkTime": check_time_ms,
            "bizId": biz_id,
            "locationMethod": "ATM",
            "deviceName": "前台考勤机",
            "checkByUser": true,
        }],
    })
    .to_string()
}
