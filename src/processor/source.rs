//! What the processor needs from DingTalk's OpenAPI to turn a callback into a domain event:
//! an approval's form values and a check-in's attendance result. The OpenAPI client
//! implements this for real; tests use an in-memory one.

use async_trait::async_trait;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::dingtalk::openapi::OpenApiClient;

/// An approval instance as `topapi/processinstance/get` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDetail {
    pub title: String,
    pub originator_userid: String,
    pub form_component_values: Vec<FormValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormValue {
    pub component_type: String,
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
    /// For contact fields: a JSON list of the chosen people, each with an `emplId`.
    #[serde(default)]
    pub ext_value: Option<String>,
}

/// One attendance result as `attendance/list` returns it (times in Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttendanceResult {
    pub user_id: String,
    pub check_type: String,
    pub time_result: String,
    pub base_check_time: i64,
    pub user_check_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("DingTalk has no {0}")]
    NotFound(String),
    #[error("DingTalk OpenAPI call failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait DingTalkSource: Send + Sync {
    async fn approval(&self, process_instance_id: &str) -> Result<ApprovalDetail, SourceError>;
    /// These people's attendance results for one work date. One call for many people,
    /// because DingTalk allows 40 calls a second and a company checks in at 9:00 together.
    async fn attendance(
        &self,
        userids: &[String],
        work_date: Date,
    ) -> Result<Vec<AttendanceResult>, SourceError>;
}

/// The real source: DingTalk's OpenAPI.
#[async_trait]
impl DingTalkSource for OpenApiClient {
    async fn approval(&self, process_instance_id: &str) -> Result<ApprovalDetail, SourceError> {
        let instance = self
            .process_instance(process_instance_id)
            .await
            .map_err(|e| SourceError::Failed(e.to_string()))?;
        Ok(ApprovalDetail {
            title: instance.title,
            originator_userid: instance.originator_user_id,
            form_component_values: instance
                .form_component_values
                .into_iter()
                .map(|f| FormValue {
                    component_type: f.component_type,
                    name: f.name,
                    value: f.value,
                    ext_value: f.ext_value,
                })
                .collect(),
        })
    }

    async fn attendance(
        &self,
        userids: &[String],
        work_date: Date,
    ) -> Result<Vec<AttendanceResult>, SourceError> {
        let records = self
            .attendance_results(userids, work_date, work_date)
            .await
            .map_err(|e| SourceError::Failed(e.to_string()))?;
        Ok(records
            .into_iter()
            .map(|r| AttendanceResult {
                user_id: r.user_id,
                check_type: r.check_type,
                time_result: r.time_result,
                base_check_time: r.base_check_time,
                user_check_time: r.user_check_time,
            })
            .collect())
    }
}
