//! The emulator's made-up organisation: departments, fifty employees with Chinese names (or
//! as many as asked, up to 100,000, in teams with their leaders), their attendance results,
//! and approval templates. Deterministic: the same seed and size give the same people and
//! the same check-ins, so demos, tests and benchmarks can be repeated.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

use crate::manifest::{Form, FormsManifest};

/// The fixtures' organisation: corpId, app key and secret, agent id.
pub const CORP_ID: &str = "ding5dc72c2d8e4ff80b35c2f4657eb6378f";
pub const APP_KEY: &str = "dingc4x9w2bqkzmsfyhl";
pub const APP_SECRET: &str = "Rk3xVq9LwP2nZs7YtB4mHc8JdF6gKa1NeQ5uXo0WiT3rEy9SbU2vMh7CjLp4Dz6A";
pub const AGENT_ID: i64 = 3052715634;
pub const ROOT_DEPT: i64 = 1;

#[derive(Debug, Clone)]
pub struct FakeDepartment {
    pub id: i64,
    pub name: String,
    pub parent: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct FakeUser {
    pub userid: String,
    pub name: String,
    pub dept: i64,
    pub title: String,
    pub leader: bool,
    /// How often this person is late, in percent; some people are always on time.
    pub late_percent: u64,
}

impl FakeUser {
    /// Unix ms: a day between 2019 and 2023, the same for a userid on every run.
    pub fn hired_date(&self) -> i64 {
        const JAN_1_2019_SHANGHAI: i64 = 1_546_272_000_000;
        let days = self
            .userid
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            % 1_500;
        JAN_1_2019_SHANGHAI + days as i64 * 86_400_000
    }
}

/// One attendance result, as `attendance/list` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAttendance {
    pub userid: String,
    pub work_date: Date,
    pub check_type: &'static str,
    pub time_result: &'static str,
    /// Unix ms; the planned time, and when the person actually checked in (None: missed).
    pub base_check_time: i64,
    pub user_check_time: Option<i64>,
    /// The approval (leave) that covers the check, by processInstanceId.
    pub approval: Option<String>,
}

pub struct FakeOrg {
    pub departments: Vec<FakeDepartment>,
    pub users: Vec<FakeUser>,
    /// The approval forms an administrator created by following the manifest.
    pub templates: Vec<Form>,
    pub time_zone: TimeZone,
    seed: u64,
    /// Indexes into `users` and `departments`, so a large company is looked up at once.
    user_at: HashMap<String, usize>,
    department_at: HashMap<i64, usize>,
}

/// The largest organisation the emulator makes.
pub const MAX_PEOPLE: usize = 100_000;
/// The people of the shipped organisation; above it, the others are in teams of this size.
const BASE_PEOPLE: usize = 50;
const TEAM_SIZE: usize = 40;
/// Ids of the teams a large organisation adds.
const FIRST_TEAM: i64 = 580_000_000;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐",
];
const GIVEN: &[&str] = &[
    "敏", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平", "刚",
    "桂英", "丽", "浩然", "子涵", "欣怡", "宇轩", "梓萱", "俊杰", "雨桐", "思远", "晓燕",
];

impl FakeOrg {
    /// The fifty-person organisation for `seed`. The fixtures' four people are always in it.
    pub fn generate(seed: u64) -> FakeOrg {
        FakeOrg::generate_with(seed, BASE_PEOPLE)
    }

    /// The organisation for `seed` with `people` employees (at least the fifty of
    /// [`FakeOrg::generate`], at most [`MAX_PEOPLE`]): beyond the fifty, everyone is in a
    /// team of about forty under one of the working departments, each team with a leader.
    pub fn generate_with(seed: u64, people: usize) -> FakeOrg {
        let people = people.clamp(BASE_PEOPLE, MAX_PEOPLE);
        let dept = |id, name: &str, parent| FakeDepartment {
            id,
            name: name.into(),
            parent,
        };
        let mut departments = vec![
            dept(ROOT_DEPT, "星辰科技有限公司", None),
            dept(575401962, "华东销售部", Some(ROOT_DEPT)),
            dept(575401963, "华南销售部", Some(ROOT_DEPT)),
            dept(575403278, "人力资源部", Some(ROOT_DEPT)),
            dept(575405100, "研发中心", Some(ROOT_DEPT)),
            dept(575405101, "后端组", Some(575405100)),
            dept(575405102, "前端组", Some(575405100)),
            dept(575406200, "财务部", Some(ROOT_DEPT)),
        ];
        let mut users = vec![
            user("manager4220", "王芳", 575403278, "人力资源经理", true, 0),
            user(
                "281826612426286785",
                "李强",
                575401962,
                "客户经理",
                false,
                10,
            ),
            user("0941516526848432", "张伟", 575401962, "销售总监", true, 3),
            user("16842541552397523", "陈静", 575406200, "会计", false, 5),
        ];
        // Everyone else: spread over the working departments, one leader where none is.
        let working: Vec<i64> = departments
            .iter()
            .filter(|d| d.id != ROOT_DEPT && d.id != 575405100)
            .map(|d| d.id)
            .collect();
        let mut rng = SplitMix(seed);
        let mut n = 0u64;
        while users.len() < BASE_PEOPLE {
            n += 1;
            let name = format!(
                "{}{}",
                SURNAMES[(rng.next_u64() % SURNAMES.len() as u64) as usize],
                GIVEN[(rng.next_u64() % GIVEN.len() as u64) as usize]
            );
            if users.iter().any(|u| u.name == name) {
                continue;
            }
            let dept = working[(n as usize) % working.len()];
            let leader = !users.iter().any(|u| u.dept == dept && u.leader);
            let title = if leader { "主管" } else { "专员" };
            let late = [0, 2, 5, 8, 15][(rng.next_u64() % 5) as usize];
            let userid = format!(
                "{:016}",
                3_120_000_000_000_000 + rng.next_u64() % 1_000_000_000_000
            );
            users.push(user(&userid, &name, dept, title, leader, late));
        }
        let teams = (people - BASE_PEOPLE).div_ceil(TEAM_SIZE);
        for t in 0..teams {
            let parent = working[t % working.len()];
            let parent_name = departments
                .iter()
                .find(|d| d.id == parent)
                .map(|d| d.name.clone())
                .unwrap_or_default();
            let id = FIRST_TEAM + t as i64;
            departments.push(dept(
                id,
                &format!("{parent_name}第{}小组", t + 1),
                Some(parent),
            ));
        }
        // Names repeat in a company this large; userids never do.
        let mut names: HashMap<String, usize> = HashMap::new();
        for u in &users {
            *names.entry(u.name.clone()).or_default() += 1;
        }
        let mut userids: HashSet<String> = users.iter().map(|u| u.userid.clone()).collect();
        for i in 0..people - BASE_PEOPLE {
            let base = format!(
                "{}{}",
                SURNAMES[(rng.next_u64() % SURNAMES.len() as u64) as usize],
                GIVEN[(rng.next_u64() % GIVEN.len() as u64) as usize]
            );
            let seen = names.entry(base.clone()).or_default();
            *seen += 1;
            let name = if *seen == 1 {
                base
            } else {
                format!("{base}{seen}")
            };
            let userid = loop {
                let id = format!(
                    "{:016}",
                    3_120_000_000_000_000 + rng.next_u64() % 1_000_000_000_000
                );
                if userids.insert(id.clone()) {
                    break id;
                }
            };
            let leader = i % TEAM_SIZE == 0;
            let title = if leader { "组长" } else { "专员" };
            let late = [0, 2, 5, 8, 15][(rng.next_u64() % 5) as usize];
            let team = FIRST_TEAM + (i / TEAM_SIZE) as i64;
            users.push(user(&userid, &name, team, title, leader, late));
        }
        FakeOrg {
            user_at: users
                .iter()
                .enumerate()
                .map(|(i, u)| (u.userid.clone(), i))
                .collect(),
            department_at: departments
                .iter()
                .enumerate()
                .map(|(i, d)| (d.id, i))
                .collect(),
            departments,
            users,
            templates: templates(),
            time_zone: TimeZone::get("Asia/Shanghai").unwrap_or(TimeZone::UTC),
            seed,
        }
    }

    pub fn user(&self, userid: &str) -> Option<&FakeUser> {
        self.user_at.get(userid).map(|&i| &self.users[i])
    }

    pub fn department(&self, id: i64) -> Option<&FakeDepartment> {
        self.department_at.get(&id).map(|&i| &self.departments[i])
    }

    pub fn template(&self, process_code: &str) -> Option<&Form> {
        self.templates
            .iter()
            .find(|t| t.process_code == process_code)
    }

    /// A person's results for a work date: none at weekends, otherwise on duty at 09:00 and
    /// off duty at 18:00, now and then late, early or missed.
    pub fn attendance(&self, userid: &str, date: Date) -> Vec<FakeAttendance> {
        let Some(user) = self.user(userid) else {
            return vec![];
        };
        if matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) {
            return vec![];
        }
        let mut rng = SplitMix(self.seed ^ hash(userid) ^ (date.to_string().len() as u64));
        rng.0 ^= hash(&date.to_string());
        let at = |h: i8, m: i8, s: i8| {
            date.at(h, m, s, 0)
                .to_zoned(self.time_zone.clone())
                .map(|z| z.timestamp().as_millisecond())
                .unwrap_or_default()
        };
        let roll = rng.next_u64() % 100;
        let (on_result, on_time) = if roll < 2 {
            ("NotSigned", None)
        } else if roll < 2 + user.late_percent {
            ("Late", Some(at(9, 3 + (rng.next_u64() % 40) as i8, 0)))
        } else {
            (
                "Normal",
                Some(at(
                    8,
                    30 + (rng.next_u64() % 29) as i8,
                    (rng.next_u64() % 60) as i8,
                )),
            )
        };
        let roll = rng.next_u64() % 100;
        let (off_result, off_time) = if roll < 2 {
            ("NotSigned", None)
        } else if roll < 5 {
            ("Early", Some(at(17, 20 + (rng.next_u64() % 39) as i8, 0)))
        } else {
            (
                "Normal",
                Some(at(
                    18,
                    (rng.next_u64() % 59) as i8,
                    (rng.next_u64() % 60) as i8,
                )),
            )
        };
        vec![
            FakeAttendance {
                userid: userid.into(),
                work_date: date,
                check_type: "OnDuty",
                time_result: on_result,
                base_check_time: at(9, 0, 0),
                user_check_time: on_time,
                approval: None,
            },
            FakeAttendance {
                userid: userid.into(),
                work_date: date,
                check_type: "OffDuty",
                time_result: off_result,
                base_check_time: at(18, 0, 0),
                user_check_time: off_time,
                approval: None,
            },
        ]
    }

    /// Userids by department, for `user/listid`.
    pub fn members(&self) -> BTreeMap<i64, Vec<String>> {
        let mut map: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for u in &self.users {
            map.entry(u.dept).or_default().push(u.userid.clone());
        }
        map
    }
}

fn user(userid: &str, name: &str, dept: i64, title: &str, leader: bool, late: u64) -> FakeUser {
    FakeUser {
        userid: userid.into(),
        name: name.into(),
        dept,
        title: title.into(),
        leader,
        late_percent: late,
    }
}

fn templates() -> Vec<Form> {
    toml::from_str::<FormsManifest>(crate::manifest::FORMS_MANIFEST)
        .map(|m| m.form)
        .unwrap_or_default()
}

/// A tiny deterministic generator (SplitMix64): the same seed gives the same organisation on
/// every platform and every version of `rand`.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn hash(text: &str) -> u64 {
    // FNV-1a: stable, unlike std's randomly seeded hasher.
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_organisation_has_teams_with_leaders_and_unique_userids() {
        let org = FakeOrg::generate_with(7, 10_000);
        assert_eq!(org.users.len(), 10_000);
        let small = FakeOrg::generate(7);
        assert!(
            small
                .users
                .iter()
                .zip(&org.users)
                .all(|(a, b)| a.userid == b.userid),
            "the first fifty are the small organisation's"
        );
        let ids: HashSet<&str> = org.users.iter().map(|u| u.userid.as_str()).collect();
        assert_eq!(ids.len(), org.users.len());
        let teams: Vec<&FakeDepartment> = org
            .departments
            .iter()
            .filter(|d| d.id >= FIRST_TEAM)
            .collect();
        assert_eq!(teams.len(), (10_000 - 50usize).div_ceil(40));
        for team in &teams {
            let parent = org.department(team.parent.unwrap()).unwrap();
            assert!(
                parent.id < FIRST_TEAM,
                "{} is under a working department",
                team.name
            );
            let leaders = org
                .users
                .iter()
                .filter(|u| u.dept == team.id && u.leader)
                .count();
            assert_eq!(leaders, 1, "{}", team.name);
        }
        assert!(org.user(&org.users[9_999].userid).is_some());
        assert_eq!(FakeOrg::generate_with(7, 1_000_000).users.len(), MAX_PEOPLE);
    }

    #[test]
    fn the_organisation_has_fifty_people_in_real_departments_with_the_fixture_users() {
        let org = FakeOrg::generate(7);
        assert_eq!(org.users.len(), 50);
        for u in &org.users {
            assert!(org.department(u.dept).is_some(), "{u:?}");
        }
        assert_eq!(org.user("281826612426286785").unwrap().name, "李强");
        let ids: std::collections::HashSet<_> = org.users.iter().map(|u| &u.userid).collect();
        assert_eq!(ids.len(), 50, "userids are unique");
        assert!(org.template("PROC-JIFEN-POINTS").is_some());
    }

    #[test]
    fn attendance_is_deterministic_and_empty_at_weekends() {
        let org = FakeOrg::generate(7);
        let monday = jiff::civil::date(2026, 10, 12);
        let a = org.attendance("281826612426286785", monday);
        assert_eq!(
            a,
            FakeOrg::generate(7).attendance("281826612426286785", monday)
        );
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].base_check_time, 1_791_766_800_000, "09:00 in Shanghai");
        assert!(
            org.attendance("281826612426286785", jiff::civil::date(2026, 10, 11))
                .is_empty()
        );
    }
}
