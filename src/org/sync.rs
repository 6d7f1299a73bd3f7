//! Keeping jifen's people and departments in step with DingTalk's address book: walk the
//! departments from the root, list each one's members, look each person up, and store the
//! lot in one transaction, so rules with a department scope and bot replies see today's org.
//! Whoever is no longer in the address book has left; what changed is reported.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::Timestamp;

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

/// What a full sync found and changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// In the address book now.
    pub departments: usize,
    pub employees: usize,
    /// New to jifen, or back after leaving.
    pub joined: usize,
    /// Another name, department, role or hire date.
    pub changed: usize,
    /// Gone from the address book, so marked as left.
    pub left: usize,
    pub departments_added: usize,
    pub departments_removed: usize,
    /// Leavers not marked because the answer looked wrong (see [`MAX_LEAVING_SHARE`]).
    pub left_unmarked: usize,
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} people in {} departments: {} joined, {} changed, {} left; {} departments added, {} removed",
            self.employees,
            self.departments,
            self.joined,
            self.changed,
            self.left,
            self.departments_added,
            self.departments_removed
        )?;
        if self.left_unmarked > 0 {
            write!(
                f,
                "; {} missing from the address book were NOT marked as left (too many at once: check the app's contact permissions)",
                self.left_unmarked
            )?;
        }
        Ok(())
    }
}

/// A sync in which more than this share of the people employed would leave at once is
/// taken for a bad answer (a permission taken away, a partial address book): nobody is
/// marked as left, and the report says so.
pub const MAX_LEAVING_SHARE: f64 = 0.5;

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

/// Fetches the whole address book, fresh, and stores it: people and departments are created
/// or updated; whoever is no longer in it is marked as left (their entries stay theirs) and
/// departments no longer in it as removed.
pub async fn sync_directory(
    client: &OpenApiClient,
    store: &dyn Store,
) -> Result<SyncReport, SyncError> {
    client.forget_directory();
    let (departments, employees) = fetch_directory(client).await?;
    let before = store.directory().await?;
    let now = Timestamp::now();
    let mut report = compare(&before, &departments, &employees);
    let present: BTreeSet<&str> = employees.iter().map(|e| e.userid.as_str()).collect();
    let leaving: Vec<&Employee> = before
        .people
        .iter()
        .filter(|p| p.is_employed() && !present.contains(p.userid.as_str()))
        .collect();
    let employed = before.people.iter().filter(|p| p.is_employed()).count();
    let too_many = leaving.len() > 10 && leaving.len() as f64 > employed as f64 * MAX_LEAVING_SHARE;
    let mut tx = store.begin().await?;
    for d in &departments {
        tx.upsert_department(d).await?;
    }
    for e in &employees {
        tx.upsert_employee(e).await?;
    }
    if too_many {
        report.left_unmarked = leaving.len();
    } else {
        for person in &leaving {
            report.left += usize::from(tx.mark_left(&person.userid, now).await?);
        }
    }
    let listed: BTreeSet<&str> = departments.iter().map(|d| d.id.as_str()).collect();
    for gone in before
        .departments
        .iter()
        .filter(|d| !listed.contains(d.id.as_str()))
    {
        report.departments_removed += usize::from(tx.remove_department(&gone.id, now).await?);
    }
    tx.commit().await?;
    Ok(report)
}

/// Who joined or changed, and which departments are new, against what was stored.
fn compare(
    before: &crate::store::DirectorySnapshot,
    departments: &[Department],
    employees: &[Employee],
) -> SyncReport {
    let stored: BTreeMap<&str, &Employee> = before
        .people
        .iter()
        .map(|p| (p.userid.as_str(), p))
        .collect();
    let known: BTreeSet<&str> = before.departments.iter().map(|d| d.id.as_str()).collect();
    let mut report = SyncReport {
        departments: departments.len(),
        employees: employees.len(),
        departments_added: departments
            .iter()
            .filter(|d| !known.contains(d.id.as_str()))
            .count(),
        ..SyncReport::default()
    };
    for e in employees {
        match stored.get(e.userid.as_str()) {
            Some(old) if old.is_employed() => report.changed += usize::from(!same_person(old, e)),
            _ => report.joined += 1,
        }
    }
    report
}

fn same_person(a: &Employee, b: &Employee) -> bool {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    a.name == b.name
        && a.active == b.active
        && a.hired_at == b.hired_at
        && sorted(&a.departments) == sorted(&b.departments)
        && sorted(&a.leads) == sorted(&b.leads)
}
