//! Missed check-ins (缺卡). DingTalk sends no callback for a check nobody made, so they come
//! from its attendance results: the daily reconcile posts the previous day's, month close the
//! whole month's (a day the reconcile never saw). A check an approval covers (leave) is not
//! missed. Keyed like a check-in, so each is posted once whoever finds it.

use jiff::Timestamp;

use crate::dingtalk::openapi::{AttendanceRecord, Check};
use crate::domain::event::CheckResult;
use crate::domain::{Calendar, DomainEvent};
use crate::ledger::LedgerError;
use crate::rules::RuleSet;
use crate::store::Store;

/// The `attendance.checked` event of a missed check, or `None` for one made or excused.
pub fn missed_check_in(record: &AttendanceRecord, calendar: &Calendar) -> Option<DomainEvent> {
    if record.check() != Check::Missed {
        return None;
    }
    let due = Timestamp::from_millisecond(record.base_check_time).ok()?;
    let checked = CheckResult {
        userid: &record.user_id,
        work_date: calendar.local_date(due),
        check_type: &record.check_type,
        result: "missing",
        minutes_late: 0,
        at: due,
    };
    Some(checked.event())
}

/// Posts the missed check-ins among `records` through the rules, with their notifications;
/// returns how many entries were new.
pub async fn post_missed_check_ins(
    store: &dyn Store,
    rules: &RuleSet,
    calendar: &Calendar,
    records: &[AttendanceRecord],
    now: Timestamp,
) -> Result<usize, LedgerError> {
    let events: Vec<DomainEvent> = records
        .iter()
        .filter_map(|r| missed_check_in(r, calendar))
        .collect();
    super::post_in_batches(store, rules, calendar, &events, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(time_result: &str, user_check_time: i64, leave: Option<&str>) -> AttendanceRecord {
        AttendanceRecord {
            user_id: "zhangwei".into(),
            work_date: 1_791_388_800_000,
            check_type: "OnDuty".into(),
            time_result: time_result.into(),
            location_result: String::new(),
            // Thursday 8 Oct 2026, 09:00 in Shanghai.
            base_check_time: 1_791_421_200_000,
            user_check_time,
            source_type: String::new(),
            approve_id: leave.map(|_| 5_123_456_789),
            proc_inst_id: leave.map(str::to_string),
        }
    }

    #[test]
    fn only_a_check_nobody_made_and_no_approval_covers_is_missed() {
        let base = 1_791_421_200_000;
        let cases = [
            (
                record("Normal", base - 480_000, None),
                Check::Made { at: base - 480_000 },
            ),
            (
                record("Late", base + 600_000, None),
                Check::Made { at: base + 600_000 },
            ),
            (
                record("SeriousLate", base + 2_820_000, None),
                Check::Made {
                    at: base + 2_820_000,
                },
            ),
            (record("NotSigned", base, None), Check::Missed),
            (record("NotSigned", 0, None), Check::Missed),
            (
                record("NotSigned", base, Some("PROC-LEAVE-1")),
                Check::Excused,
            ),
        ];
        for (record, check) in cases {
            assert_eq!(record.check(), check, "{record:?}");
        }
    }

    #[test]
    fn a_missed_check_is_keyed_like_the_check_in_it_stands_for() {
        let calendar = Calendar::new("Asia/Shanghai", jiff::civil::Weekday::Monday).unwrap();
        let event = missed_check_in(&record("NotSigned", 0, None), &calendar).unwrap();
        assert_eq!(event.source_key, "att:zhangwei:2026-10-08:OnDuty");
        assert_eq!(event.data["result"], "missing");
        assert_eq!(event.occurred_at.as_millisecond(), 1_791_421_200_000);
        let on_leave = record("NotSigned", 0, Some("PROC-LEAVE-1"));
        assert_eq!(missed_check_in(&on_leave, &calendar), None);
        assert_eq!(
            missed_check_in(&record("Late", 1_791_421_800_000, None), &calendar),
            None
        );
    }
}
