//! Badges and levels, from `badges.toml`: a badge marks a milestone (a score reached, so many
//! entries of a rule, a run of months with one, a first time, or HR's say) and is granted
//! once; a level is the score band a person is in, with the way to the next.

use serde::Serialize;

/// What earns a badge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Criterion {
    /// A score (累计积分) of at least this.
    Score { at_least: i64 },
    /// At least `count` standing entries of a rule (e.g. 10 adopted proposals).
    Count { rule: String, count: i64 },
    /// An entry of a rule in each of the last `months` closed months (e.g. 3 months of 全勤).
    Streak { rule: String, months: i64 },
    /// The first standing entry of a rule.
    First { rule: String },
    /// Granted by an HR admin, with a reason.
    Manual,
}

/// Who hears of a badge: the person, or their groups too for the big ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Announce {
    Person,
    Group,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Badge {
    pub id: String,
    pub name: String,
    pub name_en: String,
    pub description: String,
    pub criterion: Criterion,
    pub announce: Announce,
    #[serde(skip)]
    pub line: usize,
}

impl Badge {
    /// Why it is granted, as the person is told, in Chinese and English.
    pub fn reason(&self) -> (String, String) {
        match &self.criterion {
            Criterion::Score { at_least } => (
                format!("累计积分达到 {at_least}"),
                format!("a score of {at_least}"),
            ),
            Criterion::Count { rule, count } => (
                format!("「{rule}」累计 {count} 次"),
                format!("{count} times {rule}"),
            ),
            Criterion::Streak { rule, months } => (
                format!("连续 {months} 个月「{rule}」"),
                format!("{rule} {months} months in a row"),
            ),
            Criterion::First { rule } => (format!("首次「{rule}」"), format!("a first {rule}")),
            Criterion::Manual => ("HR 颁发".into(), "granted by HR".into()),
        }
    }
}

/// A score band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Level {
    pub name: String,
    pub name_en: String,
    /// The lowest score in the band.
    pub min: i64,
    #[serde(skip)]
    pub line: usize,
}

/// A team challenge: a department (with those under it) earns `target` points of a category
/// in a month; reached, each member gets `points`, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub id: String,
    pub name: String,
    pub name_en: String,
    pub department: String,
    /// The category whose points count (e.g. `training`).
    pub category: String,
    pub target: i64,
    pub month: super::Month,
    /// Given to each member when the target is reached; 0 gives nothing but the glory.
    pub points: i64,
    /// A badge (of kind manual) each member is granted when the target is reached.
    pub badge: Option<String>,
    pub line: usize,
}

/// Badges, levels and team challenges, as configured; levels sorted by `min`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BadgeBook {
    pub badges: Vec<Badge>,
    pub levels: Vec<Level>,
    pub challenges: Vec<Challenge>,
}

/// Where a score stands among the levels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing<'a> {
    pub level: &'a Level,
    /// The next level, and the points still needed to reach it.
    pub next: Option<(&'a Level, i64)>,
}

impl BadgeBook {
    pub fn get(&self, id: &str) -> Option<&Badge> {
        self.badges.iter().find(|b| b.id == id)
    }

    /// The level of `score`; `None` without levels, or below the lowest.
    pub fn level_of(&self, score: i64) -> Option<Standing<'_>> {
        let at = self.levels.iter().rposition(|l| score >= l.min)?;
        Some(Standing {
            level: &self.levels[at],
            next: self.levels.get(at + 1).map(|n| (n, n.min - score)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{BadgeBook, Level};

    fn level(name: &str, min: i64) -> Level {
        Level {
            name: name.into(),
            name_en: name.into(),
            min,
            line: 0,
        }
    }

    #[test]
    fn a_score_is_in_the_highest_band_it_reaches_with_the_way_to_the_next() {
        let book = BadgeBook {
            levels: vec![level("青铜", 0), level("白银", 100), level("黄金", 300)],
            ..BadgeBook::default()
        };
        let cases = [
            (-5, None),
            (0, Some(("青铜", Some(("白银", 100))))),
            (99, Some(("青铜", Some(("白银", 1))))),
            (100, Some(("白银", Some(("黄金", 200))))),
            (300, Some(("黄金", None))),
            (10_000, Some(("黄金", None))),
        ];
        for (score, want) in cases {
            let got = book.level_of(score).map(|s| {
                (
                    s.level.name.as_str(),
                    s.next.map(|(n, to_go)| (n.name.as_str(), to_go)),
                )
            });
            assert_eq!(got, want, "{score}");
        }
        assert_eq!(BadgeBook::default().level_of(50), None);
    }
}
