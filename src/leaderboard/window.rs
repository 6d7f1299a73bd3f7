//! Which stretch of time a leaderboard covers: a window (week, month, quarter, year, all time)
//! and one period of it, named the way people ask for it (`previous`, `2026-10`, `2026-Q4`, a
//! date). Pure: resolving needs only the organisation's calendar and the time.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::domain::Calendar;
use crate::domain::calendar::{CalendarError, Period, PeriodKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Week,
    Month,
    Quarter,
    Year,
    All,
}

impl Window {
    pub const PERIODIC: [Window; 4] = [Window::Week, Window::Month, Window::Quarter, Window::Year];
    /// Every window, shortest first, as the pages offer them.
    pub const ALL_WINDOWS: [Window; 5] = [
        Window::Week,
        Window::Month,
        Window::Quarter,
        Window::Year,
        Window::All,
    ];

    pub fn kind(self) -> Option<PeriodKind> {
        match self {
            Window::Week => Some(PeriodKind::Week),
            Window::Month => Some(PeriodKind::Month),
            Window::Quarter => Some(PeriodKind::Quarter),
            Window::Year => Some(PeriodKind::Year),
            Window::All => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self.kind() {
            Some(kind) => kind.name(),
            None => "all",
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("unknown window {0:?}: expected week, month, quarter, year or all")]
    UnknownWindow(String),
    #[error(
        "cannot read period {given:?} for a {window} board: expected current, previous, a date such as 2026-10-08{forms}"
    )]
    UnknownPeriod {
        given: String,
        window: Window,
        forms: &'static str,
    },
    #[error("the all-time board has no periods; leave out period=")]
    AllTimeHasNoPeriod,
    #[error("period out of range: {0}")]
    OutOfRange(String),
}

impl From<CalendarError> for WindowError {
    fn from(e: CalendarError) -> Self {
        WindowError::OutOfRange(e.to_string())
    }
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "week" => Window::Week,
            "month" => Window::Month,
            "quarter" => Window::Quarter,
            "year" => Window::Year,
            "all" => Window::All,
            _ => return Err(WindowError::UnknownWindow(s.to_string())),
        })
    }
}

/// The period of `window` that `spec` names at `now`; `None` for the all-time board.
/// Without a spec, the current period.
pub fn resolve(
    calendar: &Calendar,
    window: Window,
    spec: Option<&str>,
    now: Timestamp,
) -> Result<Option<Period>, WindowError> {
    let Some(kind) = window.kind() else {
        return match spec.map(str::trim) {
            None | Some("") | Some("current") => Ok(None),
            Some(_) => Err(WindowError::AllTimeHasNoPeriod),
        };
    };
    let current = calendar.period_containing(kind, now)?;
    let spec = spec.map(str::trim).unwrap_or("current");
    let period = match spec {
        "" | "current" => current,
        "previous" => previous(calendar, &current)?,
        _ => calendar.period_of(kind, first_day(kind, spec, window)?)?,
    };
    Ok(Some(period))
}

/// The period just before `period`.
pub fn previous(calendar: &Calendar, period: &Period) -> Result<Period, CalendarError> {
    calendar.period_containing(period.kind, period.start - SignedDuration::from_millis(1))
}

/// A day in the period `spec` names: a date, or `2026-10`, `2026-Q4`, `2026` by window.
fn first_day(kind: PeriodKind, spec: &str, window: Window) -> Result<Date, WindowError> {
    let unknown = || WindowError::UnknownPeriod {
        given: spec.to_string(),
        window,
        forms: match kind {
            PeriodKind::Month => " or a month such as 2026-10",
            PeriodKind::Quarter => " or a quarter such as 2026-Q4",
            PeriodKind::Year => " or a year such as 2026",
            PeriodKind::Day | PeriodKind::Week => "",
        },
    };
    if let Ok(date) = spec.parse::<Date>() {
        return Ok(date);
    }
    let number = |s: &str| s.parse::<i16>().map_err(|_| unknown());
    let date = match kind {
        PeriodKind::Month => {
            let (year, month) = spec.split_once('-').ok_or_else(unknown)?;
            Date::new(number(year)?, number(month)? as i8, 1)
        }
        PeriodKind::Quarter => {
            let (year, quarter) = spec
                .split_once("-Q")
                .or_else(|| spec.split_once("-q"))
                .ok_or_else(unknown)?;
            let quarter = number(quarter)?;
            if !(1..=4).contains(&quarter) {
                return Err(unknown());
            }
            Date::new(number(year)?, (quarter as i8 - 1) * 3 + 1, 1)
        }
        PeriodKind::Year => Date::new(number(spec)?, 1, 1),
        PeriodKind::Day | PeriodKind::Week => return Err(unknown()),
    };
    date.map_err(|_| unknown())
}

#[cfg(test)]
mod tests {
    use jiff::civil::Weekday;

    use super::*;

    fn calendar() -> Calendar {
        Calendar::new("Asia/Shanghai", Weekday::Monday).unwrap()
    }

    /// Sunday 2026-11-22, 23:30 in Shanghai: still the week of Monday 2026-11-16.
    fn now() -> Timestamp {
        "2026-11-22T15:30:00Z".parse().unwrap()
    }

    #[test]
    fn periods_are_named_the_way_people_ask_for_them() {
        let cases = [
            (Window::Week, None, "2026-11-16/week"),
            (Window::Week, Some("previous"), "2026-11-09/week"),
            (Window::Week, Some("2026-11-04"), "2026-11-02/week"),
            (Window::Month, Some("current"), "2026-11"),
            (Window::Month, Some("previous"), "2026-10"),
            (Window::Month, Some("2026-02"), "2026-02"),
            (Window::Month, Some("2026-02-27"), "2026-02"),
            (Window::Quarter, None, "2026-Q4"),
            (Window::Quarter, Some("previous"), "2026-Q3"),
            (Window::Quarter, Some("2025-Q1"), "2025-Q1"),
            (Window::Year, Some("previous"), "2025"),
            (Window::Year, Some("2024"), "2024"),
        ];
        for (window, spec, label) in cases {
            let period = resolve(&calendar(), window, spec, now()).unwrap().unwrap();
            assert_eq!(period.label(), label, "{window} {spec:?}");
        }
        assert_eq!(resolve(&calendar(), Window::All, None, now()), Ok(None));
    }

    #[test]
    fn unreadable_periods_are_refused_with_the_forms_that_work() {
        let cases = [
            (Window::Week, "2026-W47"),
            (Window::Month, "2026-13"),
            (Window::Month, "last"),
            (Window::Quarter, "2026-Q5"),
            (Window::Quarter, "2026-10"),
            (Window::Year, "twenty"),
        ];
        for (window, spec) in cases {
            let error = resolve(&calendar(), window, Some(spec), now()).unwrap_err();
            assert!(
                error.to_string().contains("expected current, previous"),
                "{window} {spec}: {error}"
            );
        }
        assert_eq!(
            resolve(&calendar(), Window::All, Some("2026"), now()),
            Err(WindowError::AllTimeHasNoPeriod)
        );
        assert!("fortnight".parse::<Window>().is_err());
        assert_eq!("Month".parse::<Window>(), Ok(Window::Month));
    }
}
