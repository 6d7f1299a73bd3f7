//! Reading `rewards.toml`, the catalogue of what balance points buy, checked like the rules:
//! every problem at once with its line, and a file with any problem offers nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Spanned, Value};

use super::table::{self, Fields, Problem, Table};
use crate::domain::{Catalogue, PeriodKind, PersonLimit, Reward};

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read rewards catalogue {path}: {source}")]
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

const REWARD_KEYS: &[&str] = &[
    "id",
    "name",
    "name_en",
    "description",
    "cost",
    "stock",
    "limit",
    "departments",
    "available_from",
    "available_until",
    "review",
];

/// The largest cost a reward may have; more is surely a typo.
pub const MAX_COST: i64 = 1_000_000;

/// The catalogue at `path`; a file that is not there offers nothing, so jifen runs without a
/// shop until HR writes one.
pub fn load_catalogue_file(path: &Path) -> Result<Catalogue, CatalogueError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Catalogue::default()),
        Err(source) => {
            return Err(CatalogueError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    load_catalogue(&text).map_err(|problems| CatalogueError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

/// Parses and checks a catalogue; `Err` lists every problem, in line order.
pub fn load_catalogue(text: &str) -> Result<Catalogue, Vec<Problem>> {
    #[derive(Deserialize)]
    struct RawFile {
        #[serde(default)]
        reward: Vec<Spanned<Table>>,
    }
    let table::Parsed {
        lines,
        tables,
        mut problems,
    } = table::tables(text, &["reward"], |f: RawFile| vec![f.reward])?;
    let mut rewards = Vec::new();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    for (header_line, table) in tables.into_iter().flatten() {
        let mut fields = Fields {
            lines: &lines,
            header_line,
            table,
            problems: &mut problems,
        };
        let Some(reward) = fields.reward() else {
            continue;
        };
        if let Some(first) = first_line_of.get(&reward.id) {
            problems.push(Problem {
                line: reward.line,
                message: format!(
                    "duplicate reward id `{}`, first defined at line {first}",
                    reward.id
                ),
            });
        } else {
            first_line_of.insert(reward.id.clone(), reward.line);
            rewards.push(reward);
        }
    }
    if problems.is_empty() {
        Ok(Catalogue { rewards })
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

impl Fields<'_> {
    fn reward(&mut self) -> Option<Reward> {
        self.unknown_keys(REWARD_KEYS, "a reward");
        let id = self.id();
        let name = self.required_str("name");
        let name_en = self.optional_str("name_en");
        let description = self.optional_str("description").unwrap_or_default();
        let cost = self.required_int("cost").and_then(|cost| {
            if (1..=MAX_COST).contains(&cost) {
                Some(cost)
            } else {
                self.problem(
                    self.line_of("cost"),
                    format!("cost must be between 1 and {MAX_COST} points, found {cost}"),
                );
                None
            }
        });
        let stock = match self.table.get("stock").map(|v| v.get_ref().clone()) {
            None => Some(None),
            Some(Value::String(s)) if s == "unlimited" => Some(None),
            Some(Value::Integer(n)) if n >= 0 => Some(Some(n)),
            Some(other) => {
                self.wrong_type("stock", "a count of 0 or more, or \"unlimited\"", &other)
            }
        };
        let limit = self.limit();
        let departments = self.departments();
        let from = self.date("available_from");
        let until = self.date("available_until");
        if let (Some(Some(from)), Some(Some(until))) = (from, until)
            && until < from
        {
            self.problem(
                self.line_of("available_until"),
                format!("available_until {until} is before available_from {from}"),
            );
            return None;
        }
        let review = match self.table.get("review") {
            None => Some(true),
            Some(_) => self.flag("review"),
        };
        let name = name?;
        Some(Reward {
            id: id?,
            name_en: name_en.unwrap_or_else(|| name.clone()),
            name,
            description,
            cost: cost?,
            stock: stock?,
            limit: limit?,
            departments: departments?,
            available_from: from?,
            available_until: until?,
            review: review?,
            line: self.header_line,
        })
    }

    /// `limit = { month = 2 }`: how many one person may redeem in one period.
    fn limit(&mut self) -> Option<Option<PersonLimit>> {
        let table = match self.table.get("limit").map(|v| v.get_ref().clone()) {
            None => return Some(None),
            Some(Value::Table(t)) if t.len() == 1 => t,
            Some(other) => {
                return self.wrong_type(
                    "limit",
                    "one period and a count, like { month = 2 }",
                    &other,
                );
            }
        };
        let (key, value) = table.iter().next()?;
        let line = self.line_of("limit");
        let Some(period) = PeriodKind::ALL.into_iter().find(|p| p.name() == key) else {
            self.problem(
                line,
                format!(
                    "unknown limit period `limit.{key}`; use day, week, month, quarter or year"
                ),
            );
            return None;
        };
        match value.as_integer() {
            Some(count) if count > 0 => Some(Some(PersonLimit { count, period })),
            _ => {
                self.problem(
                    line,
                    format!("limit.{key} must be a positive integer, found {value}"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::load_catalogue;
    use crate::domain::PeriodKind;

    #[test]
    fn a_catalogue_reads_each_reward_with_its_terms() {
        let catalogue = load_catalogue(
            r#"
[[reward]]
id = "coffee"
name = "咖啡券"
name_en = "Coffee voucher"
cost = 30
stock = 50
limit = { week = 1 }

[[reward]]
id = "leave"
name = "半天调休"
cost = 200
departments = ["rd", 7]
available_from = "2026-12-01"
available_until = 2026-12-31
review = false
"#,
        )
        .unwrap();
        let [coffee, leave] = &catalogue.rewards[..] else {
            panic!("{catalogue:?}")
        };
        assert_eq!(
            (coffee.cost, coffee.stock, coffee.review),
            (30, Some(50), true)
        );
        assert_eq!(
            coffee.limit.map(|l| (l.count, l.period)),
            Some((1, PeriodKind::Week))
        );
        assert_eq!(coffee.line, 2);
        assert_eq!(leave.name_en, "半天调休", "English falls back to Chinese");
        assert_eq!(
            (leave.stock, leave.limit, leave.review),
            (None, None, false)
        );
        assert_eq!(leave.departments, ["rd", "7"]);
        assert!(leave.available_on("2026-12-31".parse().unwrap()));
        assert!(!leave.available_on("2027-01-01".parse().unwrap()));
        assert!(!leave.available_on("2026-11-30".parse().unwrap()));
        assert_eq!(catalogue.get("coffee"), Some(coffee));
    }

    #[test]
    fn every_mistake_in_a_catalogue_is_named_with_its_line() {
        let cases = [
            (
                "[[reward]]\nname = \"x\"\ncost = 1\n",
                "line 1: missing required key `id`",
            ),
            (
                "[[reward]]\nid = \"a b\"\nname = \"x\"\ncost = 1\n",
                "line 2: id `a b` must be non-empty and without spaces",
            ),
            (
                "[[reward]]\nid = \"a\"\nname = \"x\"\n",
                "line 1: missing required key `cost`",
            ),
            (
                "[[reward]]\nid = \"a\"\nname = \"x\"\ncost = 0\n",
                "line 4: cost must be between 1 and 1000000 points, found 0",
            ),
            (
                "[[reward]]\nid = \"a\"\nname = \"x\"\ncost = \"5\"\n",
                "line 4: cost must be an integer, found string \"5\"",
            ),
            (
                "[[reward]]\nid = \"a\"\nname = \"x\"\ncost = 5\nstock = -1\n",
                "line 5: stock must be a count of 0 or more, or \"unlimited\", found integer -1",
            ),
            (
                "[[reward]]\nid = \"a\"\nname = \"x\"\ncost = 5\nlimit = { fortnight = 1 }\n",
                "line 5: unknown limit period `limit.fortnight`; use day, week, month, quarter or year",
            ),
            (
                "[[reward]]\nid = \"a\"\nname = \"x\"\ncost = 5\nlimit = { month = 0 }\n",
                "line 5: limit.month must be a positive integer, found 0",
            ),
            (
                "[[reward]]\nid = \"a\"\nname = \"x\"\ncost = 5\nprice = 5\n",
                "line 5: unknown key `price`; a reward takes id, name, name_en, description, cost, stock, limit, departments, available_from, available_until, review",
            ),
            (
                "[[reward]]\nid = \"a\"\nname = \"x\"\ncost = 5\navailable_from = \"2026-12-02\"\navailable_until = \"2026-12-01\"\n",
                "line 6: available_until 2026-12-01 is before available_from 2026-12-02",
            ),
            (
                "[[reward]]\nid = \"a\"\nname = \"x\"\ncost = 5\n[[reward]]\nid = \"a\"\nname = \"y\"\ncost = 6\n",
                "line 5: duplicate reward id `a`, first defined at line 1",
            ),
            (
                "prize = 1\n",
                "line 1: unknown top-level key `prize`; write each entry as a [[reward]] table",
            ),
            ("[[reward]\n", "line 1: "),
        ];
        for (text, want) in cases {
            let problems = load_catalogue(text).unwrap_err();
            let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
            assert!(
                said.iter().any(|p| p.starts_with(want)),
                "{text:?}: {said:?}"
            );
        }
    }

    #[test]
    fn an_empty_catalogue_offers_nothing() {
        assert!(load_catalogue("").unwrap().rewards.is_empty());
    }
}
