//! What the processor needs from DingTalk's OpenAPI to turn a callback into a domain event:
//! an approval's form values and a check-in's attendance result. The OpenAPI client
//! implements this for real; tests use an in-memory one.

use async_trait::async_trait;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

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
    /// A person's attendance results for one work date.
    async fn attendance(
        &self,
        userid: &str,
        work_date: Date,
    ) -> Result<Vec<AttendanceResult>, SourceError>;
}
