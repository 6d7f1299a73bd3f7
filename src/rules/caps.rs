//! Caps per person per period: "at most 22 points a month from on-time check-ins". Pure: the
//! ledger tells us what the person already has in each period; we say how much more fits.

use serde::Serialize;

use crate::domain::Explanation;
use crate::domain::PeriodKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CapLimit {
    pub period: PeriodKind,
    /// Largest absolute total the rule may give one person in one period.
    pub limit: i64,
}

/// One cap and what the rule has already given the person in the period it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapCheck {
    pub cap: CapLimit,
    /// Signed sum of the rule's points for the person so far in the period.
    pub used: i64,
}

/// How many of `points` fit under every cap, and the cap that cut them, if any.
pub fn apply_caps(points: i64, checks: &[CapCheck]) -> (i64, Option<CapCheck>) {
    let sign = points.signum();
    let wanted = points.abs();
    let mut allowed = wanted;
    let mut cut_by = None;
    for check in checks {
        // A deduction rule's cap limits deductions; awards of the opposite sign don't use it up.
        let used_same_way = (check.used * sign).max(0);
        let room = (check.cap.limit - used_same_way).max(0);
        if room < allowed {
            allowed = room;
            cut_by = Some(check.clone());
        }
    }
    (sign * allowed, cut_by)
}

/// The words added to an explanation when a cap cut an award of `wanted` points.
pub(crate) fn cap_note(wanted: i64, check: &CapCheck) -> Explanation {
    let CapCheck { cap, used } = check;
    let (limit, period, used) = (cap.limit, cap.period, used.abs());
    if used >= limit {
        Explanation {
            zh: format!("；已达{}上限 {limit}，本次不计分", period.name_zh()),
            en: format!("; {period} cap of {limit} reached, no points this time"),
        }
    } else {
        Explanation {
            zh: format!(
                "；{}上限 {limit}，已计 {used}，原应 {wanted:+}",
                period.name_zh()
            ),
            en: format!(
                "; {period} cap of {limit} with {used} already counted, {wanted:+} before the cap"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(period: PeriodKind, limit: i64, used: i64) -> CapCheck {
        CapCheck {
            cap: CapLimit { period, limit },
            used,
        }
    }

    #[test]
    fn caps_cut_points_to_what_fits() {
        use PeriodKind::*;
        // (points, checks, expected points, index of the cutting check)
        let cases: Vec<(i64, Vec<CapCheck>, i64, Option<usize>)> = vec![
            (5, vec![], 5, None),
            (5, vec![check(Day, 10, 0)], 5, None),
            (5, vec![check(Day, 10, 7)], 3, Some(0)),
            (5, vec![check(Day, 10, 10)], 0, Some(0)),
            (5, vec![check(Day, 10, 12)], 0, Some(0)),
            // The tighter of two caps wins.
            (5, vec![check(Day, 10, 0), check(Month, 22, 20)], 2, Some(1)),
            // Deductions count against a deduction cap by their size.
            (-3, vec![check(Month, 10, -8)], -2, Some(0)),
            // Earlier awards don't use up a deduction cap.
            (-3, vec![check(Month, 10, 15)], -3, None),
            (0, vec![check(Day, 10, 10)], 0, None),
        ];
        for (points, checks, want, cut) in cases {
            let (got, cut_by) = apply_caps(points, &checks);
            assert_eq!(got, want, "{points} under {checks:?}");
            assert_eq!(
                cut_by,
                cut.map(|i| checks[i].clone()),
                "{points} under {checks:?}"
            );
        }
    }

    #[test]
    fn cap_note_says_which_cap_and_how_much_was_left() {
        let note = cap_note(5, &check(PeriodKind::Month, 22, 20));
        assert_eq!(note.zh, "；本月上限 22，已计 20，原应 +5");
        assert_eq!(
            note.en,
            "; month cap of 22 with 20 already counted, +5 before the cap"
        );
        let note = cap_note(1, &check(PeriodKind::Day, 1, 1));
        assert_eq!(note.en, "; day cap of 1 reached, no points this time");
    }
}
