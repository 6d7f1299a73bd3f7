//! Who may do what. HR admins and auditors come from config; managers are DingTalk's
//! department leaders plus any named in config. Checked before a command touches the
//! ledger; pure, so the whole permission table is tested without a database.

use std::collections::BTreeMap;

use super::command::{Command, Lang};

/// The role settings from config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleConfig {
    pub hr_admins: Vec<String>,
    pub auditors: Vec<String>,
    /// Managers named in config, and the departments each manages.
    pub managers: BTreeMap<String, Vec<String>>,
}

/// One person's roles. Everyone is an employee; the rest add to that.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    pub hr_admin: bool,
    pub auditor: bool,
    /// Departments managed directly (their sub-departments are managed too).
    pub manages: Vec<String>,
}

impl Roles {
    /// `leads`: the departments DingTalk lists the person as leader of.
    pub fn of(userid: &str, config: &RoleConfig, leads: &[String]) -> Roles {
        let mut manages: Vec<String> = leads.to_vec();
        if let Some(configured) = config.managers.get(userid) {
            manages.extend(configured.iter().cloned());
        }
        manages.sort();
        manages.dedup();
        Roles {
            hr_admin: config.hr_admins.iter().any(|u| u == userid),
            auditor: config.auditors.iter().any(|u| u == userid),
            manages,
        }
    }

    pub fn is_manager(&self) -> bool {
        !self.manages.is_empty()
    }

    /// Whether this person may act on someone in `departments` (that person's departments
    /// and every department above them).
    pub fn covers(&self, departments: &[String]) -> bool {
        self.hr_admin || departments.iter().any(|d| self.manages.contains(d))
    }
}

/// Who a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    Anyone,
    ManagerOrHr,
    Hr,
    HrOrAuditor,
}

pub fn needed_for(command: &Command) -> Needed {
    match command {
        Command::Points
        | Command::Rank { .. }
        | Command::History { .. }
        | Command::Rules
        | Command::Help => Needed::Anyone,
        Command::Adjust { .. } | Command::Revoke { .. } => Needed::ManagerOrHr,
        Command::Approve { .. }
        | Command::Reject { .. }
        | Command::Budget { .. }
        | Command::Export { .. } => Needed::Hr,
        Command::Audit { .. } => Needed::HrOrAuditor,
    }
}

/// `Err` with the reply when `roles` may not run `command` at all.
pub fn may_run(roles: &Roles, command: &Command, lang: Lang) -> Result<(), String> {
    let allowed = match needed_for(command) {
        Needed::Anyone => true,
        Needed::ManagerOrHr => roles.hr_admin || roles.is_manager(),
        Needed::Hr => roles.hr_admin,
        Needed::HrOrAuditor => roles.hr_admin || roles.auditor,
    };
    if allowed {
        return Ok(());
    }
    Err(match needed_for(command) {
        Needed::ManagerOrHr => lang.pick(
            "只有部门主管和 HR 可以加减分或撤销。",
            "Only managers and HR can award, deduct or revoke points.",
        ),
        Needed::Hr => lang.pick(
            "只有 HR 管理员可以这样做。",
            "Only an HR admin can do that.",
        ),
        _ => lang.pick(
            "只有 HR 和审计员可以查看审计记录。",
            "Only HR and auditors can read the audit trail.",
        ),
    }
    .to_string())
}

/// `Err` with the reply when an award of `points` would take a manager past `budget`,
/// having awarded `used` this month.
pub fn within_budget(budget: i64, used: i64, points: i64, lang: Lang) -> Result<(), String> {
    if points <= 0 || used.saturating_add(points) <= budget {
        return Ok(());
    }
    let left = (budget - used).max(0);
    Err(match lang {
        Lang::Zh => format!(
            "超出本月预算：预算 {budget} 分，已用 {used} 分，还剩 {left} 分，不够 {points} 分。"
        ),
        Lang::En => format!(
            "Over this month's budget: {budget} points, {used} used, {left} left, not enough for {points}."
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::command::Window;
    use crate::domain::Month;

    fn config() -> RoleConfig {
        RoleConfig {
            hr_admins: vec!["hr".into()],
            auditors: vec!["audit".into()],
            managers: BTreeMap::from([("boss".into(), vec!["sales".into()])]),
        }
    }

    #[test]
    fn roles_come_from_config_and_department_leaders() {
        let c = config();
        assert_eq!(Roles::of("zhangwei", &c, &["rd".into()]).manages, ["rd"]);
        assert_eq!(
            Roles::of("boss", &c, &["rd".into()]).manages,
            ["rd", "sales"]
        );
        assert!(Roles::of("hr", &c, &[]).hr_admin);
        assert!(Roles::of("audit", &c, &[]).auditor);
        assert_eq!(Roles::of("lina", &c, &[]), Roles::default());
    }

    #[test]
    fn each_command_needs_its_role() {
        let employee = Roles::default();
        let manager = Roles {
            manages: vec!["rd".into()],
            ..Roles::default()
        };
        let hr = Roles {
            hr_admin: true,
            ..Roles::default()
        };
        let auditor = Roles {
            auditor: true,
            ..Roles::default()
        };
        let adjust = Command::Adjust {
            who: "x".into(),
            points: 5,
            reason: "r".into(),
        };
        let cases: Vec<(Command, [bool; 4])> = vec![
            // employee, manager, HR, auditor
            (Command::Points, [true, true, true, true]),
            (
                Command::Rank {
                    window: Window::Week,
                    department: true,
                },
                [true, true, true, true],
            ),
            (Command::Help, [true, true, true, true]),
            (adjust, [false, true, true, false]),
            (
                Command::Revoke {
                    entry: 1,
                    reason: "r".into(),
                },
                [false, true, true, false],
            ),
            (Command::Approve { entry: 1 }, [false, false, true, false]),
            (
                Command::Budget {
                    who: "x".into(),
                    points: 1,
                },
                [false, false, true, false],
            ),
            (
                Command::Export {
                    month: Month::new(2026, 10).unwrap(),
                },
                [false, false, true, false],
            ),
            (Command::Audit { who: None }, [false, false, true, true]),
        ];
        for (command, expected) in cases {
            let got = [&employee, &manager, &hr, &auditor]
                .map(|roles| may_run(roles, &command, Lang::En).is_ok());
            assert_eq!(got, expected, "{command:?}");
        }
    }

    #[test]
    fn a_manager_covers_their_departments_and_those_below() {
        let manager = Roles {
            manages: vec!["rd".into()],
            ..Roles::default()
        };
        // Someone in 前端组 (rd-web under rd): departments_of lists rd-web, rd and 1.
        assert!(manager.covers(&["1".into(), "rd".into(), "rd-web".into()]));
        assert!(!manager.covers(&["1".into(), "sales".into()]));
    }

    #[test]
    fn budgets_stop_awards_not_deductions() {
        assert_eq!(within_budget(100, 90, 10, Lang::En), Ok(()));
        assert_eq!(
            within_budget(100, 90, 11, Lang::En),
            Err(
                "Over this month's budget: 100 points, 90 used, 10 left, not enough for 11.".into()
            )
        );
        assert_eq!(within_budget(0, 0, -50, Lang::Zh), Ok(()));
        assert!(
            within_budget(100, 120, 1, Lang::Zh)
                .unwrap_err()
                .contains("还剩 0 分")
        );
    }
}
