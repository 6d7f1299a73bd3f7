//! Changes to the made-up organisation while the emulator runs: people join and leave,
//! departments open and close. The address-book endpoints answer with the organisation as
//! it is now, and each change is announced to jifen as DingTalk's contact event would be,
//! or, when asked, left unannounced (a missed event the daily sync must catch).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use super::Emulator;
use super::gate::lock;
use super::org::{CORP_ID, FakeDepartment, FakeUser};

/// What changed since the organisation was generated.
#[derive(Debug, Default)]
pub(super) struct Staffing {
    hired: Vec<FakeUser>,
    gone: BTreeSet<String>,
    opened: Vec<FakeDepartment>,
    closed: BTreeSet<i64>,
}

/// A change asked for through `POST /_emulator/contacts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactChange {
    Hire {
        userid: String,
        name: String,
        dept: i64,
    },
    Dismiss {
        userid: String,
    },
    OpenDepartment {
        id: i64,
        name: String,
        parent: i64,
    },
    CloseDepartment {
        id: i64,
    },
}

impl Emulator {
    /// A person of the organisation as it is now.
    pub fn user_now(&self, userid: &str) -> Option<FakeUser> {
        let staffing = lock(&self.staffing);
        if staffing.gone.contains(userid) {
            return None;
        }
        staffing
            .hired
            .iter()
            .find(|u| u.userid == userid)
            .cloned()
            .or_else(|| self.org.user(userid).cloned())
    }

    pub fn departments_now(&self) -> Vec<FakeDepartment> {
        let staffing = lock(&self.staffing);
        self.org
            .departments
            .iter()
            .chain(&staffing.opened)
            .filter(|d| !staffing.closed.contains(&d.id))
            .cloned()
            .collect()
    }

    /// Userids by department, for `user/listid`.
    pub fn members_now(&self) -> BTreeMap<i64, Vec<String>> {
        let staffing = lock(&self.staffing);
        let mut map: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for u in self.org.users.iter().chain(&staffing.hired) {
            if !staffing.gone.contains(&u.userid) {
                map.entry(u.dept).or_default().push(u.userid.clone());
            }
        }
        map
    }

    /// Makes a change to the organisation; with `announce`, pushes DingTalk's contact event
    /// for it. Returns whether the event arrived (true when none was sent).
    pub async fn change_contacts(&self, change: ContactChange, announce: bool) -> bool {
        let (event, ids) = {
            let mut staffing = lock(&self.staffing);
            match change {
                ContactChange::Hire { userid, name, dept } => {
                    staffing.gone.remove(&userid);
                    staffing.hired.retain(|u| u.userid != userid);
                    staffing.hired.push(FakeUser {
                        userid: userid.clone(),
                        name,
                        dept,
                        title: "新员工".into(),
                        leader: false,
                        late_percent: 0,
                    });
                    ("user_add_org", json!([userid]))
                }
                ContactChange::Dismiss { userid } => {
                    staffing.gone.insert(userid.clone());
                    ("user_leave_org", json!([userid]))
                }
                ContactChange::OpenDepartment { id, name, parent } => {
                    staffing.closed.remove(&id);
                    staffing.opened.push(FakeDepartment {
                        id,
                        name,
                        parent: Some(parent),
                    });
                    ("org_dept_create", json!([id]))
                }
                ContactChange::CloseDepartment { id } => {
                    staffing.closed.insert(id);
                    ("org_dept_remove", json!([id]))
                }
            }
        };
        if !announce {
            return true;
        }
        let id_key = if event.starts_with("user_") {
            "UserId"
        } else {
            "DeptId"
        };
        let message = json!({
            "EventType": event,
            "TimeStamp": Timestamp::now().as_millisecond().to_string(),
            id_key: ids,
            "CorpId": CORP_ID,
        });
        self.push(event, &message.to_string()).await
    }
}
