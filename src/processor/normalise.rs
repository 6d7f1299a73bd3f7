//! From DingTalk's events to jifen's domain events (DESIGN.md "Processor"). The pure half:
//! given the callback and what the OpenAPI said about it, build the event the rules see.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::source::{ApprovalDetail, AttendanceResult};
use crate::domain::event::CheckResult;
use crate::domain::{Calendar, DomainEvent};

/// What an inbox row turns into.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalised {
    Event(DomainEvent),
    /// Nothing to post, and why (an approval that was refused, a form no rule reads…).
    Nothing(String),
    /// What was posted for this source is to be taken back: DingTalk withdrew it.
    Withdrawn(Withdrawal),
    /// A step of a 积分兑换 approval: the redemption it asks for moves with it.
    Redemption(FormRedemption),
}

/// A 积分兑换 instance's change, with the form when the step needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct FormRedemption {
    pub change: InstanceChange,
    pub step: FormStep,
    /// Read for `Filed` and `Approved`: who asked, and for what.
    pub detail: Option<ApprovalDetail>,
}

/// What a 积分兑换 instance's change means for its redemption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormStep {
    /// Started: hold the cost.
    Filed,
    /// Agreed: the redemption is approved (held first, if the start was never seen).
    Approved,
    /// Refused by an approver: refund.
    Refused,
    /// Withdrawn by the person or an admin: refund, unless it was handed over.
    Withdrawn,
}

impl FormStep {
    /// The step a change is, or none for a change that moves nothing.
    pub fn of(change: &InstanceChange) -> Option<FormStep> {
        match (change.kind.as_str(), change.result.as_str()) {
            ("start", _) => Some(FormStep::Filed),
            ("finish", "agree") => Some(FormStep::Approved),
            ("finish", "refuse") => Some(FormStep::Refused),
            _ if is_withdrawal(change) => Some(FormStep::Withdrawn),
            _ => None,
        }
    }

    /// Whether the step needs the form read from DingTalk.
    pub fn reads_form(self) -> bool {
        matches!(self, FormStep::Filed | FormStep::Approved)
    }
}

/// The source key of the redemption a 积分兑换 instance asks for: the same as an approval's,
/// so the instance redeems once however often its changes arrive.
pub fn form_redemption_key(process_instance_id: &str) -> String {
    approval_source_key(process_instance_id)
}

/// The reward the form names, as typed or chosen.
pub fn form_reward(detail: &ApprovalDetail) -> Option<&str> {
    detail
        .form_component_values
        .iter()
        .find(|f| f.name == crate::domain::REDEMPTION_FIELD)
        .and_then(|f| f.value.as_deref())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// An approval withdrawn after the fact, and how its reversals explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    pub source_key: String,
    pub process_instance_id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    #[error("payload is not the JSON of a {0} event")]
    BadPayload(&'static str),
    #[error("field {0} is missing")]
    Missing(&'static str),
    #[error("no attendance result yet for {userid}'s check-in at {at}")]
    ResultNotReady { userid: String, at: String },
}

/// The parts of a `bpms_instance_change` callback the processor reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceChange {
    pub process_instance_id: String,
    pub process_code: String,
    pub kind: String,
    pub result: String,
    pub finish_time: Option<i64>,
    pub title: Option<String>,
}

pub fn instance_change(payload: &str) -> Result<InstanceChange, NormaliseError> {
    let v: Value = serde_json::from_str(payload)
        .map_err(|_| NormaliseError::BadPayload("bpms_instance_change"))?;
    let text = |f: &'static str| v.get(f).and_then(Value::as_str).map(str::to_string);
    Ok(InstanceChange {
        process_instance_id: text("processInstanceId")
            .ok_or(NormaliseError::Missing("processInstanceId"))?,
        process_code: text("processCode").unwrap_or_default(),
        kind: text("type").unwrap_or_default(),
        result: text("result").unwrap_or_default(),
        finish_time: v.get("finishTime").and_then(Value::as_i64),
        title: text("title"),
    })
}

/// Only a finished, agreed instance is an approval.
pub fn is_approval(change: &InstanceChange) -> bool {
    change.kind == "finish" && change.result == "agree"
}

/// `terminate` (撤销, by the originator or an admin, also after approval) or a revoke: what
/// the instance awarded no longer stands.
pub fn is_withdrawal(change: &InstanceChange) -> bool {
    matches!(change.kind.as_str(), "terminate" | "revoke")
}

/// Whether DingTalk says the instance stands no more, whatever the callback said: a finish
/// callback read after the instance was withdrawn.
pub fn was_withdrawn(detail: &ApprovalDetail) -> bool {
    matches!(detail.status.as_str(), "TERMINATED" | "CANCELED")
}

/// The withdrawal of the instance `change` names; it undoes what `approval_event` posted.
pub fn withdrawal(change: &InstanceChange) -> Withdrawal {
    Withdrawal {
        source_key: approval_source_key(&change.process_instance_id),
        process_instance_id: change.process_instance_id.clone(),
        title: change.title.clone().unwrap_or_default(),
    }
}

impl Withdrawal {
    /// The reason each reversal gives, naming the approval as people saw it.
    pub fn reason(&self) -> (String, String) {
        let name = if self.title.is_empty() {
            &self.process_instance_id
        } else {
            &self.title
        };
        (
            format!("钉钉审批「{name}」已撤销"),
            format!("the DingTalk approval \"{name}\" was withdrawn"),
        )
    }
}

fn approval_source_key(process_instance_id: &str) -> String {
    format!("bpms:{process_instance_id}")
}

/// The `approval.approved` event for an agreed instance and its detail.
pub fn approval_event(
    change: &InstanceChange,
    detail: &ApprovalDetail,
    received_at: Timestamp,
) -> DomainEvent {
    let occurred_at = change
        .finish_time
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .unwrap_or(received_at);
    DomainEvent {
        kind: "approval.approved".into(),
        source_key: approval_source_key(&change.process_instance_id),
        userid: detail.originator_userid.clone(),
        occurred_at,
        departments: vec![],
        data: object(json!({
            "process_code": change.process_code,
            "process_instance_id": change.process_instance_id,
            "title": detail.title,
            "originator": detail.originator_userid,
            "form": form_values(detail),
        })),
    }
}

/// Form values by label. A contact field becomes the userids chosen (its `emplId`s), since
/// that is what a rule's `target` needs; its display value is only a name.
fn form_values(detail: &ApprovalDetail) -> Map<String, Value> {
    detail
        .form_component_values
        .iter()
        .map(|f| {
            let people: Option<Vec<String>> = (f.component_type == "InnerContactField")
                .then_some(f.ext_value.as_deref())
                .flatten()
                .and_then(|ext| serde_json::from_str::<Vec<Value>>(ext).ok())
                .map(|list| {
                    list.iter()
                        .filter_map(|p| p.get("emplId").and_then(Value::as_str).map(str::to_string))
                        .collect()
                });
            let value = match people {
                Some(ids) => json!(ids),
                None => json!(f.value.clone().unwrap_or_default()),
            };
            (f.name.clone(), value)
        })
        .collect()
}

/// One check-in from an `attendance_check_record` push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    pub userid: String,
    pub check_time: i64,
}

pub fn check_in(payload: &str) -> Result<CheckIn, NormaliseError> {
    let v: Value = serde_json::from_str(payload)
        .map_err(|_| NormaliseError::BadPayload("attendance_check_record"))?;
    let record = v
        .get("DataList")
        .and_then(|l| l.get(0))
        .ok_or(NormaliseError::Missing("DataList"))?;
    Ok(CheckIn {
        userid: record
            .get("userId")
            .and_then(Value::as_str)
            .ok_or(NormaliseError::Missing("userId"))?
            .to_string(),
        check_time: record
            .get("checkTime")
            .and_then(Value::as_i64)
            .ok_or(NormaliseError::Missing("checkTime"))?,
    })
}

/// The `attendance.checked` event for a check-in, classified by DingTalk's own result for it.
pub fn attendance_event(
    check: &CheckIn,
    results: &[AttendanceResult],
    calendar: &Calendar,
) -> Result<Normalised, NormaliseError> {
    let at = Timestamp::from_millisecond(check.check_time)
        .map_err(|_| NormaliseError::Missing("checkTime"))?;
    let Some(result) = results
        .iter()
        .find(|r| r.user_id == check.userid && r.user_check_time == check.check_time)
    else {
        return Err(NormaliseError::ResultNotReady {
            userid: check.userid.clone(),
            at: at.to_string(),
        });
    };
    let classified = match result.time_result.as_str() {
        "Normal" => "on_time",
        "Late" | "SeriousLate" => "late",
        "Early" => "early",
        "Absenteeism" | "NotSigned" => "missing",
        other => {
            return Ok(Normalised::Nothing(format!(
                "attendance result {other} earns nothing"
            )));
        }
    };
    let minutes_late = if classified == "late" {
        ((result.user_check_time - result.base_check_time) / 60_000).max(0)
    } else {
        0
    };
    let checked = CheckResult {
        userid: &check.userid,
        work_date: calendar.local_date(at),
        check_type: &result.check_type,
        result: classified,
        minutes_late,
        at,
    };
    Ok(Normalised::Event(checked.event()))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::source::FormValue;

    fn calendar() -> Calendar {
        Calendar::new("Asia/Shanghai", jiff::civil::Weekday::Monday).unwrap()
    }

    #[test]
    fn instance_changes_are_approvals_only_when_finished_and_agreed() {
        let cases = [
            ("finish", "agree", true),
            ("finish", "refuse", false),
            ("start", "", false),
            ("terminate", "", false),
        ];
        for (kind, result, approved) in cases {
            let payload = json!({"EventType": "bpms_instance_change", "processInstanceId": "PI", "type": kind, "result": result}).to_string();
            assert_eq!(
                is_approval(&instance_change(&payload).unwrap()),
                approved,
                "{kind}/{result}"
            );
        }
        assert_eq!(
            instance_change("{}"),
            Err(NormaliseError::Missing("processInstanceId"))
        );
    }

    #[test]
    fn each_change_of_a_redemption_form_is_one_step_of_its_redemption() {
        let cases = [
            ("start", "", Some(FormStep::Filed)),
            ("finish", "agree", Some(FormStep::Approved)),
            ("finish", "refuse", Some(FormStep::Refused)),
            ("terminate", "", Some(FormStep::Withdrawn)),
            ("revoke", "", Some(FormStep::Withdrawn)),
            ("finish", "redirect", None),
            ("delete", "", None),
        ];
        for (kind, result, step) in cases {
            let payload = json!({"processInstanceId": "PI", "type": kind, "result": result});
            let change = instance_change(&payload.to_string()).unwrap();
            assert_eq!(FormStep::of(&change), step, "{kind}/{result}");
        }
        assert!(FormStep::Filed.reads_form() && FormStep::Approved.reads_form());
        assert!(!FormStep::Refused.reads_form() && !FormStep::Withdrawn.reads_form());
    }

    #[test]
    fn a_redemption_form_names_its_reward_in_the_reward_field() {
        let detail = |value: Option<&str>| ApprovalDetail {
            title: "刘洋提交的积分兑换".into(),
            status: "RUNNING".into(),
            originator_userid: "u1".into(),
            form_component_values: vec![FormValue {
                component_type: "DDSelectField".into(),
                name: "奖品".into(),
                value: value.map(str::to_string),
                ext_value: None,
            }],
        };
        assert_eq!(form_reward(&detail(Some(" coffee "))), Some("coffee"));
        assert_eq!(form_reward(&detail(Some("  "))), None);
        assert_eq!(form_reward(&detail(None)), None);
        assert_eq!(form_redemption_key("PI-3"), "bpms:PI-3");
    }

    #[test]
    fn terminate_and_revoke_withdraw_an_instance_and_name_it_in_the_reason() {
        let cases = [
            ("terminate", true),
            ("revoke", true),
            ("finish", false),
            ("start", false),
        ];
        for (kind, withdrawn) in cases {
            let payload =
                json!({"processInstanceId": "PI", "type": kind, "title": "刘洋提交的奖扣申请"})
                    .to_string();
            assert_eq!(
                is_withdrawal(&instance_change(&payload).unwrap()),
                withdrawn,
                "{kind}"
            );
        }
        let change = instance_change(r#"{"processInstanceId":"PI-9","type":"terminate"}"#).unwrap();
        let w = withdrawal(&change);
        assert_eq!(w.source_key, "bpms:PI-9");
        assert_eq!(
            w.reason().0,
            "钉钉审批「PI-9」已撤销",
            "the id when there is no title"
        );
    }

    #[test]
    fn an_approval_carries_its_form_with_contact_fields_as_userids() {
        let change = instance_change(r#"{"processInstanceId":"PI-1","processCode":"PROC-JIFEN-POINTS","type":"finish","result":"agree","finishTime":1716186703000}"#).unwrap();
        let detail = ApprovalDetail {
            title: "王芳提交的积分申请".into(),
            status: "COMPLETED".into(),
            originator_userid: "manager4220".into(),
            form_component_values: vec![
                FormValue {
                    component_type: "NumberField".into(),
                    name: "积分".into(),
                    value: Some("50".into()),
                    ext_value: None,
                },
                FormValue {
                    component_type: "InnerContactField".into(),
                    name: "获得人".into(),
                    value: Some("李强".into()),
                    ext_value: Some(r#"[{"emplId":"281826612426286785","name":"李强"}]"#.into()),
                },
            ],
        };
        let event = approval_event(&change, &detail, Timestamp::UNIX_EPOCH);
        assert_eq!(
            (
                event.kind.as_str(),
                event.source_key.as_str(),
                event.userid.as_str()
            ),
            ("approval.approved", "bpms:PI-1", "manager4220")
        );
        assert_eq!(event.occurred_at.as_millisecond(), 1716186703000);
        assert_eq!(
            event.data["form"],
            json!({"积分": "50", "获得人": ["281826612426286785"]})
        );
        assert_eq!(event.data["process_code"], "PROC-JIFEN-POINTS");
    }

    #[test]
    fn check_ins_are_classified_by_dingtalks_result() {
        // 2024-05-20 09:00 Shanghai is 01:00 UTC = 1716166800000.
        let base = 1_716_166_800_000;
        let result = |time_result: &str, user: i64| AttendanceResult {
            user_id: "u1".into(),
            check_type: "OnDuty".into(),
            time_result: time_result.into(),
            base_check_time: base,
            user_check_time: user,
        };
        let cases = [
            ("Normal", base - 300_000, "on_time", 0),
            ("Late", base + 12 * 60_000, "late", 12),
            ("SeriousLate", base + 47 * 60_000, "late", 47),
            ("Early", base - 60_000, "early", 0),
            ("NotSigned", base, "missing", 0),
        ];
        for (time_result, user, want, minutes) in cases {
            let check = CheckIn {
                userid: "u1".into(),
                check_time: user,
            };
            let Normalised::Event(e) =
                attendance_event(&check, &[result(time_result, user)], &calendar()).unwrap()
            else {
                panic!("{time_result}: no event");
            };
            assert_eq!(
                (e.data["result"].as_str(), e.data["minutes_late"].as_i64()),
                (Some(want), Some(minutes)),
                "{time_result}"
            );
            assert_eq!(e.source_key, "att:u1:2024-05-20:OnDuty");
        }
        let check = CheckIn {
            userid: "u1".into(),
            check_time: base,
        };
        assert!(matches!(
            attendance_event(&check, &[], &calendar()),
            Err(NormaliseError::ResultNotReady { .. })
        ));
        assert!(matches!(
            attendance_event(&check, &[result("Holiday", base)], &calendar()),
            Ok(Normalised::Nothing(_))
        ));
    }
}
