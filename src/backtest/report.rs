//! What a backtest found: per rule, per person and per department, what the draft rules
//! would have posted against what was posted, with the distribution of people's points and
//! its fairness (Gini). Pure: built from lines of (person, rule, points).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

/// One entry, as far as the comparison needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub userid: String,
    pub rule_id: String,
    pub points: i64,
}

/// Who the people are: their names and the departments they count in (their own and
/// every one above), with the departments' names.
#[derive(Debug, Clone, Default)]
pub struct People {
    pub names: HashMap<String, String>,
    pub counted_in: HashMap<String, Vec<String>>,
    pub departments: HashMap<String, String>,
    /// The departments shown: those directly under the top.
    pub shown: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleDiff {
    pub rule_id: String,
    pub posted_entries: usize,
    pub posted_points: i64,
    pub draft_entries: usize,
    pub draft_points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub id: String,
    pub name: String,
    pub posted: i64,
    pub draft: i64,
}

impl Change {
    pub fn delta(&self) -> i64 {
        self.draft - self.posted
    }
}

/// How people's points were spread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    pub people: usize,
    pub total: i64,
    pub mean: f64,
    pub median: i64,
    pub p90: i64,
    /// 0 when everyone has the same, towards 1 when a few have it all (negative totals
    /// count as 0).
    pub gini: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub events: usize,
    pub rules: Vec<RuleDiff>,
    /// Everyone whose points would change, largest change first.
    pub people: Vec<Change>,
    pub departments: Vec<Change>,
    pub posted: Spread,
    pub draft: Spread,
}

/// People shown in the printed report; the JSON has them all.
const PEOPLE_SHOWN: usize = 20;

pub fn compare(events: usize, posted: &[Line], draft: &[Line], people: &People) -> Report {
    let mut rules: BTreeMap<&str, RuleDiff> = BTreeMap::new();
    let diff = |id: &str| RuleDiff {
        rule_id: id.to_string(),
        posted_entries: 0,
        posted_points: 0,
        draft_entries: 0,
        draft_points: 0,
    };
    let mut per_person: HashMap<&str, (i64, i64)> = HashMap::new();
    for line in posted {
        let r = rules
            .entry(&line.rule_id)
            .or_insert_with(|| diff(&line.rule_id));
        r.posted_entries += 1;
        r.posted_points += line.points;
        per_person.entry(&line.userid).or_default().0 += line.points;
    }
    for line in draft {
        let r = rules
            .entry(&line.rule_id)
            .or_insert_with(|| diff(&line.rule_id));
        r.draft_entries += 1;
        r.draft_points += line.points;
        per_person.entry(&line.userid).or_default().1 += line.points;
    }
    let name = |id: &str| people.names.get(id).cloned().unwrap_or_else(|| id.into());
    let mut changed: Vec<Change> = per_person
        .iter()
        .filter(|(_, (p, d))| p != d)
        .map(|(id, &(posted, draft))| Change {
            id: id.to_string(),
            name: name(id),
            posted,
            draft,
        })
        .collect();
    changed.sort_by(|a, b| {
        b.delta()
            .abs()
            .cmp(&a.delta().abs())
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut by_department: HashMap<&str, (i64, i64)> = HashMap::new();
    for (id, &(p, d)) in &per_person {
        for dept in people.counted_in.get(*id).into_iter().flatten() {
            let t = by_department.entry(dept).or_default();
            t.0 += p;
            t.1 += d;
        }
    }
    let departments = people
        .shown
        .iter()
        .map(|id| {
            let (posted, draft) = by_department.get(id.as_str()).copied().unwrap_or_default();
            Change {
                id: id.clone(),
                name: people
                    .departments
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id.clone()),
                posted,
                draft,
            }
        })
        .collect();
    // Everyone counts in the spread, those without points as 0.
    let everyone: Vec<&str> = people.names.keys().map(String::as_str).collect();
    let totals = |pick: fn(&(i64, i64)) -> i64| -> Vec<i64> {
        everyone
            .iter()
            .map(|id| per_person.get(id).map_or(0, pick))
            .collect()
    };
    Report {
        events,
        rules: rules.into_values().collect(),
        people: changed,
        departments,
        posted: spread(totals(|t| t.0)),
        draft: spread(totals(|t| t.1)),
    }
}

pub fn spread(mut points: Vec<i64>) -> Spread {
    points.sort_unstable();
    let n = points.len();
    let total: i64 = points.iter().sum();
    let at = |q: f64| {
        if n == 0 {
            0
        } else {
            points[((n as f64 - 1.0) * q).round() as usize]
        }
    };
    let clamped: Vec<f64> = points.iter().map(|&p| p.max(0) as f64).collect();
    let sum: f64 = clamped.iter().sum();
    // Gini over sorted values: Σ (2i − n − 1)·xᵢ / (n · Σx).
    let gini = if n == 0 || sum == 0.0 {
        0.0
    } else {
        let weighted: f64 = clamped
            .iter()
            .enumerate()
            .map(|(i, x)| (2.0 * (i as f64 + 1.0) - n as f64 - 1.0) * x)
            .sum();
        weighted / (n as f64 * sum)
    };
    Spread {
        people: n,
        total,
        mean: if n == 0 { 0.0 } else { total as f64 / n as f64 },
        median: at(0.5),
        p90: at(0.9),
        gini,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} events replayed under the draft rules (nothing written)\n",
            self.events
        )?;
        let w = self
            .rules
            .iter()
            .map(|r| r.rule_id.len())
            .max()
            .unwrap_or(0)
            .max(7);
        writeln!(
            f,
            "  {:<w$}  {:>8} {:>8}   {:>8} {:>8}   {:>7}",
            "rule", "entries", "posted", "entries", "draft", "change"
        )?;
        for r in &self.rules {
            writeln!(
                f,
                "  {:<w$}  {:>8} {:>8}   {:>8} {:>8}   {:>+7}",
                r.rule_id,
                r.posted_entries,
                r.posted_points,
                r.draft_entries,
                r.draft_points,
                r.draft_points - r.posted_points
            )?;
        }
        writeln!(f, "\nBy department (with those under it): posted → draft")?;
        for d in &self.departments {
            writeln!(
                f,
                "  {}  {} → {}  ({:+})",
                d.name,
                d.posted,
                d.draft,
                d.delta()
            )?;
        }
        writeln!(
            f,
            "\n{} people would change{}",
            self.people.len(),
            if self.people.len() > PEOPLE_SHOWN {
                format!(" (the {PEOPLE_SHOWN} largest changes; --json has all)")
            } else {
                String::new()
            }
        )?;
        for p in self.people.iter().take(PEOPLE_SHOWN) {
            writeln!(
                f,
                "  {} ({})  {} → {}  ({:+})",
                p.name,
                p.id,
                p.posted,
                p.draft,
                p.delta()
            )?;
        }
        writeln!(f, "\nSpread of points      posted     draft")?;
        let row = |f: &mut fmt::Formatter<'_>, what: &str, a: String, b: String| {
            writeln!(f, "  {what:<18} {a:>9} {b:>9}")
        };
        let (p, d) = (&self.posted, &self.draft);
        row(f, "people", p.people.to_string(), d.people.to_string())?;
        row(f, "total", p.total.to_string(), d.total.to_string())?;
        row(
            f,
            "mean",
            format!("{:.1}", p.mean),
            format!("{:.1}", d.mean),
        )?;
        row(f, "median", p.median.to_string(), d.median.to_string())?;
        row(f, "90th percentile", p.p90.to_string(), d.p90.to_string())?;
        row(
            f,
            "Gini (fairness)",
            format!("{:.3}", p.gini),
            format!("{:.3}", d.gini),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(userid: &str, rule_id: &str, points: i64) -> Line {
        Line {
            userid: userid.into(),
            rule_id: rule_id.into(),
            points,
        }
    }

    #[test]
    fn the_spread_has_its_quantiles_and_a_gini_of_zero_when_all_are_equal() {
        let cases = [
            (vec![5, 5, 5, 5], 5, 5, 0.0),
            (vec![0, 0, 0, 10], 0, 10, 0.75),
            (vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 6, 9, 0.3),
            (vec![-5, 5], 5, 5, 0.5),
            (vec![], 0, 0, 0.0),
        ];
        for (points, median, p90, gini) in cases {
            let s = spread(points.clone());
            assert_eq!((s.median, s.p90), (median, p90), "{points:?}");
            assert!((s.gini - gini).abs() < 1e-9, "{points:?}: {}", s.gini);
        }
    }

    #[test]
    fn a_draft_is_compared_per_rule_person_and_department() {
        let people = People {
            names: [("a", "甲"), ("b", "乙"), ("c", "丙")]
                .map(|(u, n)| (u.to_string(), n.to_string()))
                .into(),
            counted_in: [
                ("a", vec!["1", "rd"]),
                ("b", vec!["1", "rd"]),
                ("c", vec!["1", "sales"]),
            ]
            .map(|(u, d)| (u.to_string(), d.into_iter().map(String::from).collect()))
            .into(),
            departments: [("rd", "研发部"), ("sales", "销售部")]
                .map(|(d, n)| (d.to_string(), n.to_string()))
                .into(),
            shown: vec!["rd".into(), "sales".into()],
        };
        let posted = [
            line("a", "ontime", 1),
            line("a", "ontime", 1),
            line("b", "late", -2),
        ];
        let draft = [
            line("a", "ontime", 2),
            line("a", "ontime", 2),
            line("b", "late", -2),
            line("c", "new", 3),
        ];
        let report = compare(4, &posted, &draft, &people);
        let rule = |id: &str| report.rules.iter().find(|r| r.rule_id == id).unwrap();
        assert_eq!(
            (rule("ontime").posted_points, rule("ontime").draft_points),
            (2, 4)
        );
        assert_eq!(
            (rule("new").posted_entries, rule("new").draft_entries),
            (0, 1)
        );
        let who: Vec<(&str, i64)> = report
            .people
            .iter()
            .map(|p| (p.id.as_str(), p.delta()))
            .collect();
        assert_eq!(who, [("c", 3), ("a", 2)], "b is unchanged");
        let dept: Vec<(&str, i64, i64)> = report
            .departments
            .iter()
            .map(|d| (d.name.as_str(), d.posted, d.draft))
            .collect();
        assert_eq!(dept, [("研发部", 0, 2), ("销售部", 0, 3)]);
        let text = report.to_string();
        assert!(text.contains("4 events replayed"), "{text}");
        assert!(text.contains("2 people would change"), "{text}");
    }
}
