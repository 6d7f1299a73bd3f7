//! The append-only points ledger: posting events through the rules, manual awards,
//! reversals, review decisions, withdrawals, redemptions and appeals. Every operation runs inside one
//! [`StoreTx`], so entries, totals and the audit trail change together or not at all.

mod appeal;
mod challenge;
mod post;
mod recognise;
mod redeem;
mod withdraw;

pub use crate::domain::{Account, Deltas, Entry, EntryKind, NewEntry, Totals};
pub use appeal::{APPEAL_ACTION, Decided, Unappealable, decide_appeal, file_appeal};
pub use challenge::reward_challenge;
pub use post::{
    Decision, EventPosting, ManualPost, Notice, Posting, Reason, RuleResult, post_event,
    post_manual, resolve, reverse,
};
pub use recognise::{
    Allowance, Flow, MutualPair, RECOGNITION_CATEGORY, Recognised, Unrecognised, mutual_pairs,
    recognise,
};
pub use redeem::{Redeem, Redeemed, Stepped, Unredeemable, redeem, step_redemption};
pub use withdraw::withdraw_event;

use crate::domain::calendar::CalendarError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("unknown employee {0:?}: sync the organisation or check the userid")]
    UnknownEmployee(String),
    #[error("no ledger entry #{0}")]
    UnknownEntry(i64),
    #[error("entry #{entry} was already reversed by entry #{by}")]
    AlreadyReversed { entry: i64, by: i64 },
    #[error("entry #{entry} cannot be reversed: {reason}")]
    NotReversible { entry: i64, reason: String },
    #[error("entry #{entry} is not waiting for review: {reason}")]
    NotPending { entry: i64, reason: String },
    #[error("{actor} cannot {action} their own points")]
    OwnPoints { actor: String, action: &'static str },
    #[error("rule {rule_id} cannot be applied to event {source_key}: {error}")]
    RuleFailed {
        rule_id: String,
        source_key: String,
        error: String,
    },
    #[error("{reward} cannot be redeemed: {why}")]
    NotRedeemable { reward: String, why: Unredeemable },
    #[error("only {owner} can cancel redemption #{redemption}; reject it instead")]
    NotTheirs { redemption: i64, owner: String },
    #[error("no redemption #{0}")]
    UnknownRedemption(i64),
    #[error("redemption #{redemption} is {status}: it cannot {step}")]
    StepNotOpen {
        redemption: i64,
        step: &'static str,
        status: &'static str,
    },
    #[error("entry #{entry} cannot be appealed: {why}")]
    NotAppealable { entry: i64, why: Unappealable },
    #[error("{why}")]
    NotRecognised { why: Unrecognised },
    #[error("no appeal #{0}")]
    UnknownAppeal(i64),
    #[error("appeal #{appeal} is {status}: it was decided already")]
    AppealDecided { appeal: i64, status: &'static str },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
