//! Appeals (申诉): a person contests one of their own deductions, once, within a window;
//! an HR admin other than whoever made it decides. Upheld, a compensating entry gives back
//! all or part of it and points at the appealed entry; rejected, the reason is kept.

use jiff::Timestamp;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppealStatus {
    Open,
    Upheld,
    Rejected,
}

impl AppealStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppealStatus::Open => "open",
            AppealStatus::Upheld => "upheld",
            AppealStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<AppealStatus> {
        [
            AppealStatus::Open,
            AppealStatus::Upheld,
            AppealStatus::Rejected,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            AppealStatus::Open => "待处理",
            AppealStatus::Upheld => "申诉成立",
            AppealStatus::Rejected => "申诉驳回",
        }
    }
}

/// An appeal as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appeal {
    pub id: i64,
    /// The appealed entry; one appeal per entry.
    pub entry_id: i64,
    pub userid: String,
    pub reason: String,
    pub status: AppealStatus,
    pub decided_by: Option<String>,
    /// Why it was rejected, or what HR said upholding it.
    pub decision_note: Option<String>,
    /// The entry that gave points back, when upheld.
    pub compensation_entry: Option<i64>,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

/// What an HR admin decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "decision")]
pub enum Verdict {
    /// Gives back `points` of the deduction; all of it when `None`.
    Uphold {
        points: Option<i64>,
    },
    Reject,
}

impl Verdict {
    pub fn verb(self) -> &'static str {
        match self {
            Verdict::Uphold { .. } => "uphold",
            Verdict::Reject => "reject",
        }
    }
}

/// How many points an upheld appeal gives back of a deduction of `deducted` (> 0) points:
/// all of it, or the part asked for, which must be between 1 and all of it.
pub fn compensation(deducted: i64, asked: Option<i64>) -> Result<i64, i64> {
    match asked {
        None => Ok(deducted),
        Some(points) if (1..=deducted).contains(&points) => Ok(points),
        Some(points) => Err(points),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_upheld_appeal_gives_back_all_or_part_of_the_deduction_never_more() {
        let cases = [
            (5, None, Ok(5)),
            (5, Some(5), Ok(5)),
            (5, Some(2), Ok(2)),
            (5, Some(1), Ok(1)),
            (5, Some(6), Err(6)),
            (5, Some(0), Err(0)),
            (5, Some(-2), Err(-2)),
        ];
        for (deducted, asked, want) in cases {
            assert_eq!(
                super::compensation(deducted, asked),
                want,
                "{deducted} {asked:?}"
            );
        }
    }
}
