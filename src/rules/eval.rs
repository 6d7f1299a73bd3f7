//! Evaluating rules against one event: which rules fire, for whom, how many points, and why,
//! in Chinese and English. Pure and deterministic; caps are applied later by the ledger,
//! which knows what each person already has.

use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::caps::cap_note;
use super::{CapCheck, CapLimit, FieldPath, NotifyPolicy, Points, Rule, RuleSet};
use crate::domain::{Calendar, DomainEvent, Explanation};

/// What one rule proposes to post for one event, before caps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Award {
    pub rule_id: String,
    /// With the event's source key, what makes the entry unique: the rule's id, or, when a
    /// form names several people, the rule's id and this person's.
    pub rule_key: String,
    pub rule_version: u32,
    pub rule_name: String,
    pub category: String,
    /// Who receives the points.
    pub userid: String,
    /// The person who named them, when the points go to someone an event names (a form's
    /// originator): what they did goes into the audit trail.
    pub named_by: Option<String>,
    pub points: i64,
    pub review: bool,
    pub notify: NotifyPolicy,
    pub caps: Vec<CapLimit>,
    pub scope: Vec<String>,
    /// The event values that fired the rule and computed the points.
    pub inputs: Map<String, Json>,
    /// Pieces of the explanation that do not depend on caps.
    #[serde(skip)]
    wording: Wording,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Wording {
    label: Explanation,
    source: Explanation,
    rule: Explanation,
}

impl Award {
    /// Why the person gets `granted` points: the rule's words, plus the cap that cut the
    /// award, if one did.
    pub fn explain(&self, granted: i64, cut_by: Option<&CapCheck>) -> Explanation {
        let Wording {
            label,
            source,
            rule,
        } = &self.wording;
        let cap = cut_by.map(|c| cap_note(self.points, c)).unwrap_or_default();
        let unit_en = if granted.abs() == 1 {
            "point"
        } else {
            "points"
        };
        let (review_zh, review_en) = if self.review && granted != 0 {
            ("，待审核", ", pending review")
        } else {
            ("", "")
        };
        Explanation {
            zh: format!(
                "{}：{granted:+} 积分{}{}{review_zh}{}",
                label.zh, source.zh, cap.zh, rule.zh
            ),
            en: format!(
                "{}: {granted:+} {unit_en}{}{}{review_en}{}",
                label.en, source.en, cap.en, rule.en
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
// One per matching rule per event, consumed at once; boxing would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    Fired(Award),
    /// The rule matches the event type but does not apply, and why.
    NotApplicable {
        rule_id: String,
        reason: String,
    },
    /// The rule should apply but cannot be computed (a form field is missing or not a number).
    Failed {
        rule_id: String,
        error: String,
    },
}

/// Evaluates every rule for `event.kind`, in file order.
pub fn evaluate(rules: &RuleSet, event: &DomainEvent, calendar: &Calendar) -> Vec<Outcome> {
    let vars = variables(event, calendar);
    let date = calendar.local_date(event.occurred_at);
    rules
        .rules
        .iter()
        .filter(|rule| rule.event == event.kind)
        .flat_map(|rule| {
            let not_applicable = |reason: String| {
                vec![Outcome::NotApplicable {
                    rule_id: rule.id.clone(),
                    reason,
                }]
            };
            if rule.effective_from.is_some_and(|from| date < from) {
                return not_applicable(format!(
                    "not in effect before {}",
                    rule.effective_from.unwrap_or(date)
                ));
            }
            if rule.effective_until.is_some_and(|until| date > until) {
                return not_applicable(format!(
                    "not in effect after {}",
                    rule.effective_until.unwrap_or(date)
                ));
            }
            if let Some(condition) = &rule.when {
                match condition.holds(&vars) {
                    Ok(true) => {}
                    Ok(false) => {
                        return not_applicable(format!(
                            "condition `{}` is false",
                            condition.source
                        ));
                    }
                    Err(error) => {
                        return vec![Outcome::Failed {
                            rule_id: rule.id.clone(),
                            error,
                        }];
                    }
                }
            }
            let awards = targets(rule, event, &vars).and_then(|(targets, shown)| {
                if rule.refuse_self && targets.contains(&event.userid) {
                    return Ok(Err(format!(
                        "{} names themself in {shown}, which this rule refuses",
                        event.userid
                    )));
                }
                let single = targets.len() == 1;
                let named_by = rule.target.as_ref().map(|_| event.userid.clone());
                targets
                    .into_iter()
                    .map(|userid| award(rule, &vars, userid, named_by.clone(), single))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Ok)
            });
            match awards {
                Ok(Ok(awards)) => awards.into_iter().map(Outcome::Fired).collect(),
                Ok(Err(refused)) => not_applicable(refused),
                Err(error) => vec![Outcome::Failed {
                    rule_id: rule.id.clone(),
                    error,
                }],
            }
        })
        .collect()
}

/// Whether a person in `departments` (with their ancestors) is inside a rule's scope.
pub fn scope_allows(scope: &[String], departments: &[String]) -> bool {
    scope.is_empty() || scope.iter().any(|d| departments.contains(d))
}

/// The variables conditions see: the event's data, plus who and when.
fn variables(event: &DomainEvent, calendar: &Calendar) -> Map<String, Json> {
    let date = calendar.local_date(event.occurred_at);
    let mut vars = event.data.clone();
    vars.insert("userid".into(), Json::String(event.userid.clone()));
    vars.insert("date".into(), Json::String(date.to_string()));
    vars.insert(
        "weekday".into(),
        Json::from(date.weekday().to_monday_one_offset()),
    );
    vars
}

/// Who the rule awards: the event's person, or everyone its `target` field names (a form's
/// contact field may name several); and the field's name, for explanations.
fn targets(
    rule: &Rule,
    event: &DomainEvent,
    vars: &Map<String, Json>,
) -> Result<(Vec<String>, String), String> {
    let Some(path) = &rule.target else {
        return Ok((vec![event.userid.clone()], "the event".into()));
    };
    let value = lookup(vars, path)?;
    let people = userids_from(value);
    if people.is_empty() {
        return Err(format!(
            "field {path} should name one or more people, found {value}"
        ));
    }
    Ok((people, path.to_string()))
}

fn award(
    rule: &Rule,
    vars: &Map<String, Json>,
    userid: String,
    named_by: Option<String>,
    single: bool,
) -> Result<Award, String> {
    let mut inputs = Map::new();
    if let Some(condition) = &rule.when {
        for name in condition.variables() {
            if let Some(v) = vars.get(name) {
                inputs.insert(name.clone(), v.clone());
            }
        }
    }
    if let Some(path) = &rule.target {
        inputs.insert(path.to_string(), lookup(vars, path)?.clone());
    }
    let rule_key = if single {
        rule.id.clone()
    } else {
        format!("{}@{userid}", rule.id)
    };

    let name = &rule.name;
    let name_en = &rule.name_en;
    let detail = match &rule.detail {
        Some(path) => match lookup(vars, path) {
            Ok(Json::String(s)) => Some(s.clone()),
            Ok(other) => Some(other.to_string()),
            Err(_) => None,
        },
        None => None,
    };
    let (label_zh, label_en) = match &detail {
        Some(d) => (format!("{name}「{d}」"), format!("{name_en} “{d}”")),
        None => (name.clone(), name_en.clone()),
    };

    let (points, source_zh, source_en) = match &rule.points {
        Points::Fixed(p) => (*p, String::new(), String::new()),
        Points::Field { path, min, max } => {
            let value = lookup(vars, path)?;
            inputs.insert(path.to_string(), value.clone());
            let requested = integer_from(value).ok_or_else(|| {
                format!("field {path} should hold a whole number of points, found {value}")
            })?;
            let points = requested.clamp(*min, *max);
            let (mut zh, mut en) = (
                format!("，取自 {path} = {value}"),
                format!(", from {path} = {value}"),
            );
            if points != requested {
                let bound = if requested > *max {
                    ("上限", "maximum")
                } else {
                    ("下限", "minimum")
                };
                zh.push_str(&format!(
                    "，申请 {requested} 超出规则{} {points}，按 {points} 计",
                    bound.0
                ));
                en.push_str(&format!(
                    "; requested {requested}, beyond the rule's {} {points}, counted as {points}",
                    bound.1
                ));
            }
            (points, zh, en)
        }
    };
    let (cond_zh, cond_en) = match &rule.when {
        Some(c) => (
            format!("；条件 {}", c.source),
            format!("; condition {}", c.source),
        ),
        None => (String::new(), String::new()),
    };
    let wording = Wording {
        label: Explanation {
            zh: label_zh,
            en: label_en,
        },
        source: Explanation {
            zh: source_zh,
            en: source_en,
        },
        rule: Explanation {
            zh: format!("（规则 {} 第 {} 版{cond_zh}）", rule.id, rule.version),
            en: format!(" (rule {} v{}{cond_en})", rule.id, rule.version),
        },
    };
    Ok(Award {
        rule_id: rule.id.clone(),
        rule_key,
        rule_version: rule.version,
        rule_name: rule.name.clone(),
        category: rule.category.clone(),
        userid,
        named_by,
        points,
        review: rule.review,
        notify: rule.notify,
        caps: rule.caps.clone(),
        scope: rule.departments.clone(),
        inputs,
        wording,
    })
}

fn lookup<'a>(vars: &'a Map<String, Json>, path: &FieldPath) -> Result<&'a Json, String> {
    let mut current = vars.get(path.root());
    for part in &path.0[1..] {
        current = current.and_then(|v| v.get(part));
    }
    current.ok_or_else(|| format!("the event has no field {path}"))
}

/// The userids a field names: one (text or a number), or a list of them (DingTalk's
/// contact field), each once, in order; empty when it names nobody usable.
fn userids_from(value: &Json) -> Vec<String> {
    let one = |v: &Json| match v {
        Json::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let mut people: Vec<String> = match value {
        Json::Array(items) => {
            let listed: Vec<Option<String>> = items.iter().map(one).collect();
            if listed.iter().any(Option::is_none) {
                return Vec::new();
            }
            listed.into_iter().flatten().collect()
        }
        other => one(other).into_iter().collect(),
    };
    let mut seen = std::collections::HashSet::new();
    people.retain(|p| seen.insert(p.clone()));
    people
}

/// A whole number from a JSON number or a form's text ("8", "+8", " -3 ", "8.0").
fn integer_from(value: &Json) -> Option<i64> {
    let number = match value {
        Json::Number(n) => return n.as_i64().or_else(|| n.as_f64().and_then(whole)),
        Json::String(s) => s.trim().trim_start_matches('+'),
        _ => return None,
    };
    number
        .parse::<i64>()
        .ok()
        .or_else(|| number.parse::<f64>().ok().and_then(whole))
}

fn whole(f: f64) -> Option<i64> {
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_read_from_numbers_and_form_text() {
        let cases = [
            (json!(8), Some(8)),
            (json!("8"), Some(8)),
            (json!(" +8 "), Some(8)),
            (json!("-3"), Some(-3)),
            (json!("8.0"), Some(8)),
            (json!(8.5), None),
            (json!("八"), None),
            (json!(""), None),
            (json!(null), None),
            (json!("1e300"), None),
        ];
        for (value, want) in cases {
            assert_eq!(integer_from(&value), want, "{value}");
        }
    }

    #[test]
    fn userids_are_read_from_text_numbers_and_lists_of_people() {
        let cases: [(Json, &[&str]); 7] = [
            (json!("zhangwei"), &["zhangwei"]),
            (json!(["zhangwei"]), &["zhangwei"]),
            (json!(["a", "b", "a"]), &["a", "b"]),
            (json!(["a", {"x": 1}]), &[]),
            (json!([]), &[]),
            (json!("  "), &[]),
            (json!(1001), &["1001"]),
        ];
        for (value, want) in cases {
            assert_eq!(userids_from(&value), want, "{value}");
        }
    }

    #[test]
    fn scope_is_all_when_empty_and_any_overlap_otherwise() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(scope_allows(&[], &s(&["1"])));
        assert!(scope_allows(&s(&["2", "3"]), &s(&["1", "3"])));
        assert!(!scope_allows(&s(&["2"]), &s(&["1"])));
        assert!(!scope_allows(&s(&["2"]), &[]));
    }
}
