//! Who may do what. HR admins and auditors come from config; managers are DingTalk's
//! department leaders plus any named in config. Checked before a command touches the
//! ledger; pure, so the whole permission table is tested without a database.

use std::collections::BTreeMap;

use super::command::{Change, Command, Question};
use crate::domain::RedemptionStep;

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
        Command::Ask(Question::Points)
        | Command::Ask(Question::Rank { .. })
        | Command::Ask(Question::History { .. })
        | Command::Ask(Question::Rules)
        | Command::Ask(Question::Help)
        | Command::Ask(Question::Rewards)
        | Command::Ask(Question::Redemptions)
        | Command::Ask(Question::Appeals)
        | Command::Ask(Question::Badges)
        | Command::Ask(Question::Challenges)
        | Command::Do(Change::Redeem { .. })
        | Command::Do(Change::Appeal { .. })
        | Command::Do(Change::Recognise { .. }) => Needed::Anyone,
        Command::Do(Change::Decide { .. }) | Command::Do(Change::GrantBadge { .. }) => Needed::Hr,
        // Cancelling is open to anyone; the ledger lets only the redemption's person do it.
        Command::Do(Change::Redemption { step, .. }) => match step {
            RedemptionStep::Cancel => Needed::Anyone,
            _ => Needed::Hr,
        },
        Command::Do(Change::Adjust { .. }) | Command::Do(Change::Revoke { .. }) => {
            Needed::ManagerOrHr
        }
        Command::Do(Change::Approve { .. })
        | Command::Do(Change::Reject { .. })
        | Command::Do(Change::Budget { .. })
        | Command::Do(Change::Export { .. }) => Needed::Hr,
        Command::Ask(Question::Audit { .. }) => Needed::HrOrAuditor,
    }
}

/// `Err` with the role needed when `roles` may not run `command` at all.
pub fn may_run(roles: &Roles, command: &Command) -> Result<(), Needed> {
    let needed = needed_for(command);
    let allowed = match needed {
        Needed::Anyone => true,
        Needed::ManagerOrHr => roles.hr_admin || roles.is_manager(),
        Needed::Hr => roles.hr_admin,
        Needed::HrOrAuditor => roles.hr_admin || roles.auditor,
    };
    if allowed { Ok(()) } else { Err(needed) }
}

/// An award a manager's budget does not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    pub budget: i64,
    /// Awarded this month already.
    pub used: i64,
    pub points: i64,
}

/// `Err` when an award of `points` would take a manager past `budget`, having awarded
/// `used` this month. Deductions never do.
pub fn within_budget(budget: i64, used: i64, points: i64) -> Result<(), OverBudget> {
    if points <= 0 || used.saturating_add(points) <= budget {
        return Ok(());
    }
    Err(OverBudget {
        budget,
        used,
        points,
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
        let adjust = Command::Do(Change::Adjust {
            who: "x".into(),
            points: 5,
            reason: "r".into(),
        });
        let cases: Vec<(Command, [bool; 4])> = vec![
            // employee, manager, HR, auditor
            (Command::Ask(Question::Points), [true, true, true, true]),
            (
                Command::Ask(Question::Rank {
                    window: Window::Week,
                    department: true,
                }),
                [true, true, true, true],
            ),
            (Command::Ask(Question::Help), [true, true, true, true]),
            (adjust, [false, true, true, false]),
            (
                Command::Do(Change::Revoke {
                    entry: 1,
                    reason: "r".into(),
                }),
                [false, true, true, false],
            ),
            (
                Command::Do(Change::Approve { entry: 1 }),
                [false, false, true, false],
            ),
            (
                Command::Do(Change::Budget {
                    who: "x".into(),
                    points: 1,
                }),
                [false, false, true, false],
            ),
            (
                Command::Do(Change::Export {
                    month: Month::new(2026, 10).unwrap(),
                }),
                [false, false, true, false],
            ),
            (
                Command::Ask(Question::Audit { who: None }),
                [false, false, true, true],
            ),
        ];
        for (command, expected) in cases {
            let got =
                [&employee, &manager, &hr, &auditor].map(|roles| may_run(roles, &command).is_ok());
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
        assert_eq!(within_budget(100, 90, 10), Ok(()));
        assert_eq!(
            within_budget(100, 90, 11),
            Err(OverBudget {
                budget: 100,
                used: 90,
                points: 11
            })
        );
        assert_eq!(within_budget(0, 0, -50), Ok(()));
        assert!(within_budget(100, 120, 1).is_err());
    }
}
