//! The people and departments as the leaderboards see them: a stable small number per person
//! (boards are indexed by it), the department tree for "this department and below", and who
//! may be ranked in a period (still employed, not excluded, employed for the whole period if
//! asked).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::domain::calendar::Period;
use crate::store::DirectorySnapshot;

use super::board::{Board, Group, Groups, Person, Scope};

/// Who is never ranked, and whether new hires wait for their first whole period.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    pub people: HashSet<String>,
    /// These departments and everything under them.
    pub departments: HashSet<String>,
    /// Rank only people employed for the whole period (hired on or before its first day).
    pub whole_period_only: bool,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub userid: String,
    pub name: String,
    /// Not left the organisation; who left is never ranked again.
    pub employed: bool,
    /// Unix ms.
    pub hired_at: Option<i64>,
    pub departments: Vec<String>,
    /// Configured out, by name or by department.
    pub excluded: bool,
}

#[derive(Debug, Clone)]
pub struct DepartmentNode {
    pub name: String,
    pub parent: Option<String>,
    pub children: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    ids: HashMap<String, Person>,
    people: Vec<Member>,
    departments: HashMap<String, DepartmentNode>,
    /// Each department's direct members.
    direct: HashMap<String, Vec<Person>>,
    /// The departments answered from an order kept on every board (`index_departments`).
    large: HashMap<String, Scope>,
    groups: Arc<Groups>,
}

impl Directory {
    /// Builds the directory from the store's snapshot, keeping the numbers `previous` gave.
    pub fn build(previous: &Directory, snapshot: DirectorySnapshot, rules: &Exclusions) -> Self {
        let mut departments: HashMap<String, DepartmentNode> = snapshot
            .departments
            .into_iter()
            .map(|d| {
                (
                    d.id,
                    DepartmentNode {
                        name: d.name,
                        parent: d.parent_id,
                        children: Vec::new(),
                    },
                )
            })
            .collect();
        let links: Vec<(String, String)> = departments
            .iter()
            .filter_map(|(id, d)| Some((d.parent.clone()?, id.clone())))
            .collect();
        for (parent, child) in links {
            if let Some(node) = departments.get_mut(&parent) {
                node.children.push(child);
            }
        }
        for node in departments.values_mut() {
            node.children.sort();
        }
        let mut directory = Directory {
            ids: previous.ids.clone(),
            people: previous.people.clone(),
            departments,
            direct: HashMap::new(),
            large: HashMap::new(),
            groups: Arc::default(),
        };
        for e in snapshot.people {
            let member = Member {
                excluded: rules.people.contains(&e.userid)
                    || e.departments
                        .iter()
                        .any(|d| directory.within_any(d, &rules.departments)),
                userid: e.userid,
                name: e.name,
                employed: e.left_at.is_none(),
                hired_at: e.hired_at.map(|t| t.as_millisecond()),
                departments: e.departments,
            };
            match directory.ids.get(&member.userid) {
                Some(&p) => directory.people[p as usize] = member,
                None => {
                    directory
                        .ids
                        .insert(member.userid.clone(), directory.people.len() as Person);
                    directory.people.push(member);
                }
            }
        }
        for (p, m) in directory.people.iter().enumerate() {
            for d in &m.departments {
                directory
                    .direct
                    .entry(d.clone())
                    .or_default()
                    .push(p as Person);
            }
        }
        directory
    }

    pub fn person(&self, userid: &str) -> Option<Person> {
        self.ids.get(userid).copied()
    }

    pub fn member(&self, person: Person) -> &Member {
        &self.people[person as usize]
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    pub fn department(&self, id: &str) -> Option<&DepartmentNode> {
        self.departments.get(id)
    }

    /// Whether the person belongs on the board of `period` (`None`: all time).
    pub fn is_ranked(&self, person: Person, period: Option<&Period>, rules: &Exclusions) -> bool {
        let m = self.member(person);
        let employed_throughout = match (rules.whole_period_only, period, m.hired_at) {
            (true, Some(period), Some(hired)) => hired <= period.start.as_millisecond(),
            _ => true,
        };
        m.employed && !m.excluded && employed_throughout
    }

    /// Puts on `board` everyone who belongs on the board of `period`, and takes off everyone
    /// who does not.
    pub fn rank_on(&self, board: &mut Board, period: Option<&Period>, rules: &Exclusions) {
        for person in 0..self.len() as Person {
            let ranked = self.is_ranked(person, period, rules);
            if board.is_ranked(person) != ranked {
                board.set_ranked(person, ranked);
            }
        }
    }

    /// The people in `department` or any department under it, each once, in number order.
    pub fn members_under(&self, department: &str) -> Vec<Person> {
        let mut people = Vec::new();
        let mut queue = vec![department];
        let mut seen = HashSet::new();
        while let Some(id) = queue.pop() {
            if !seen.insert(id) {
                continue; // a cycle in a corrupt tree
            }
            if let Some(node) = self.departments.get(id) {
                queue.extend(node.children.iter().map(String::as_str));
            }
            people.extend(self.direct.get(id).into_iter().flatten());
        }
        people.sort_unstable();
        people.dedup();
        people
    }

    /// The department at the top of the tree: the one without a parent (DingTalk's `1`).
    pub fn root(&self) -> Option<&str> {
        let mut roots: Vec<&String> = self
            .departments
            .iter()
            .filter(|(_, d)| d.parent.is_none())
            .map(|(id, _)| id)
            .collect();
        roots.sort();
        roots.first().map(|id| id.as_str())
    }

    /// Marks the departments with at least `min_people` in them and below, whose people the
    /// boards keep in their own order: sorting them on every question would be slow. A
    /// department holding everyone (the top) is the whole board and needs no order of its own.
    /// When the groups come out as `previous` had them, its `Groups` is kept, so boards need
    /// not order them again.
    pub fn index_departments(&mut self, min_people: usize, previous: &Directory) {
        let all: HashSet<String> = self.departments.keys().cloned().collect();
        let within: Vec<Vec<String>> = self
            .people
            .iter()
            .map(|m| {
                let mut above: Vec<String> = m
                    .departments
                    .iter()
                    .flat_map(|d| self.ancestry(d))
                    .filter(|d| all.contains(d))
                    .collect();
                above.sort_unstable();
                above.dedup();
                above
            })
            .collect();
        let mut sizes: HashMap<&str, usize> = HashMap::new();
        for d in within.iter().flatten() {
            *sizes.entry(d).or_default() += 1;
        }
        let mut large: HashMap<String, Scope> = HashMap::new();
        let mut grouped: Vec<&str> = Vec::new();
        for (d, n) in sizes {
            if n == self.people.len() {
                large.insert(d.to_string(), None);
            } else if n >= min_people {
                grouped.push(d);
            }
        }
        grouped.sort_unstable();
        grouped.truncate(usize::from(Group::MAX));
        let mut groups: HashMap<&str, Group> = HashMap::new();
        for (g, d) in grouped.into_iter().enumerate() {
            groups.insert(d, g as Group);
            large.insert(d.to_string(), Some(g as Group));
        }
        let of = within
            .iter()
            .map(|ds| {
                ds.iter()
                    .filter_map(|d| groups.get(d.as_str()).copied())
                    .collect()
            })
            .collect();
        let groups = Groups::new(of, groups.len());
        self.groups = if groups == *previous.groups {
            previous.groups.clone()
        } else {
            Arc::new(groups)
        };
        self.large = large;
    }

    /// Where a department's board is kept, if it is large: `Some(None)` for the whole board.
    pub fn scope(&self, department: &str) -> Option<Scope> {
        self.large.get(department).copied()
    }

    pub fn groups(&self) -> Arc<Groups> {
        self.groups.clone()
    }

    /// A department and those above it, up to the top.
    pub fn ancestry(&self, department: &str) -> Vec<String> {
        let mut chain = Vec::new();
        let mut at = Some(department.to_string());
        // A cycle in a corrupt tree must not hang the index.
        while let Some(id) = at.filter(|_| chain.len() < 64) {
            at = self.departments.get(&id).and_then(|d| d.parent.clone());
            chain.push(id);
        }
        chain
    }

    /// Whether `department` is one of `set` or lies under one of them.
    fn within_any(&self, department: &str, set: &HashSet<String>) -> bool {
        !set.is_empty() && self.ancestry(department).iter().any(|d| set.contains(d))
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::domain::{Department, Employee};

    fn snapshot() -> DirectorySnapshot {
        let dept = |id: &str, parent: Option<&str>| Department {
            id: id.into(),
            name: id.into(),
            parent_id: parent.map(Into::into),
        };
        let person = |userid: &str, dept: &str, hired: &str| Employee {
            userid: userid.into(),
            name: userid.into(),
            departments: vec![dept.into()],
            leads: vec![],
            active: true,
            hired_at: Some(hired.parse().unwrap()),
            left_at: (userid == "gone").then(|| "2026-10-20T02:00:00Z".parse().unwrap()),
        };
        DirectorySnapshot {
            departments: vec![
                dept("1", None),
                dept("rd", Some("1")),
                dept("fe", Some("rd")),
                dept("hr", Some("1")),
                dept("payroll", Some("hr")),
            ],
            people: vec![
                person("ann", "rd", "2020-01-01T00:00:00Z"),
                person("bob", "fe", "2026-11-18T00:00:00Z"),
                person("cat", "payroll", "2020-01-01T00:00:00Z"),
                person("dan", "1", "2020-01-01T00:00:00Z"),
                person("gone", "rd", "2020-01-01T00:00:00Z"),
            ],
        }
    }

    fn week() -> Period {
        Period {
            kind: crate::domain::calendar::PeriodKind::Week,
            first_day: "2026-11-16".parse().unwrap(),
            start: "2026-11-15T16:00:00Z".parse::<Timestamp>().unwrap(),
            end: "2026-11-22T16:00:00Z".parse::<Timestamp>().unwrap(),
        }
    }

    #[test]
    fn who_is_ranked_follows_exclusions_activity_and_hire_dates() {
        let rules = Exclusions {
            people: ["dan".to_string()].into(),
            departments: ["hr".to_string()].into(),
            whole_period_only: true,
        };
        let d = Directory::build(&Directory::default(), snapshot(), &rules);
        let ranked = |userid: &str, period: Option<&Period>| {
            d.is_ranked(d.person(userid).unwrap(), period, &rules)
        };
        let week = week();
        let cases = [
            ("ann", Some(&week), true),
            ("bob", Some(&week), false), // hired mid-week
            ("bob", None, true),         // all time has no first day
            ("cat", Some(&week), false), // under an excluded department
            ("dan", None, false),        // excluded by name
            ("gone", None, false),       // left
        ];
        for (userid, period, expected) in cases {
            assert_eq!(ranked(userid, period), expected, "{userid}");
        }
        let open = Exclusions::default();
        let d = Directory::build(&Directory::default(), snapshot(), &open);
        assert!(d.is_ranked(d.person("bob").unwrap(), Some(&week), &open));
    }

    #[test]
    fn a_department_s_ancestry_runs_up_to_the_root() {
        let d = Directory::build(&Directory::default(), snapshot(), &Exclusions::default());
        let cases: [(&str, &[&str]); 4] = [
            ("fe", &["fe", "rd", "1"]),
            ("payroll", &["payroll", "hr", "1"]),
            ("1", &["1"]),
            ("nowhere", &["nowhere"]),
        ];
        for (department, expected) in cases {
            assert_eq!(d.ancestry(department), expected, "{department}");
        }
    }

    #[test]
    fn a_department_includes_everyone_below_it() {
        let d = Directory::build(&Directory::default(), snapshot(), &Exclusions::default());
        let names = |dept: &str| -> Vec<String> {
            d.members_under(dept)
                .into_iter()
                .map(|p| d.member(p).userid.clone())
                .collect()
        };
        assert_eq!(names("rd"), ["ann", "bob", "gone"]);
        assert_eq!(names("fe"), ["bob"]);
        assert_eq!(names("1").len(), 5);
        assert_eq!(d.root(), Some("1"));
    }

    #[test]
    fn departments_with_enough_people_below_them_are_indexed() {
        let mut d = Directory::build(&Directory::default(), snapshot(), &Exclusions::default());
        d.index_departments(3, &Directory::default());
        let cases = [
            ("1", Some(None)), // everyone: the whole board
            ("rd", Some(Some(0))),
            ("fe", None),
            ("hr", None),
        ];
        for (dept, scope) in cases {
            assert_eq!(d.scope(dept), scope, "{dept}");
        }
        let mut board = super::super::board::Board::default();
        for p in 0..d.len() as Person {
            board.set_ranked(p, true);
        }
        board.set_groups(d.groups());
        assert_eq!(board.len(None), 5);
        assert_eq!(board.len(Some(0)), 3, "ann, bob in fe below, and gone");
        let mut again = Directory::build(&d, snapshot(), &Exclusions::default());
        again.index_departments(3, &d);
        assert!(Arc::ptr_eq(&again.groups(), &d.groups()), "unchanged: kept");
    }

    #[test]
    fn a_rebuilt_directory_keeps_each_persons_number() {
        let first = Directory::build(&Directory::default(), snapshot(), &Exclusions::default());
        let mut later = snapshot();
        later.people.reverse();
        later.people.push(Employee {
            userid: "eve".into(),
            name: "eve".into(),
            departments: vec![],
            leads: vec![],
            active: true,
            hired_at: None,
            left_at: None,
        });
        let second = Directory::build(&first, later, &Exclusions::default());
        for userid in ["ann", "bob", "cat", "dan", "gone"] {
            assert_eq!(first.person(userid), second.person(userid));
        }
        assert_eq!(second.person("eve"), Some(5));
    }
}
