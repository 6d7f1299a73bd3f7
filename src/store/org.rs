//! People and departments as last read from DingTalk's address book, with everyone's
//! memberships and the departments they lead.

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::Timestamp;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, SqlTx, sql};
use super::rows::millis;
use crate::domain::{Department, Employee};

/// Everyone and every department, as stored.
#[derive(Debug, Clone, Default)]
pub struct DirectorySnapshot {
    pub people: Vec<Employee>,
    pub departments: Vec<Department>,
}

#[async_trait]
pub trait OrgStore: Send + Sync {
    async fn employee(&self, userid: &str) -> Result<Option<Employee>, StoreError>;
    async fn department(&self, id: &str) -> Result<Option<Department>, StoreError>;
    /// Every person's name, by userid.
    async fn employee_names(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Every person with their departments, and every department.
    async fn directory(&self) -> Result<DirectorySnapshot, StoreError>;
    /// The person's departments and all their ancestors (what a scope is checked against).
    async fn departments_with_ancestors(&self, userid: &str) -> Result<Vec<String>, StoreError>;
    /// People in userid order after `after` ("" for the first page), with their
    /// departments, for paging through a company.
    async fn employees_after(&self, after: &str, limit: i64) -> Result<Vec<Employee>, StoreError>;
}

/// Every known person's userid (the people jobs ask DingTalk about).
pub async fn userids(store: &dyn OrgStore) -> Result<Vec<String>, StoreError> {
    Ok(store
        .employee_names()
        .await?
        .into_iter()
        .map(|(userid, _)| userid)
        .collect())
}

/// A person's departments and all their ancestors, by id.
const DEPARTMENTS_OF: &str = "WITH RECURSIVE up(id) AS ( \
     SELECT department_id FROM department_members WHERE userid = $1 \
     UNION \
     SELECT d.parent_id FROM departments d JOIN up ON d.id = up.id \
     WHERE d.parent_id IS NOT NULL \
     ) SELECT id FROM up ORDER BY id";

/// The organisation, inside a write transaction.
#[async_trait]
pub trait OrgTx: Send {
    async fn upsert_department(&mut self, department: &Department) -> Result<(), StoreError>;
    /// Creates or updates the person (as employed: DingTalk lists them), replaces their
    /// memberships, and opens their account.
    async fn upsert_employee(&mut self, employee: &Employee) -> Result<(), StoreError>;
    /// The person's departments and all their ancestors.
    async fn departments_of(&mut self, userid: &str) -> Result<Vec<String>, StoreError>;
    /// A person's name, for explanations that name who acted.
    async fn employee_name(&mut self, userid: &str) -> Result<Option<String>, StoreError>;
    /// Records that the person left at `at` (once); false for someone unknown or gone already.
    async fn mark_left(&mut self, userid: &str, at: Timestamp) -> Result<bool, StoreError>;
    /// Records that DingTalk removed the department at `at` (once).
    async fn remove_department(&mut self, id: &str, at: Timestamp) -> Result<bool, StoreError>;
}

type PersonRow = (String, String, bool, Option<i64>, Option<i64>);

/// A stored person with their memberships (department, leads it).
fn person(row: PersonRow, memberships: Vec<(String, bool)>) -> Result<Employee, StoreError> {
    let (userid, name, active, hired_at, left_at) = row;
    let time = |what: &str, ms: Option<i64>| {
        ms.map(|ms| millis(ms).ok_or_else(|| StoreError::Corrupt(format!("{userid}: {what}"))))
            .transpose()
    };
    Ok(Employee {
        leads: memberships
            .iter()
            .filter(|(_, leader)| *leader)
            .map(|(d, _)| d.clone())
            .collect(),
        departments: memberships.into_iter().map(|(d, _)| d).collect(),
        hired_at: time("hired_at", hired_at)?,
        left_at: time("left_at", left_at)?,
        userid,
        name,
        active,
    })
}

/// People with their memberships, as (userid, department, leads it) rows.
fn people_with(
    people: Vec<PersonRow>,
    memberships: Vec<(String, String, bool)>,
) -> Result<Vec<Employee>, StoreError> {
    let mut by_person: HashMap<String, Vec<(String, bool)>> = HashMap::new();
    for (userid, department, leader) in memberships {
        by_person
            .entry(userid)
            .or_default()
            .push((department, leader));
    }
    people
        .into_iter()
        .map(|row| {
            let memberships = by_person.remove(&row.0).unwrap_or_default();
            person(row, memberships)
        })
        .collect()
}

fn department((id, name, parent_id): (String, String, Option<String>)) -> Department {
    Department {
        id,
        name,
        parent_id,
    }
}

#[async_trait]
impl<B: SqlBackend> OrgStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn employee(&self, userid: &str) -> Result<Option<Employee>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let row: Option<PersonRow> = B::Db::fetch_optional(
            &mut c,
            sql("SELECT userid, name, active, hired_at, left_at FROM employees WHERE userid = $1")
                .arg(userid),
        )
        .await?;
        let Some(row) = row else { return Ok(None) };
        let memberships = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT department_id, leader FROM department_members WHERE userid = $1 \
                 ORDER BY department_id",
            )
            .arg(userid),
        )
        .await?;
        person(row, memberships).map(Some)
    }

    #[instrument(level = "debug", skip(self))]
    async fn department(&self, id: &str) -> Result<Option<Department>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let row = B::Db::fetch_optional(
            &mut c,
            sql("SELECT id, name, parent_id FROM departments WHERE id = $1").arg(id),
        )
        .await?;
        Ok(row.map(department))
    }

    #[instrument(level = "debug", skip(self))]
    async fn employee_names(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut c = self.reader().acquire().await?;
        Ok(B::Db::fetch_all(
            &mut c,
            sql("SELECT userid, name FROM employees ORDER BY userid"),
        )
        .await?)
    }

    #[instrument(level = "debug", skip(self))]
    async fn departments_with_ancestors(&self, userid: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let ids: Vec<(String,)> = B::Db::fetch_all(&mut c, sql(DEPARTMENTS_OF).arg(userid)).await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    #[instrument(level = "debug", skip(self))]
    async fn employees_after(&self, after: &str, limit: i64) -> Result<Vec<Employee>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let people: Vec<PersonRow> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT userid, name, active, hired_at, left_at FROM employees \
                 WHERE userid > $1 ORDER BY userid LIMIT $2",
            )
            .arg(after)
            .arg(limit),
        )
        .await?;
        let Some(last) = people.last().map(|p| p.0.clone()) else {
            return Ok(Vec::new());
        };
        // The page's memberships in one range read, not one query a person.
        let memberships: Vec<(String, String, bool)> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT userid, department_id, leader FROM department_members \
                 WHERE userid > $1 AND userid <= $2 ORDER BY userid, department_id",
            )
            .arg(after)
            .arg(last.as_str()),
        )
        .await?;
        people_with(people, memberships)
    }

    #[instrument(level = "debug", skip(self))]
    async fn directory(&self) -> Result<DirectorySnapshot, StoreError> {
        let mut c = self.reader().acquire().await?;
        let people: Vec<PersonRow> = B::Db::fetch_all(
            &mut c,
            sql("SELECT userid, name, active, hired_at, left_at FROM employees ORDER BY userid"),
        )
        .await?;
        let memberships: Vec<(String, String, bool)> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT userid, department_id, leader FROM department_members \
                 ORDER BY userid, department_id",
            ),
        )
        .await?;
        let departments: Vec<(String, String, Option<String>)> = B::Db::fetch_all(
            &mut c,
            sql("SELECT id, name, parent_id FROM departments WHERE removed_at IS NULL ORDER BY id"),
        )
        .await?;
        let people = people_with(people, memberships)?;
        Ok(DirectorySnapshot {
            people,
            departments: departments.into_iter().map(department).collect(),
        })
    }
}

#[async_trait]
impl<DB: Dialect> OrgTx for SqlTx<DB> {
    #[instrument(level = "debug", skip_all, fields(id = %d.id))]
    async fn upsert_department(&mut self, d: &Department) -> Result<(), StoreError> {
        DB::execute(
            &mut self.tx,
            sql(
                "INSERT INTO departments (id, name, parent_id, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                 parent_id = excluded.parent_id, updated_at = excluded.updated_at, \
                 removed_at = NULL",
            )
            .arg(d.id.as_str())
            .arg(d.name.as_str())
            .arg(d.parent_id.as_deref())
            .arg(jiff::Timestamp::now().as_millisecond()),
        )
        .await?;
        Ok(())
    }

    #[instrument(level = "debug", skip_all, fields(userid = %e.userid))]
    async fn upsert_employee(&mut self, e: &Employee) -> Result<(), StoreError> {
        let now = jiff::Timestamp::now().as_millisecond();
        let userid = e.userid.as_str();
        DB::execute(
            &mut self.tx,
            sql(
                "INSERT INTO employees (userid, name, active, updated_at, hired_at, left_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (userid) DO UPDATE SET \
                 name = excluded.name, active = excluded.active, \
                 updated_at = excluded.updated_at, hired_at = excluded.hired_at, \
                 left_at = excluded.left_at",
            )
            .arg(userid)
            .arg(e.name.as_str())
            .arg(e.active)
            .arg(now)
            .arg(e.hired_at.map(|t| t.as_millisecond()))
            .arg(e.left_at.map(|t| t.as_millisecond())),
        )
        .await?;
        DB::execute(
            &mut self.tx,
            sql("DELETE FROM department_members WHERE userid = $1").arg(userid),
        )
        .await?;
        for department in &e.departments {
            DB::execute(
                &mut self.tx,
                sql(
                    "INSERT INTO department_members (userid, department_id) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .arg(userid)
                .arg(department.as_str()),
            )
            .await?;
        }
        for department in &e.leads {
            DB::execute(
                &mut self.tx,
                sql(
                    "INSERT INTO department_members (userid, department_id, leader) \
                     VALUES ($1, $2, TRUE) \
                     ON CONFLICT (userid, department_id) DO UPDATE SET leader = TRUE",
                )
                .arg(userid)
                .arg(department.as_str()),
            )
            .await?;
        }
        DB::execute(
            &mut self.tx,
            sql("INSERT INTO accounts (userid, updated_at) VALUES ($1, $2) \
                 ON CONFLICT (userid) DO NOTHING")
            .arg(userid)
            .arg(now),
        )
        .await?;
        Ok(())
    }

    #[instrument(level = "debug", skip(self))]
    async fn departments_of(&mut self, userid: &str) -> Result<Vec<String>, StoreError> {
        let ids: Vec<(String,)> =
            DB::fetch_all(&mut self.tx, sql(DEPARTMENTS_OF).arg(userid)).await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    #[instrument(level = "debug", skip(self))]
    async fn employee_name(&mut self, userid: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = DB::fetch_optional(
            &mut self.tx,
            sql("SELECT name FROM employees WHERE userid = $1").arg(userid),
        )
        .await?;
        Ok(row.map(|(name,)| name))
    }

    #[instrument(level = "debug", skip(self))]
    async fn mark_left(&mut self, userid: &str, at: Timestamp) -> Result<bool, StoreError> {
        let marked = DB::execute(
            &mut self.tx,
            sql("UPDATE employees SET left_at = $2, updated_at = $2 \
                 WHERE userid = $1 AND left_at IS NULL")
            .arg(userid)
            .arg(at.as_millisecond()),
        )
        .await?;
        Ok(marked == 1)
    }

    #[instrument(level = "debug", skip(self))]
    async fn remove_department(&mut self, id: &str, at: Timestamp) -> Result<bool, StoreError> {
        let removed = DB::execute(
            &mut self.tx,
            sql("UPDATE departments SET removed_at = $2, updated_at = $2 \
                 WHERE id = $1 AND removed_at IS NULL")
            .arg(id)
            .arg(at.as_millisecond()),
        )
        .await?;
        Ok(removed == 1)
    }
}
