//! What points buy: the rewards catalogue HR keeps, and redemptions, which hold a reward's
//! cost from the balance at once and then end fulfilled, or refunded by a compensating entry.
//! The steps a redemption may take are decided here, purely.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::calendar::PeriodKind;

/// The category of the entries that hold and refund points for redemptions: no rule makes
/// them, and only the redemption's own steps reverse them.
pub const REDEMPTION_CATEGORY: &str = "redemption";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reward {
    /// Stable identifier, typed in `兑换 <id>` and kept on redemptions.
    pub id: String,
    pub name: String,
    pub name_en: String,
    pub description: String,
    /// Balance points one costs.
    pub cost: i64,
    /// How many can be redeemed in all (refunded ones come back); `None` for no limit.
    pub stock: Option<i64>,
    /// How many one person may redeem in a period.
    pub limit: Option<PersonLimit>,
    /// Department ids (with their sub-departments) whose people may redeem it; empty for all.
    pub departments: Vec<String>,
    /// First and last local dates it can be redeemed on, both inclusive.
    pub available_from: Option<Date>,
    pub available_until: Option<Date>,
    /// Whether an HR admin approves each redemption; without, it is approved at once.
    pub review: bool,
    /// Line of its `[[reward]]` header in the catalogue file.
    #[serde(skip)]
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PersonLimit {
    pub count: i64,
    pub period: PeriodKind,
}

impl Reward {
    pub fn name(&self, lang: super::Lang) -> &str {
        match lang {
            super::Lang::Zh => &self.name,
            super::Lang::En => &self.name_en,
        }
    }

    /// How many are left when `out` are held, approved or handed over; `None` without a
    /// stock.
    pub fn left(&self, out: i64) -> Option<i64> {
        self.stock.map(|stock| (stock - out).max(0))
    }

    /// Whether it can be redeemed on local date `day`.
    pub fn available_on(&self, day: Date) -> bool {
        self.available_from.is_none_or(|from| day >= from)
            && self.available_until.is_none_or(|until| day <= until)
    }
}

/// The shipped 积分兑换 approval form's process code, and the label of its field that
/// names the reward.
pub const REDEMPTION_FORM: &str = "PROC-JIFEN-REDEEM";
pub const REDEMPTION_FIELD: &str = "奖品";

/// The rewards on offer, in the catalogue file's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    pub rewards: Vec<Reward>,
}

impl Catalogue {
    pub fn get(&self, id: &str) -> Option<&Reward> {
        self.rewards.iter().find(|r| r.id == id)
    }

    /// The reward a person named on a form: by its id, or by its name in either language,
    /// since a form's select field shows names.
    pub fn named(&self, text: &str) -> Option<&Reward> {
        let text = text.trim();
        self.get(text).or_else(|| {
            self.rewards
                .iter()
                .find(|r| r.name == text || r.name_en == text)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedemptionStatus {
    /// The cost is held from the balance; waiting for HR.
    Held,
    /// HR agreed; waiting to be handed over.
    Approved,
    Fulfilled,
    /// Refused by HR; the cost was refunded.
    Rejected,
    /// Withdrawn by the person; the cost was refunded.
    Cancelled,
}

impl RedemptionStatus {
    pub const ALL: [RedemptionStatus; 5] = [
        RedemptionStatus::Held,
        RedemptionStatus::Approved,
        RedemptionStatus::Fulfilled,
        RedemptionStatus::Rejected,
        RedemptionStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RedemptionStatus::Held => "held",
            RedemptionStatus::Approved => "approved",
            RedemptionStatus::Fulfilled => "fulfilled",
            RedemptionStatus::Rejected => "rejected",
            RedemptionStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RedemptionStatus> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            RedemptionStatus::Held => "待审批",
            RedemptionStatus::Approved => "待发放",
            RedemptionStatus::Fulfilled => "已发放",
            RedemptionStatus::Rejected => "已驳回",
            RedemptionStatus::Cancelled => "已取消",
        }
    }
}

/// What a person asks of a redemption after it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedemptionStep {
    /// HR agrees.
    Approve,
    /// HR hands it over (approving it too, if it was still held).
    Fulfil,
    /// HR refuses it: refunded.
    Reject,
    /// The person withdraws it before it is handed over: refunded.
    Cancel,
}

impl RedemptionStep {
    pub fn verb(self) -> &'static str {
        match self {
            RedemptionStep::Approve => "approve",
            RedemptionStep::Fulfil => "fulfil",
            RedemptionStep::Reject => "reject",
            RedemptionStep::Cancel => "cancel",
        }
    }

    /// The status after this step from `from`, or `None` when the step is not open from it.
    pub fn from(self, from: RedemptionStatus) -> Option<RedemptionStatus> {
        use RedemptionStatus::*;
        match (self, from) {
            (RedemptionStep::Approve, Held) => Some(Approved),
            (RedemptionStep::Fulfil, Held | Approved) => Some(Fulfilled),
            (RedemptionStep::Reject, Held | Approved) => Some(Rejected),
            (RedemptionStep::Cancel, Held | Approved) => Some(Cancelled),
            _ => None,
        }
    }

    /// Whether this step gives the cost back.
    pub fn refunds(self) -> bool {
        matches!(self, RedemptionStep::Reject | RedemptionStep::Cancel)
    }
}

/// A redemption as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redemption {
    pub id: i64,
    pub userid: String,
    pub reward_id: String,
    /// The reward's name when it was redeemed, in Chinese and English.
    pub reward_name: String,
    pub reward_name_en: String,
    pub cost: i64,
    pub status: RedemptionStatus,
    /// The entry that took the cost from the balance.
    pub hold_entry: i64,
    /// The entry that gave it back, after a rejection or cancellation.
    pub refund_entry: Option<i64>,
    /// Who took the last step, and what they said (a reason, or how it was handed over).
    pub decided_by: Option<String>,
    pub note: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::RedemptionStatus::*;
    use super::RedemptionStep::{self, *};

    #[test]
    fn a_redemption_moves_only_forward_and_refunds_only_before_it_is_handed_over() {
        let cases: [(RedemptionStep, _, _); 20] = [
            (Approve, Held, Some(Approved)),
            (Approve, Approved, None),
            (Approve, Fulfilled, None),
            (Approve, Rejected, None),
            (Approve, Cancelled, None),
            (Fulfil, Held, Some(Fulfilled)),
            (Fulfil, Approved, Some(Fulfilled)),
            (Fulfil, Fulfilled, None),
            (Fulfil, Rejected, None),
            (Fulfil, Cancelled, None),
            (Reject, Held, Some(Rejected)),
            (Reject, Approved, Some(Rejected)),
            (Reject, Fulfilled, None),
            (Reject, Rejected, None),
            (Reject, Cancelled, None),
            (Cancel, Held, Some(Cancelled)),
            (Cancel, Approved, Some(Cancelled)),
            (Cancel, Fulfilled, None),
            (Cancel, Rejected, None),
            (Cancel, Cancelled, None),
        ];
        for (step, from, to) in cases {
            assert_eq!(step.from(from), to, "{step:?} from {from:?}");
        }
        for status in super::RedemptionStatus::ALL {
            assert_eq!(
                super::RedemptionStatus::parse(status.as_str()),
                Some(status)
            );
        }
    }
}
