//! Reading `badges.toml`: `[[badge]]` milestones and `[[level]]` score bands, checked like the
//! rules (every problem at once, with its line) and against them (a badge counting a rule
//! names one that exists).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::RuleSet;
use super::table::{self, Fields, Problem, Table};
use crate::domain::{Announce, Badge, BadgeBook, Challenge, Criterion, Level, Month};

#[derive(Debug, thiserror::Error)]
pub enum BadgesError {
    #[error("cannot read badges file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has {} problem{}:\n{}", .problems.len(), if .problems.len() == 1 { "" } else { "s" },
        table::listed(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

const BADGE_KEYS: &[&str] = &[
    "id",
    "name",
    "name_en",
    "description",
    "kind",
    "score",
    "rule",
    "count",
    "months",
    "announce",
];
const LEVEL_KEYS: &[&str] = &["name", "name_en", "min"];
const CHALLENGE_KEYS: &[&str] = &[
    "id",
    "name",
    "name_en",
    "department",
    "category",
    "target",
    "month",
    "points",
    "badge",
];

/// The badges at `path`, checked against `rules`; a file that is not there gives none.
pub fn load_badges_file(path: &Path, rules: &RuleSet) -> Result<BadgeBook, BadgesError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BadgeBook::default()),
        Err(source) => {
            return Err(BadgesError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    load_badges(&text, rules).map_err(|problems| BadgesError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

pub fn load_badges(text: &str, rules: &RuleSet) -> Result<BadgeBook, Vec<Problem>> {
    #[derive(Deserialize)]
    struct RawFile {
        #[serde(default)]
        badge: Vec<Spanned<Table>>,
        #[serde(default)]
        level: Vec<Spanned<Table>>,
        #[serde(default)]
        challenge: Vec<Spanned<Table>>,
    }
    let table::Parsed {
        lines,
        tables,
        mut problems,
    } = table::tables(text, &["badge", "level", "challenge"], |f: RawFile| {
        vec![f.badge, f.level, f.challenge]
    })?;
    let mut tables = tables.into_iter();
    let (badge_tables, level_tables, challenge_tables) = (
        tables.next().unwrap_or_default(),
        tables.next().unwrap_or_default(),
        tables.next().unwrap_or_default(),
    );
    let categories: Vec<&str> = rules.rules.iter().map(|r| r.category.as_str()).collect();
    let mut challenges: Vec<Challenge> = Vec::new();
    for (header_line, table) in challenge_tables {
        let mut fields = Fields {
            lines: &lines,
            header_line,
            table,
            problems: &mut problems,
        };
        let Some(challenge) = fields.challenge(&categories) else {
            continue;
        };
        if let Some(first) = challenges.iter().find(|c| c.id == challenge.id) {
            problems.push(Problem {
                line: challenge.line,
                message: format!(
                    "duplicate challenge id `{}`, first defined at line {}",
                    challenge.id, first.line
                ),
            });
        } else {
            challenges.push(challenge);
        }
    }
    let mut badges = Vec::new();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    for (header_line, table) in badge_tables {
        let mut fields = Fields {
            lines: &lines,
            header_line,
            table,
            problems: &mut problems,
        };
        let Some(badge) = fields.badge(rules) else {
            continue;
        };
        if let Some(first) = first_line_of.get(&badge.id) {
            problems.push(Problem {
                line: badge.line,
                message: format!(
                    "duplicate badge id `{}`, first defined at line {first}",
                    badge.id
                ),
            });
        } else {
            first_line_of.insert(badge.id.clone(), badge.line);
            badges.push(badge);
        }
    }
    // A challenge's badge is given by the challenge alone, so it must be one HR grants.
    for challenge in &challenges {
        let Some(id) = &challenge.badge else { continue };
        let why = match badges.iter().find(|b| &b.id == id) {
            None => "no [[badge]] has that id",
            Some(b) if !matches!(b.criterion, Criterion::Manual) => {
                "it is earned by its own kind; a challenge's badge must be kind = \"manual\""
            }
            Some(_) => continue,
        };
        problems.push(Problem {
            line: challenge.line,
            message: format!("challenge `{}` gives badge `{id}`, but {why}", challenge.id),
        });
    }
    let mut levels: Vec<Level> = level_tables
        .into_iter()
        .filter_map(|(header_line, table)| {
            Fields {
                lines: &lines,
                header_line,
                table,
                problems: &mut problems,
            }
            .level()
        })
        .collect();
    levels.sort_by_key(|l| l.min);
    for pair in levels.windows(2) {
        if pair[0].min == pair[1].min {
            problems.push(Problem {
                line: pair[1].line,
                message: format!(
                    "level `{}` starts at {} like `{}` (line {}); each level needs its own min",
                    pair[1].name, pair[1].min, pair[0].name, pair[0].line
                ),
            });
        }
    }
    if problems.is_empty() {
        Ok(BadgeBook {
            badges,
            levels,
            challenges,
        })
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

impl Fields<'_> {
    fn badge(&mut self, rules: &RuleSet) -> Option<Badge> {
        self.unknown_keys(BADGE_KEYS, "a badge");
        let id = self.id();
        let name = self.required_str("name");
        let name_en = self.optional_str("name_en");
        let description = self.optional_str("description").unwrap_or_default();
        let criterion = self.criterion(rules);
        let announce = match self.optional_str("announce").as_deref() {
            None | Some("person") => Some(Announce::Person),
            Some("group") => Some(Announce::Group),
            Some(other) => {
                self.problem(
                    self.line_of("announce"),
                    format!("announce must be person or group, found `{other}`"),
                );
                None
            }
        };
        let name = name?;
        Some(Badge {
            id: id?,
            name_en: name_en.unwrap_or_else(|| name.clone()),
            name,
            description,
            criterion: criterion?,
            announce: announce?,
            line: self.header_line,
        })
    }

    fn criterion(&mut self, rules: &RuleSet) -> Option<Criterion> {
        let kind = self.required_str("kind")?;
        let positive = |fields: &mut Self, key: &str| {
            let n = fields.required_int(key)?;
            if n > 0 {
                Some(n)
            } else {
                fields.problem(
                    fields.line_of(key),
                    format!("{key} must be a positive integer, found {n}"),
                );
                None
            }
        };
        let rule = |fields: &mut Self| {
            let id = fields.required_str("rule")?;
            if rules.get(&id).is_none() {
                fields.problem(
                    fields.line_of("rule"),
                    format!(
                        "unknown rule `{id}`; a badge counts the entries of a rule in rules.toml"
                    ),
                );
                return None;
            }
            Some(id)
        };
        match kind.as_str() {
            "score" => Some(Criterion::Score {
                at_least: positive(self, "score")?,
            }),
            "count" => {
                let (rule, count) = (rule(self), positive(self, "count"));
                Some(Criterion::Count {
                    rule: rule?,
                    count: count?,
                })
            }
            "streak" => {
                let (rule, months) = (rule(self), positive(self, "months"));
                Some(Criterion::Streak {
                    rule: rule?,
                    months: months?,
                })
            }
            "first" => Some(Criterion::First { rule: rule(self)? }),
            "manual" => Some(Criterion::Manual),
            other => {
                self.problem(
                    self.line_of("kind"),
                    format!("kind must be score, count, streak, first or manual, found `{other}`"),
                );
                None
            }
        }
    }

    fn challenge(&mut self, categories: &[&str]) -> Option<Challenge> {
        self.unknown_keys(CHALLENGE_KEYS, "a challenge");
        let id = self.id();
        let name = self.required_str("name");
        let name_en = self.optional_str("name_en");
        let department = self.required_str("department");
        let category = self.required_str("category").and_then(|c| {
            if categories.contains(&c.as_str()) || c == "manual" {
                Some(c)
            } else {
                self.problem(
                    self.line_of("category"),
                    format!(
                        "no rule posts in category `{c}`; rules.toml has {}",
                        categories.join(", ")
                    ),
                );
                None
            }
        });
        let target = self.required_int("target").and_then(|t| {
            if t > 0 {
                Some(t)
            } else {
                self.problem(
                    self.line_of("target"),
                    format!("target must be positive, found {t}"),
                );
                None
            }
        });
        let month = self.required_str("month").and_then(|m| {
            Month::parse(&m).or_else(|| {
                self.problem(
                    self.line_of("month"),
                    format!("month must be like 2026-11, found `{m}`"),
                );
                None
            })
        });
        let points = match self.optional_int("points") {
            None => Some(0),
            Some(p) if (0..=crate::rules::MAX_COST).contains(&p) => Some(p),
            Some(p) => {
                self.problem(
                    self.line_of("points"),
                    format!("points must be 0 or more, found {p}"),
                );
                None
            }
        };
        let badge = self.optional_str("badge");
        let name = name?;
        Some(Challenge {
            badge,
            id: id?,
            name_en: name_en.unwrap_or_else(|| name.clone()),
            name,
            department: department?,
            category: category?,
            target: target?,
            month: month?,
            points: points?,
            line: self.header_line,
        })
    }

    fn level(&mut self) -> Option<Level> {
        self.unknown_keys(LEVEL_KEYS, "a level");
        let name = self.required_str("name");
        let name_en = self.optional_str("name_en");
        let min = self.required_int("min");
        let name = name?;
        Some(Level {
            name_en: name_en.unwrap_or_else(|| name.clone()),
            name,
            min: min?,
            line: self.header_line,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::load_badges;
    use crate::domain::{Announce, Criterion};
    use crate::rules::load_rules;

    fn rules() -> crate::rules::RuleSet {
        load_rules(
            r#"
[[rule]]
id = "full"
name = "全勤"
event = "attendance.month_summary"
points = 10
"#,
        )
        .unwrap()
    }

    #[test]
    fn badges_and_levels_are_read_with_their_criteria() {
        let book = load_badges(
            r#"
[[badge]]
id = "star"
name = "全勤之星"
kind = "streak"
rule = "full"
months = 3
announce = "group"

[[badge]]
id = "hundred"
name = "百分达人"
kind = "score"
score = 100

[[badge]]
id = "mentor"
name = "好导师"
kind = "manual"

[[level]]
name = "白银"
min = 100

[[level]]
name = "青铜"
name_en = "Bronze"
min = 0
"#,
            &rules(),
        )
        .unwrap();
        assert_eq!(
            book.badges[0].criterion,
            Criterion::Streak {
                rule: "full".into(),
                months: 3
            }
        );
        assert_eq!(book.badges[0].announce, Announce::Group);
        assert_eq!(book.badges[1].criterion, Criterion::Score { at_least: 100 });
        assert_eq!(book.badges[2].announce, Announce::Person);
        let names: Vec<&str> = book.levels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["青铜", "白银"], "sorted by min");
    }

    #[test]
    fn every_mistake_in_a_badges_file_is_named_with_its_line() {
        let cases = [
            (
                "[[badge]]\nid = \"a\"\nname = \"x\"\nkind = \"streak\"\nrule = \"nope\"\nmonths = 3\n",
                "line 5: unknown rule `nope`",
            ),
            (
                "[[badge]]\nid = \"a\"\nname = \"x\"\nkind = \"streak\"\nrule = \"full\"\n",
                "line 1: missing required key `months`",
            ),
            (
                "[[badge]]\nid = \"a\"\nname = \"x\"\nkind = \"score\"\nscore = 0\n",
                "line 5: score must be a positive integer, found 0",
            ),
            (
                "[[badge]]\nid = \"a\"\nname = \"x\"\nkind = \"lucky\"\n",
                "line 4: kind must be score, count, streak, first or manual",
            ),
            (
                "[[badge]]\nid = \"a\"\nname = \"x\"\nkind = \"manual\"\nannounce = \"all\"\n",
                "line 5: announce must be person or group",
            ),
            (
                "[[badge]]\nid = \"a\"\nname = \"x\"\nkind = \"manual\"\n[[badge]]\nid = \"a\"\nname = \"y\"\nkind = \"manual\"\n",
                "line 5: duplicate badge id `a`",
            ),
            (
                "[[level]]\nname = \"a\"\nmin = 0\n[[level]]\nname = \"b\"\nmin = 0\n",
                "line 4: level `b` starts at 0",
            ),
            (
                "[[level]]\nname = \"a\"\n",
                "line 1: missing required key `min`",
            ),
            (
                "[[rank]]\nname = \"a\"\n",
                "line 1: unknown top-level key `rank`; write each entry as a [[badge]] or [[level]] or [[challenge]] table",
            ),
            (
                "[[challenge]]\nid = \"c\"\nname = \"x\"\ndepartment = \"1\"\ncategory = \"cooking\"\ntarget = 5\nmonth = \"2026-11\"\n",
                "line 5: no rule posts in category `cooking`",
            ),
            (
                "[[challenge]]\nid = \"c\"\nname = \"x\"\ndepartment = \"1\"\ncategory = \"attendance\"\ntarget = 0\nmonth = \"2026-11\"\n",
                "line 6: target must be positive",
            ),
            (
                "[[challenge]]\nid = \"c\"\nname = \"x\"\ndepartment = \"1\"\ncategory = \"attendance\"\ntarget = 5\nmonth = \"November\"\n",
                "line 7: month must be like 2026-11",
            ),
            (
                "[[challenge]]\nid = \"c\"\nname = \"x\"\ndepartment = \"1\"\ncategory = \"manual\"\ntarget = 5\nmonth = \"2026-11\"\nbadge = \"nope\"\n",
                "line 1: challenge `c` gives badge `nope`, but no [[badge]] has that id",
            ),
            (
                "[[badge]]\nid = \"b\"\nname = \"b\"\nkind = \"score\"\nscore = 10\n\n[[challenge]]\nid = \"c\"\nname = \"x\"\ndepartment = \"1\"\ncategory = \"manual\"\ntarget = 5\nmonth = \"2026-11\"\nbadge = \"b\"\n",
                "line 7: challenge `c` gives badge `b`, but it is earned by its own kind",
            ),
        ];
        for (text, want) in cases {
            let said: Vec<String> = load_badges(text, &rules())
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect();
            assert!(
                said.iter().any(|p| p.starts_with(want)),
                "{text:?}: {said:?}"
            );
        }
    }
}
