//! DingTalk's side of event callbacks: sign and encrypt an event, post it to the registered
//! URL, and check the encrypted `success`. A push that fails goes to the failed-callback
//! list, which jifen can read back through `topapi/callback/failrecord/list`.

use serde::Serialize;
use serde_json::json;

use super::gate::lock;
use super::{Emulator, FakeInstance};
use crate::dingtalk::crypto::CallbackCrypto;
use crate::dingtalk::simulate::{
    approval_message, attendance_message, send_callback, start_message, withdrawal_message,
};

pub struct CallbackTarget {
    pub url: String,
    pub crypto: CallbackCrypto,
}

/// A callback DingTalk could not deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedPush {
    pub id: i64,
    pub tag: String,
    pub data: String,
    pub event_time: i64,
}

impl Emulator {
    /// Pushes a person's check-ins for a day (those that happened); returns how many arrived.
    pub async fn push_check_ins(&self, userid: &str, date: jiff::civil::Date) -> usize {
        let mut arrived = 0;
        for result in self.attendance(userid, date) {
            let Some(at) = result.user_check_time else {
                continue;
            };
            // The same check-in always has the same bizId, so a replay is a redelivery.
            let biz_id = format!("emu-{userid}-{date}-{}", result.check_type);
            let message = attendance_message(crate::emulator::org::CORP_ID, userid, at, &biz_id);
            if self.push("attendance_check_record", &message).await {
                arrived += 1;
            }
        }
        arrived
    }

    /// Pushes the `bpms_instance_change` of a finished instance.
    pub async fn push_approval(&self, instance: &FakeInstance) -> bool {
        let message = approval_message(
            crate::emulator::org::CORP_ID,
            &instance.id,
            &instance.process_code,
            &instance.originator,
            &instance.title,
            &instance.result,
            instance.finish_ms,
        );
        self.push("bpms_instance_change", &message).await
    }

    /// Pushes the `bpms_instance_change` of a started instance (type start).
    pub async fn push_start(&self, instance: &FakeInstance) -> bool {
        let message = start_message(
            crate::emulator::org::CORP_ID,
            &instance.id,
            &instance.process_code,
            &instance.originator,
            &instance.title,
            instance.create_ms,
        );
        self.push("bpms_instance_change", &message).await
    }

    /// Pushes the `bpms_instance_change` of a withdrawn instance (type terminate).
    pub async fn push_withdrawal(&self, instance: &FakeInstance) -> bool {
        let message = withdrawal_message(
            crate::emulator::org::CORP_ID,
            &instance.id,
            &instance.process_code,
            &instance.originator,
            &instance.title,
            jiff::Timestamp::now().as_millisecond(),
        );
        self.push("bpms_instance_change", &message).await
    }

    /// Sends one event; false if it did not arrive (and is now in the failed list).
    pub async fn push(&self, tag: &str, plaintext: &str) -> bool {
        let (dropped, lost) = {
            let mut books = lock(&self.books);
            let lost = books.lose_pushes > 0;
            books.lose_pushes = books.lose_pushes.saturating_sub(1);
            let dropped = !lost && books.drop_pushes > 0;
            if dropped {
                books.drop_pushes -= 1;
            }
            (dropped, lost)
        };
        if lost {
            tracing::warn!(target: "jifen::emulator", tag, "callback lost on purpose (not listed as failed)");
            return false;
        }
        // An app in Stream mode gets its events over the connection it holds.
        if !dropped && self.stream_mode(false) {
            if self.stream_event(tag, plaintext).await {
                return true;
            }
            self.list_failed(tag, plaintext, "not acknowledged over Stream");
            return false;
        }
        let target = lock(&self.callback)
            .as_ref()
            .map(|t| (t.url.clone(), t.crypto.clone()));
        let outcome = match (dropped, target) {
            (true, _) => Err("dropped on purpose".to_string()),
            (false, None) => Err("no callback URL is registered".to_string()),
            (false, Some((url, crypto))) => send_callback(&self.http, &url, &crypto, plaintext)
                .await
                .map_err(|e| e.to_string()),
        };
        match outcome {
            Ok(()) => true,
            Err(why) => {
                self.list_failed(tag, plaintext, &why);
                false
            }
        }
    }

    fn list_failed(&self, tag: &str, plaintext: &str, why: &str) {
        tracing::warn!(target: "jifen::emulator", tag, why, "callback not delivered");
        let id = self.next_id();
        lock(&self.books).failed_pushes.push(FailedPush {
            id,
            tag: tag.to_string(),
            data: plaintext.to_string(),
            event_time: jiff::Timestamp::now().as_millisecond(),
        });
    }

    pub(super) fn failed_pushes(&self) -> Vec<FailedPush> {
        lock(&self.books).failed_pushes.clone()
    }
}

/// The failrecord/list entry for a failed push.
pub(super) fn failed_record(p: &FailedPush) -> serde_json::Value {
    json!({
        "id": p.id,
        "call_back_tag": p.tag,
        "call_back_data": p.data,
        "corpid": crate::emulator::org::CORP_ID,
        "event_time": p.event_time,
    })
}
