//! Rules in plain words, for the people they apply to: what earns or costs how much, at most
//! how much a period, whether HR reviews it, for whom and from when. The robot's `规则` and
//! the employee page's "how to earn" both say it this way. Pure.

use super::{Points, Rule, RuleSet};
use crate::domain::Lang;

/// One rule, said plainly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    pub name: String,
    pub category: String,
    /// `+1`, `-3`, or where a form's number goes (`form.积分, -50 to 50`).
    pub points: String,
    /// Whether it earns (or costs) points.
    pub earns: bool,
    /// Caps, review, scope and dates, each a short phrase.
    pub terms: Vec<String>,
}

/// Every rule, plainly; `department` names a department id.
pub fn describe_all(
    rules: &RuleSet,
    lang: Lang,
    department: &dyn Fn(&str) -> String,
) -> Vec<Plain> {
    rules
        .rules
        .iter()
        .map(|r| describe(r, lang, department))
        .collect()
}

pub fn describe(rule: &Rule, lang: Lang, department: &dyn Fn(&str) -> String) -> Plain {
    let (points, earns) = match &rule.points {
        Points::Fixed(p) => (format!("{p:+}"), *p >= 0),
        Points::Field { path, min, max } => (
            match lang {
                Lang::Zh => format!("{path}（{min} 至 {max}）"),
                Lang::En => format!("{path} ({min} to {max})"),
            },
            *max > 0,
        ),
    };
    let mut terms: Vec<String> = rule
        .caps
        .iter()
        .map(|c| match lang {
            Lang::Zh => format!("{}最多 {}", c.period.name_zh(), c.limit),
            Lang::En => format!("at most {} a {}", c.limit, c.period.name()),
        })
        .collect();
    if rule.review {
        terms.push(lang.pick("需审核", "reviewed by HR").to_string());
    }
    if !rule.departments.is_empty() {
        let names: Vec<String> = rule.departments.iter().map(|d| department(d)).collect();
        terms.push(match lang {
            Lang::Zh => format!("仅限{}", names.join("、")),
            Lang::En => format!("only in {}", names.join(", ")),
        });
    }
    match (rule.effective_from, rule.effective_until, lang) {
        (Some(from), Some(until), Lang::Zh) => terms.push(format!("{from} 至 {until}")),
        (Some(from), Some(until), Lang::En) => terms.push(format!("{from} to {until}")),
        (Some(from), None, Lang::Zh) => terms.push(format!("自 {from} 起")),
        (Some(from), None, Lang::En) => terms.push(format!("from {from}")),
        (None, Some(until), Lang::Zh) => terms.push(format!("至 {until} 止")),
        (None, Some(until), Lang::En) => terms.push(format!("until {until}")),
        (None, None, _) => {}
    }
    Plain {
        name: match lang {
            Lang::Zh => rule.name.clone(),
            Lang::En => rule.name_en.clone(),
        },
        category: rule.category.clone(),
        points,
        earns,
        terms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load_rules;

    fn rules() -> RuleSet {
        load_rules(
            r#"
[[rule]]
id = "a"
name = "准时打卡"
name_en = "On time"
category = "attendance"
event = "attendance.checked"
points = 1
caps = { day = 1, month = 23 }

[[rule]]
id = "b"
name = "知识分享"
name_en = "Sharing"
category = "learning"
event = "approval.approved"
points = { field = "form.积分", min = -5, max = 10 }
review = true
departments = ["rd"]
effective_from = 2026-01-01
effective_until = 2026-12-31
"#,
        )
        .unwrap()
    }

    #[test]
    fn rules_are_said_with_their_points_caps_review_scope_and_dates() {
        let department = |id: &str| {
            if id == "rd" {
                "研发部".into()
            } else {
                id.into()
            }
        };
        let cases = [
            (
                Lang::Zh,
                0,
                "准时打卡",
                "+1",
                vec!["当日最多 1", "本月最多 23"],
            ),
            (
                Lang::Zh,
                1,
                "知识分享",
                "form.积分（-5 至 10）",
                vec!["需审核", "仅限研发部", "2026-01-01 至 2026-12-31"],
            ),
            (
                Lang::En,
                1,
                "Sharing",
                "form.积分 (-5 to 10)",
                vec![
                    "reviewed by HR",
                    "only in 研发部",
                    "2026-01-01 to 2026-12-31",
                ],
            ),
        ];
        let rules = rules();
        for (lang, i, name, points, terms) in cases {
            let plain = describe(&rules.rules[i], lang, &department);
            assert_eq!(
                (plain.name.as_str(), plain.points.as_str(), plain.terms),
                (
                    name,
                    points,
                    terms.iter().map(|t| t.to_string()).collect::<Vec<_>>()
                )
            );
        }
    }
}
