//! People and departments as jifen stores them (synced from DingTalk or imported).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub id: String,
    pub name: String,
    /// `None` for the root department.
    #[serde(default)]
    pub parent_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employee {
    pub userid: String,
    pub name: String,
    /// Departments the person belongs to directly; a DingTalk user may be in several.
    #[serde(default)]
    pub departments: Vec<String>,
    /// Departments the person leads (主管): a manager for bot commands.
    #[serde(default)]
    pub leads: Vec<String>,
    /// Has activated the DingTalk account (DingTalk's `active`); not whether still employed.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// When the person joined (DingTalk's `hired_date`), for "employed for the whole period".
    #[serde(default)]
    pub hired_at: Option<jiff::Timestamp>,
    /// When DingTalk said the person left; `None` while employed. (`active` only says
    /// whether they activated their DingTalk account.)
    #[serde(default)]
    pub left_at: Option<jiff::Timestamp>,
}

impl Employee {
    /// Still with the organisation: ranked, and able to earn.
    pub fn is_employed(&self) -> bool {
        self.left_at.is_none()
    }
}

fn active_by_default() -> bool {
    true
}
