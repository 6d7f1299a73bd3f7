//! Changes asked for outside a chat (the HR console on the employee page): the same roles,
//! budgets, four-eyes checks, ledger operations and audit records as the robot's commands,
//! so the two ways in cannot drift apart.

use jiff::Timestamp;
use serde_json::json;

use super::command::{Change, Command, Lang};
use super::dispatch::{Request, Sender};
use super::roles::{Roles, may_run};
use super::text::{self, Unserved};
use super::{Bot, BotError, Done, Failed, Refusal};
use crate::store::NewAudit;

/// What became of a change: done, with what the robot would have answered, or refused,
/// with why. Either way it is in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    Done(String),
    Refused(String),
}

impl Bot {
    /// Makes `change` for `userid`, in one transaction with its audit record and
    /// notifications. `source` identifies the request (`app:<nonce>`), so one asked for twice
    /// is made once.
    pub async fn act(
        &self,
        userid: &str,
        change: Change,
        source: &str,
        lang: Lang,
        now: Timestamp,
    ) -> Result<Acted, BotError> {
        let Some(me) = self.store.employee(userid).await? else {
            return Ok(Acted::Refused(text::unserved(
                Unserved::NotInDirectory,
                lang,
            )));
        };
        let asked = format!("{change:?}");
        let roles = Roles::of(userid, &self.settings.roles, &me.leads);
        let mut tx = self.store.begin().await?;
        let (acted, subject, result) = match may_run(&roles, &Command::Do(change.clone())) {
            Err(needed) => (
                Acted::Refused(text::refusal(&Refusal::Denied(needed), lang)),
                String::new(),
                "refused",
            ),
            Ok(()) => {
                let request = Request {
                    sender: Sender {
                        source: source.to_string(),
                        userid,
                        me,
                        roles,
                        lang,
                    },
                    change,
                };
                match self.change(tx.as_mut(), &request, now).await {
                    Ok(Done { answer, subject }) => (Acted::Done(answer), subject, "ok"),
                    Err(Failed::Broken(e)) => return Err(e),
                    Err(Failed::Refused { refusal, subject }) => {
                        // Nothing of the change may stay; the refusal itself is recorded.
                        drop(tx);
                        tx = self.store.begin().await?;
                        (
                            Acted::Refused(text::refusal(&refusal, lang)),
                            subject,
                            "refused",
                        )
                    }
                }
            }
        };
        tx.record_audit(&NewAudit {
            actor: userid.to_string(),
            action: "app_command".into(),
            subject,
            reason: asked,
            detail: json!({ "result": result, "source": source }),
            at: now,
        })
        .await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(acted)
    }
}
