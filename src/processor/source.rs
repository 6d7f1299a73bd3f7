//! What the processor needs from DingTalk's OpenAPI to turn a callback into a domain event:
//! an approval's form values and a check-in's attendance result. The OpenAPI client
//! implements this for real; tests use an in-memory one.

use async_trait::async_trait;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use std::time::Duration;

use crate::dingtalk::openapi::{ApiError, OpenApiClient, Retry};
use crate::domain::{Department, Employee};

/// An approval instance as `topapi/processinstance/get` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDetail {
    pub title: String,
    /// `RUNNING`, `COMPLETED`, `TERMINATED` (withdrawn), `CANCELED`…
    #[serde(default)]
    pub status: String,
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
    /// The cause may pass: a timeout, a server error.
    #[error("DingTalk OpenAPI call failed: {0}")]
    Failed(String),
    /// DingTalk limits our calls: try again after `after`.
    #[error("DingTalk asks to slow down: {reason}")]
    RateLimited { after: Duration, reason: String },
    /// DingTalk refused in a way that asking again cannot change (no permission, a bad id).
    #[error("DingTalk refused: {0}")]
    Refused(String),
}

impl From<ApiError> for SourceError {
    fn from(e: ApiError) -> SourceError {
        match e.failure.retry() {
            Retry::Later => SourceError::Failed(e.to_string()),
            Retry::After(after) => SourceError::RateLimited {
                after,
                reason: e.to_string(),
            },
            Retry::Never => SourceError::Refused(e.to_string()),
        }
    }
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
    /// A person as the address book has them now (not a cached copy).
    async fn person(&self, userid: &str) -> Result<Employee, SourceError>;
    /// Every department of the organisation, as it is now.
    async fn departments(&self) -> Result<Vec<Department>, SourceError>;
}

/// The real source: DingTalk's OpenAPI.
#[async_trait]
impl DingTalkSource for OpenApiClient {
    async fn approval(&self, process_instance_id: &str) -> Result<ApprovalDetail, SourceError> {
        let instance = self.process_instance(process_instance_id).await?;
        Ok(ApprovalDetail {
            title: instance.title,
            status: instance.status,
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
            .await?;
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

    async fn person(&self, userid: &str) -> Result<Employee, SourceError> {
        Ok(crate::org::employee_from(self.fresh_user(userid).await?))
    }

    async fn departments(&self) -> Result<Vec<Department>, SourceError> {
        self.forget_directory();
        Ok(crate::org::department_tree(self).await?)
    }
}
