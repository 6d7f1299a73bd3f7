//! When jobs run: cron expressions read in the organisation's time zone. A slot is named by
//! its local time (`2026-11-23T06:30:00`), so it means the same on every replica and survives
//! restarts. Pure: the clock is a parameter.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use jiff::Timestamp;
use jiff::civil::DateTime as CivilDateTime;
use jiff::tz::TimeZone;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "{expression:?} is not a cron expression ({reason}); use sec min hour day month weekday, e.g. \"0 30 6 * * *\" or \"0 0 9 * * Mon\""
    )]
    Invalid { expression: String, reason: String },
    #[error("{0:?} never fires")]
    Never(String),
}

#[derive(Debug, Clone)]
pub struct JobSchedule {
    expression: String,
    cron: cron::Schedule,
}

impl JobSchedule {
    /// Six or seven fields (seconds first, the `cron` crate's form), or the classic five
    /// (minutes first). Weekdays are best written by name: Mon, Tue… or Mon-Fri.
    pub fn parse(expression: &str) -> Result<JobSchedule, ScheduleError> {
        let trimmed = expression.split_whitespace().collect::<Vec<_>>().join(" ");
        let full = match trimmed.split(' ').count() {
            5 => format!("0 {trimmed}"),
            _ => trimmed,
        };
        let cron = cron::Schedule::from_str(&full).map_err(|e| ScheduleError::Invalid {
            expression: expression.to_string(),
            reason: e.to_string(),
        })?;
        if cron.after(&far_past()).next().is_none() {
            return Err(ScheduleError::Never(expression.to_string()));
        }
        Ok(JobSchedule {
            expression: expression.to_string(),
            cron,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The latest slot at or before `now`, in `tz`.
    pub fn last_slot(&self, now: Timestamp, tz: &TimeZone) -> Option<CivilDateTime> {
        // Cron arithmetic runs on local wall-clock time written as if it were UTC, so that
        // a slot is "06:30 in the organisation" whatever the offset or DST does.
        let local = wall_clock(now, tz) + chrono::Duration::seconds(1);
        let slot = self.cron.after(&local).next_back()?;
        Some(civil(slot))
    }

    /// The first slot after `now`, in `tz`.
    pub fn next_slot(&self, now: Timestamp, tz: &TimeZone) -> Option<CivilDateTime> {
        let slot = self.cron.after(&wall_clock(now, tz)).next()?;
        Some(civil(slot))
    }
}

fn far_past() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default()
}

fn wall_clock(now: Timestamp, tz: &TimeZone) -> DateTime<Utc> {
    let local = now.to_zoned(tz.clone()).datetime();
    let naive = NaiveDate::from_ymd_opt(
        i32::from(local.year()),
        local.month() as u32,
        local.day() as u32,
    )
    .and_then(|d| {
        d.and_hms_opt(
            local.hour() as u32,
            local.minute() as u32,
            local.second() as u32,
        )
    })
    .unwrap_or_default();
    DateTime::from_naive_utc_and_offset(naive, Utc)
}

fn civil(slot: DateTime<Utc>) -> CivilDateTime {
    let t = slot.naive_utc();
    // cron only yields real calendar times, which jiff accepts.
    CivilDateTime::new(
        t.year() as i16,
        t.month() as i8,
        t.day() as i8,
        t.hour() as i8,
        t.minute() as i8,
        t.second() as i8,
        0,
    )
    .unwrap_or_default()
}

/// The instant a slot names, in `tz` (a slot in a DST gap moves to the next valid time).
pub fn slot_instant(slot: CivilDateTime, tz: &TimeZone) -> Option<Timestamp> {
    slot.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn slots_are_local_times_in_the_organisations_zone() {
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        let new_york = TimeZone::get("America/New_York").unwrap();
        let daily = JobSchedule::parse("0 30 6 * * *").unwrap();
        let monday = JobSchedule::parse("0 9 * * Mon").unwrap();
        let cases: Vec<(&JobSchedule, &str, &TimeZone, &str, &str)> = vec![
            // 2026-11-22T23:00Z is 07:00 on the 23rd in Shanghai.
            (
                &daily,
                "2026-11-22T23:00:00Z",
                &shanghai,
                "2026-11-23T06:30:00",
                "2026-11-24T06:30:00",
            ),
            // Exactly on the slot: it is the last one.
            (
                &daily,
                "2026-11-22T22:30:00Z",
                &shanghai,
                "2026-11-23T06:30:00",
                "2026-11-24T06:30:00",
            ),
            (
                &daily,
                "2026-11-22T22:29:59Z",
                &shanghai,
                "2026-11-22T06:30:00",
                "2026-11-23T06:30:00",
            ),
            // Five fields: minutes first. Sunday 2026-11-22 20:00 in Shanghai.
            (
                &monday,
                "2026-11-22T12:00:00Z",
                &shanghai,
                "2026-11-16T09:00:00",
                "2026-11-23T09:00:00",
            ),
            // New York, across the end of DST (2026-11-01): still 06:30 local.
            (
                &daily,
                "2026-11-02T12:00:00Z",
                &new_york,
                "2026-11-02T06:30:00",
                "2026-11-03T06:30:00",
            ),
        ];
        for (schedule, now, tz, last, next) in cases {
            assert_eq!(
                schedule.last_slot(at(now), tz).unwrap().to_string(),
                last,
                "{} at {now}",
                schedule.expression()
            );
            assert_eq!(schedule.next_slot(at(now), tz).unwrap().to_string(), next);
        }
        let slot: CivilDateTime = "2026-11-23T06:30:00".parse().unwrap();
        assert_eq!(
            slot_instant(slot, &shanghai).unwrap(),
            at("2026-11-22T22:30:00Z")
        );
    }

    #[test]
    fn bad_expressions_are_refused_with_an_example() {
        for bad in [
            "",
            "every day",
            "0 61 * * * *",
            "0 0 9 * * Funday",
            "0 0 0 30 Feb * 2027",
        ] {
            let err = JobSchedule::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
