//! Day, week, month, quarter and year boundaries in the organisation's time zone. Caps and
//! leaderboards count "this month" the way the office does: in Asia/Shanghai, not in UTC.

use std::fmt;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl PeriodKind {
    pub const ALL: [PeriodKind; 5] = [
        PeriodKind::Day,
        PeriodKind::Week,
        PeriodKind::Month,
        PeriodKind::Quarter,
        PeriodKind::Year,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PeriodKind::Day => "day",
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Year => "year",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            PeriodKind::Day => "当日",
            PeriodKind::Week => "本周",
            PeriodKind::Month => "本月",
            PeriodKind::Quarter => "本季",
            PeriodKind::Year => "本年",
        }
    }
}

impl fmt::Display for PeriodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A half-open interval `[start, end)` of instants, with the local dates it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub kind: PeriodKind,
    pub first_day: Date,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Period {
    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }

    /// `2026-10-08`, `2026-10-05/week`, `2026-10`, `2026-Q4`, `2026`.
    pub fn label(&self) -> String {
        let d = self.first_day;
        match self.kind {
            PeriodKind::Day => d.to_string(),
            PeriodKind::Week => format!("{d}/week"),
            PeriodKind::Month => format!("{:04}-{:02}", d.year(), d.month()),
            PeriodKind::Quarter => format!("{:04}-Q{}", d.year(), (d.month() - 1) / 3 + 1),
            PeriodKind::Year => format!("{:04}", d.year()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("unknown time zone {name:?}: {source}")]
    UnknownTimeZone { name: String, source: jiff::Error },
    #[error("unknown week day {0:?}: expected monday, tuesday, … or sunday")]
    UnknownWeekday(String),
    #[error("date arithmetic out of range: {0}")]
    OutOfRange(#[from] jiff::Error),
}

/// The organisation's calendar: a time zone and the day its weeks start on.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: TimeZone,
    tz_name: String,
    week_start: Weekday,
}

impl Calendar {
    pub fn new(time_zone: &str, week_start: Weekday) -> Result<Self, CalendarError> {
        let tz = TimeZone::get(time_zone).map_err(|source| CalendarError::UnknownTimeZone {
            name: time_zone.to_string(),
            source,
        })?;
        Ok(Calendar {
            tz,
            tz_name: time_zone.to_string(),
            week_start,
        })
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    pub fn time_zone_name(&self) -> &str {
        &self.tz_name
    }

    pub fn local_date(&self, at: Timestamp) -> Date {
        at.to_zoned(self.tz.clone()).date()
    }

    /// The period of `kind` that contains the instant `at`.
    pub fn period_containing(
        &self,
        kind: PeriodKind,
        at: Timestamp,
    ) -> Result<Period, CalendarError> {
        self.period_of(kind, self.local_date(at))
    }

    /// The period of `kind` that contains the local date `date`.
    pub fn period_of(&self, kind: PeriodKind, date: Date) -> Result<Period, CalendarError> {
        let (first_day, next_first_day) = match kind {
            PeriodKind::Day => (date, date.checked_add(1.day())?),
            PeriodKind::Week => {
                let back = date.weekday().since(self.week_start);
                let first = date.checked_sub(i64::from(back).days())?;
                (first, first.checked_add(1.week())?)
            }
            PeriodKind::Month => {
                let first = date.first_of_month();
                (first, first.checked_add(1.month())?)
            }
            PeriodKind::Quarter => {
                let first = Date::new(date.year(), (date.month() - 1) / 3 * 3 + 1, 1)?;
                (first, first.checked_add(3.months())?)
            }
            PeriodKind::Year => {
                let first = date.first_of_year();
                (first, first.checked_add(1.year())?)
            }
        };
        Ok(Period {
            kind,
            first_day,
            start: self.start_of(first_day)?,
            end: self.start_of(next_first_day)?,
        })
    }

    /// The first instant of a local date; on a day that starts inside a DST gap this is the
    /// first instant that exists.
    fn start_of(&self, date: Date) -> Result<Timestamp, CalendarError> {
        Ok(date.to_zoned(self.tz.clone())?.start_of_day()?.timestamp())
    }
}

pub fn parse_weekday(name: &str) -> Result<Weekday, CalendarError> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" => Weekday::Tuesday,
        "wednesday" | "wed" => Weekday::Wednesday,
        "thursday" | "thu" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        _ => return Err(CalendarError::UnknownWeekday(name.to_string())),
    })
}

/// A calendar month, e.g. 2026-10: what is closed, exported and asked about by month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    first_day: Date,
}

impl Month {
    /// The month of `year`, or `None` when `month` is not 1 to 12 or the year is not
    /// 2000 to 2999 (a typo more often than a plan).
    pub fn new(year: i16, month: i8) -> Option<Month> {
        let first_day = Date::new(year, month, 1).ok()?;
        (2000..=2999).contains(&year).then_some(Month { first_day })
    }

    /// The month a day falls in.
    pub fn of(day: Date) -> Month {
        Month {
            first_day: day.first_of_month(),
        }
    }

    /// `2026-10`, `2026/10` or `2026年10月`.
    pub fn parse(text: &str) -> Option<Month> {
        let text = text.trim().trim_end_matches('月');
        let (year, month) = text
            .split_once('-')
            .or_else(|| text.split_once('/'))
            .or_else(|| text.split_once('年'))?;
        Month::new(year.parse().ok()?, month.parse().ok()?)
    }

    pub fn first_day(self) -> Date {
        self.first_day
    }

    pub fn year(self) -> i16 {
        self.first_day.year()
    }

    pub fn month(self) -> i8 {
        self.first_day.month()
    }
}

impl std::str::FromStr for Month {
    type Err = String;

    fn from_str(s: &str) -> Result<Month, String> {
        Month::parse(s).ok_or_else(|| format!("{s:?} is not a month like 2026-10"))
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

/// What can be closed: a month, a quarter (after its three months) or a year (after its
/// twelve). `2026-10`, `2026-Q4`, `2026`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closable {
    Month(Month),
    Quarter { year: i16, quarter: i8 },
    Year(i16),
}

impl Closable {
    pub fn parse(text: &str) -> Option<Closable> {
        let text = text.trim();
        if let Some((year, q)) = text.split_once("-Q").or_else(|| text.split_once("-q")) {
            let (year, quarter) = (year.parse().ok()?, q.parse().ok()?);
            return ((1..=4).contains(&quarter) && Month::new(year, 1).is_some())
                .then_some(Closable::Quarter { year, quarter });
        }
        if text.len() == 4 {
            let year = text.parse().ok()?;
            return Month::new(year, 1).map(|_| Closable::Year(year));
        }
        Month::parse(text).map(Closable::Month)
    }

    /// Its first day, from which the calendar gives its range.
    pub fn first_day(self) -> Date {
        match self {
            Closable::Month(m) => m.first_day(),
            Closable::Quarter { year, quarter } => {
                Month::new(year, (quarter - 1) * 3 + 1).map_or(Date::MIN, Month::first_day)
            }
            Closable::Year(year) => Month::new(year, 1).map_or(Date::MIN, Month::first_day),
        }
    }

    pub fn kind(self) -> PeriodKind {
        match self {
            Closable::Month(_) => PeriodKind::Month,
            Closable::Quarter { .. } => PeriodKind::Quarter,
            Closable::Year(_) => PeriodKind::Year,
        }
    }

    /// The months that must be closed first (none for a month itself).
    pub fn months(self) -> Vec<Month> {
        let (year, first, count) = match self {
            Closable::Month(_) => return Vec::new(),
            Closable::Quarter { year, quarter } => (year, (quarter - 1) * 3 + 1, 3),
            Closable::Year(year) => (year, 1, 12),
        };
        (first..first + count)
            .filter_map(|m| Month::new(year, m))
            .collect()
    }

    /// The quarter a month ends, and the year December ends: what closing it lets close.
    pub fn ended_by(month: Month) -> Vec<Closable> {
        let mut ended = Vec::new();
        if month.month() % 3 == 0 {
            ended.push(Closable::Quarter {
                year: month.year(),
                quarter: month.month() / 3,
            });
        }
        if month.month() == 12 {
            ended.push(Closable::Year(month.year()));
        }
        ended
    }
}

impl From<Month> for Closable {
    fn from(month: Month) -> Closable {
        Closable::Month(month)
    }
}

impl std::str::FromStr for Closable {
    type Err = String;

    fn from_str(s: &str) -> Result<Closable, String> {
        Closable::parse(s).ok_or_else(|| {
            format!("{s:?} is not a month, quarter or year like 2026-10, 2026-Q4 or 2026")
        })
    }
}

impl fmt::Display for Closable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Closable::Month(m) => m.fmt(f),
            Closable::Quarter { year, quarter } => write!(f, "{year:04}-Q{quarter}"),
            Closable::Year(year) => write!(f, "{year:04}"),
        }
    }
}

/// A std duration as jiff's, saturating (a configured wait of centuries is still a wait).
pub fn signed(d: std::time::Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn months_quarters_and_years_are_read_and_know_the_months_before_them() {
        let cases = [
            ("2026-10", Some("2026-10"), 0),
            ("2026-Q4", Some("2026-Q4"), 3),
            ("2026-q1", Some("2026-Q1"), 3),
            ("2026", Some("2026"), 12),
            ("2026-Q5", None, 0),
            ("2026-Q0", None, 0),
            ("1999", None, 0),
            ("26", None, 0),
            ("Q4", None, 0),
        ];
        for (text, shown, months) in cases {
            let parsed = Closable::parse(text);
            assert_eq!(parsed.map(|p| p.to_string()).as_deref(), shown, "{text}");
            if let Some(p) = parsed {
                assert_eq!(p.months().len(), months, "{text}");
            }
        }
        let q4 = Closable::parse("2026-Q4").unwrap();
        assert_eq!(q4.first_day(), Date::constant(2026, 10, 1));
        assert_eq!(q4.months()[2].to_string(), "2026-12");
        let ended = |m| Closable::ended_by(Month::new(2026, m).unwrap());
        assert_eq!(ended(11), vec![]);
        assert_eq!(
            ended(9),
            vec![Closable::Quarter {
                year: 2026,
                quarter: 3
            }]
        );
        assert_eq!(
            ended(12),
            vec![
                Closable::Quarter {
                    year: 2026,
                    quarter: 4
                },
                Closable::Year(2026)
            ]
        );
    }

    #[test]
    fn periods_follow_the_local_calendar() {
        // (time zone, week start, instant, kind, expected label, expected start, expected end)
        let cases = [
            // 00:30 Shanghai on 1 Nov is still 31 Oct in UTC: the month is November.
            (
                "Asia/Shanghai",
                Weekday::Monday,
                "2026-10-31T16:30:00Z",
                PeriodKind::Month,
                "2026-11",
                "2026-10-31T16:00:00Z",
                "2026-11-30T16:00:00Z",
            ),
            (
                "Asia/Shanghai",
                Weekday::Monday,
                "2026-10-31T15:59:59Z",
                PeriodKind::Month,
                "2026-10",
                "2026-09-30T16:00:00Z",
                "2026-10-31T16:00:00Z",
            ),
            // Thursday 8 Oct 2026; weeks from Monday 5 Oct, or from Sunday 4 Oct.
            (
                "Asia/Shanghai",
                Weekday::Monday,
                "2026-10-08T01:00:00Z",
                PeriodKind::Week,
                "2026-10-05/week",
                "2026-10-04T16:00:00Z",
                "2026-10-11T16:00:00Z",
            ),
            (
                "Asia/Shanghai",
                Weekday::Sunday,
                "2026-10-08T01:00:00Z",
                PeriodKind::Week,
                "2026-10-04/week",
                "2026-10-03T16:00:00Z",
                "2026-10-10T16:00:00Z",
            ),
            // 23:00 on Sunday 11 Oct in Bogotá (UTC−5) is Monday 04:00 UTC: still last week there.
            (
                "America/Bogota",
                Weekday::Monday,
                "2026-10-12T04:00:00Z",
                PeriodKind::Week,
                "2026-10-05/week",
                "2026-10-05T05:00:00Z",
                "2026-10-12T05:00:00Z",
            ),
            (
                "America/Bogota",
                Weekday::Monday,
                "2026-10-12T04:00:00Z",
                PeriodKind::Day,
                "2026-10-11",
                "2026-10-11T05:00:00Z",
                "2026-10-12T05:00:00Z",
            ),
            (
                "Asia/Shanghai",
                Weekday::Monday,
                "2026-12-31T16:00:00Z",
                PeriodKind::Year,
                "2027",
                "2026-12-31T16:00:00Z",
                "2027-12-31T16:00:00Z",
            ),
            (
                "Asia/Shanghai",
                Weekday::Monday,
                "2026-12-31T15:00:00Z",
                PeriodKind::Quarter,
                "2026-Q4",
                "2026-09-30T16:00:00Z",
                "2026-12-31T16:00:00Z",
            ),
            // The day DST starts in New York lasts 23 hours.
            (
                "America/New_York",
                Weekday::Monday,
                "2026-03-08T12:00:00Z",
                PeriodKind::Day,
                "2026-03-08",
                "2026-03-08T05:00:00Z",
                "2026-03-09T04:00:00Z",
            ),
        ];
        for (tz, week_start, at, kind, label, start, end) in cases {
            let calendar = Calendar::new(tz, week_start).unwrap();
            let p = calendar.period_containing(kind, ts(at)).unwrap();
            assert_eq!(p.label(), label, "{tz} {at} {kind}");
            assert_eq!(p.start, ts(start), "{tz} {at} {kind} start");
            assert_eq!(p.end, ts(end), "{tz} {at} {kind} end");
            assert!(p.contains(ts(at)));
        }
    }

    #[test]
    fn unknown_time_zone_is_refused_by_name() {
        let err = Calendar::new("Asia/Shanghia", Weekday::Monday).unwrap_err();
        assert!(err.to_string().contains("Asia/Shanghia"), "{err}");
    }

    #[test]
    fn weekday_names_parse_in_long_and_short_form() {
        assert_eq!(parse_weekday("Sunday").unwrap(), Weekday::Sunday);
        assert_eq!(parse_weekday("mon").unwrap(), Weekday::Monday);
        assert!(parse_weekday("someday").is_err());
    }
}
