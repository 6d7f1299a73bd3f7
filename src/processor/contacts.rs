//! Changes to the address book, followed as they happen: a person who joined or changed is
//! read again from DingTalk, one who left is marked so (their entries stay theirs), and
//! departments are read again or marked removed. The leaderboards follow at once.

use jiff::Timestamp;

use super::failure::Failure;
use super::{Processor, RowOutcome};
use crate::dingtalk::events::{ContactKind, contact_change};
use crate::store::InboxRow;

impl Processor {
    /// Applies one contact event and completes its row.
    pub(super) async fn follow_contacts(&self, row: &InboxRow) -> Result<RowOutcome, Failure> {
        let change = contact_change(&row.payload).map_err(Failure::Permanent)?;
        let count = change.ids.len();
        let now = Timestamp::now();
        let note = match change.kind {
            ContactKind::PersonChanged => {
                let mut unknown = Vec::new();
                for userid in &change.ids {
                    match self.add_person(userid).await {
                        Ok(()) => {}
                        // Gone again before we asked: the leave event says so.
                        Err(Failure::Permanent(_)) => unknown.push(userid.as_str()),
                        Err(e) => return Err(e),
                    }
                }
                match unknown.as_slice() {
                    [] => format!("{count} people read from DingTalk"),
                    gone => format!(
                        "{} people read from DingTalk; DingTalk no longer knows {}",
                        count - gone.len(),
                        gone.join(", ")
                    ),
                }
            }
            ContactKind::DepartmentChanged => {
                let departments = self.source.departments().await?;
                let mut tx = self.store.begin().await?;
                for department in &departments {
                    tx.upsert_department(department).await?;
                }
                tx.commit().await?;
                format!("{} departments read from DingTalk", departments.len())
            }
            ContactKind::PersonLeft | ContactKind::DepartmentRemoved => {
                let mut tx = self.store.begin().await?;
                let mut changed = 0;
                for id in &change.ids {
                    let done = if change.kind == ContactKind::PersonLeft {
                        tx.mark_left(id, now).await?
                    } else {
                        tx.remove_department(id, now).await?
                    };
                    changed += usize::from(done);
                }
                tx.commit().await?;
                if change.kind == ContactKind::PersonLeft {
                    format!("{changed} of {count} people marked as left")
                } else {
                    format!("{changed} of {count} departments marked as removed")
                }
            }
        };
        self.directory_changed().await;
        let mut tx = self.store.begin().await?;
        if !tx.complete_inbox(row.id, Some(&note), now).await? {
            return Ok(RowOutcome::Skipped(
                "claimed again by another worker".into(),
            ));
        }
        tx.commit().await?;
        Ok(RowOutcome::Skipped(note))
    }
}
