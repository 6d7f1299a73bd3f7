//! Keeping jifen's people and departments in step with DingTalk's address book: walk the
//! departments from the root, list each one's members, look each person up, and store the
//! lot in one transaction, so rules with a department scope and bot replies see today's org.

use std::collections::BTreeMap;

use crate::dingtalk::openapi::{ApiError, OpenApiClient, User};
use crate::domain::{Department, Employee};
use crate::store::{Store, StoreError};

/// DingTalk's id for the organisation itself.
const ROOT: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot read the address book: {0}")]
    DingTalk(#[from] ApiError),
    #[error("cannot store the address book: {0}")]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    pub departments: usize,
    pub employees: usize,
}

/// Every department, walking down from the organisation itself.
pub async fn department_tree(client: &OpenApiClient) -> Result<Vec<Department>, ApiError> {
    let mut departments = vec![Department {
        id: ROOT.to_string(),
        name: "全公司".into(),
        parent_id: None,
    }];
    let mut queue = vec![ROOT];
    while let Some(parent) = queue.pop() {
        for d in client.sub_departments(parent).await? {
            queue.push(d.dept_id);
            departments.push(Department {
                id: d.dept_id.to_string(),
                name: d.name,
                parent_id: Some(d.parent_id.unwrap_or(parent).to_string()),
            });
        }
    }
    Ok(departments)
}

/// A person as DingTalk describes them, as jifen keeps them.
pub fn employee_from(user: User) -> Employee {
    Employee {
        departments: user.dept_id_list.iter().map(i64::to_string).collect(),
        leads: user
            .leader_in_dept
            .iter()
            .filter(|d| d.leader)
            .map(|d| d.dept_id.to_string())
            .collect(),
        active: user.active.unwrap_or(true),
        left_at: None,
        hired_at: user
            .hired_date
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
        userid: user.userid,
        name: user.name,
    }
}

/// Reads the whole address book through the OpenAPI.
pub async fn fetch_directory(
    client: &OpenApiClient,
) -> Result<(Vec<Department>, Vec<Employee>), ApiError> {
    let departments = department_tree(client).await?;
    // A person in several departments is listed by each; look them up once.
    let mut employees: BTreeMap<String, Employee> = BTreeMap::new();
    for department in &departments {
        let id: i64 = department.id.parse().unwrap_or(ROOT);
        for userid in client.department_user_ids(id).await? {
            if employees.contains_key(&userid) {
                continue;
            }
            let user = client.user(&userid).await?;
            employees.insert(userid, employee_from(user));
        }
    }
    Ok((departments, employees.into_values().collect()))
}

/// Fetches the address book and stores it; people and departments are created or updated,
/// never deleted (their entries stay theirs).
pub async fn sync_directory(
    client: &OpenApiClient,
    store: &dyn Store,
) -> Result<SyncReport, SyncError> {
    let (departments, employees) = fetch_directory(client).await?;
    let mut tx = store.begin().await?;
    for d in &departments {
        tx.upsert_department(d).await?;
    }
    for e in &employees {
        tx.upsert_employee(e).await?;
    }
    tx.commit().await?;
    Ok(SyncReport {
        departments: departments.len(),
        employees: employees.len(),
    })
}
