//! The rules file: mistakes are refused with their line, the shipped rules load, and the
//! shipped sample events exercise every shipped rule.

use std::collections::BTreeSet;

use jifen::domain::DomainEvent;
use jifen::rules::{Outcome, evaluate, load_rules, load_rules_file};

mod support;

const GOOD: &str = r#"[[rule]]
id = "ontime"
name = "准时打卡"
event = "attendance.checked"
when = 'result == "on_time"'
points = 1
"#;

#[test]
fn mistakes_are_reported_with_their_line() {
    // (rules text, expected problems as (line, part of the message))
    let cases: Vec<(String, Vec<(usize, &str)>)> = vec![
        (
            GOOD.replace("points = 1", "points = 1\npionts = 2"),
            vec![(7, "unknown key `pionts`")],
        ),
        (
            GOOD.replace(r#"'result == "on_time"'"#, r#"'result == '"#),
            vec![(5, "not valid CEL")],
        ),
        (
            GOOD.replace("result ==", "reslt =="),
            vec![(5, "unknown variable reslt")],
        ),
        (
            GOOD.replace("attendance.checked", "attendance.chekced"),
            vec![(4, "unknown event type `attendance.chekced`")],
        ),
        (
            format!("{GOOD}\n{GOOD}"),
            vec![(8, "duplicate rule id `ontime`, first defined at line 1")],
        ),
        (
            GOOD.replace(
                "points = 1",
                "points = { field = \"minutes_late\", min = 10, max = -10 }",
            ),
            vec![(6, "impossible bounds")],
        ),
        (
            GOOD.replace(
                "points = 1",
                "points = { field = \"form.x\", min = 1, max = 5 }",
            ),
            vec![(6, "points.field `form.x` is not a field of this event")],
        ),
        (
            GOOD.replace("points = 1", "points = 0"),
            vec![(6, "points = 0 never changes anything")],
        ),
        (
            GOOD.replace("points = 1\n", ""),
            vec![(1, "missing required key `points`")],
        ),
        (
            GOOD.replace("points = 1", "points = 1\ncaps = { month = 0 }"),
            vec![(7, "caps.month must be a positive integer")],
        ),
        (
            GOOD.replace("points = 1", "points = 1\ncaps = { fortnight = 3 }"),
            vec![(7, "unknown cap period `caps.fortnight`")],
        ),
        (
            GOOD.replace(
                "points = 1",
                "points = 1\neffective_from = 2026-12-01\neffective_until = 2026-01-01",
            ),
            vec![(8, "before effective_from")],
        ),
        (
            GOOD.replace("points = 1", "points = 1\nnotify = \"loud\""),
            vec![(7, "notify must be immediate, digest or none")],
        ),
        (
            GOOD.replace("points = 1", "points = 1\nreview = \"yes\""),
            vec![(7, "review must be true or false")],
        ),
        (
            GOOD.replace("points = 1", "points = 1\nversion = 0"),
            vec![(7, "version must be 1 or more")],
        ),
        (
            GOOD.replace("points = 1", "points = 1\ntarget = \"form.\""),
            vec![(7, "is not a field path")],
        ),
        (
            format!("title = \"x\"\n{GOOD}"),
            vec![(1, "unknown top-level key `title`")],
        ),
        (GOOD.replace("points = 1", "points = 1 1"), vec![(6, "")]),
        // Several mistakes are all reported, in line order.
        (
            GOOD.replace("result ==", "reslt ==")
                .replace("points = 1", "points = 0\ncolour = \"red\""),
            vec![
                (5, "unknown variable reslt"),
                (6, "points = 0"),
                (7, "unknown key `colour`"),
            ],
        ),
    ];
    for (text, expected) in cases {
        let problems = load_rules(&text).expect_err(&text);
        let got: Vec<(usize, String)> = problems
            .iter()
            .map(|p| (p.line, p.message.clone()))
            .collect();
        assert_eq!(got.len(), expected.len(), "{text}\n{got:#?}");
        for ((line, message), (want_line, want)) in got.iter().zip(&expected) {
            assert_eq!(line, want_line, "{message}\nin:\n{text}");
            assert!(
                message.contains(want),
                "{message:?} should contain {want:?}"
            );
        }
    }
}

#[test]
fn the_shipped_rules_load() {
    let rules = load_rules_file("config/rules.toml".as_ref()).expect("config/rules.toml is valid");
    assert!(rules.rules.len() >= 8);
}

#[test]
fn the_sample_events_exercise_every_shipped_rule() {
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    let calendar = support::shanghai();
    let text = std::fs::read_to_string("config/examples/events.jsonl").unwrap();
    let mut fired = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let event: DomainEvent = serde_json::from_str(line).expect(line);
        for outcome in evaluate(&rules, &event, &calendar) {
            match outcome {
                Outcome::Fired(award) => {
                    fired.insert(award.rule_id);
                }
                Outcome::Failed { rule_id, error } => panic!("{rule_id} failed on {line}: {error}"),
                Outcome::NotApplicable { .. } => {}
            }
        }
    }
    let all: BTreeSet<String> = rules.rules.iter().map(|r| r.id.clone()).collect();
    assert_eq!(fired, all, "every rule fires for some sample event");
}

#[test]
fn effective_dates_are_local_and_inclusive() {
    let text = GOOD.replace(
        "points = 1",
        "points = 1\neffective_from = 2026-10-01\neffective_until = \"2026-10-31\"",
    );
    let rules = load_rules(&text).unwrap();
    let calendar = support::shanghai();
    // (instant, applies) — the month is October in Shanghai.
    let cases = [
        ("2026-09-30T15:59:59Z", false),
        ("2026-09-30T16:00:00Z", true),
        ("2026-10-31T15:59:59Z", true),
        ("2026-10-31T16:00:00Z", false),
    ];
    for (at, applies) in cases {
        let event: DomainEvent = serde_json::from_value(serde_json::json!({
            "type": "attendance.checked", "source_key": "k", "userid": "u", "occurred_at": at,
            "data": { "result": "on_time" }
        }))
        .unwrap();
        let outcome = evaluate(&rules, &event, &calendar);
        assert_eq!(
            matches!(outcome[..], [Outcome::Fired(_)]),
            applies,
            "{at}: {outcome:?}"
        );
    }
}

#[test]
fn the_manifest_lists_every_approval_form_the_shipped_rules_use() {
    #[derive(serde::Deserialize)]
    struct Manifest {
        form: Vec<Form>,
    }
    #[derive(serde::Deserialize)]
    struct Form {
        process_code: String,
        rules: Vec<String>,
        fields: Vec<toml::Table>,
    }
    let manifest: Manifest =
        toml::from_str(&std::fs::read_to_string("manifest/approval-forms.toml").unwrap()).unwrap();
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    for rule in rules
        .rules
        .iter()
        .filter(|r| r.event == "approval.approved")
    {
        let form = manifest.form.iter().find(|f| f.rules.contains(&rule.id));
        let form = form.unwrap_or_else(|| {
            panic!(
                "manifest/approval-forms.toml has no form for rule {}",
                rule.id
            )
        });
        let condition = rule
            .when
            .as_ref()
            .map(|c| c.source.as_str())
            .unwrap_or_default();
        assert!(
            condition.contains(&form.process_code),
            "rule {} should test process code {}",
            rule.id,
            form.process_code
        );
    }
    // Every form field a rule reads (points, target, or form["X"] in its condition) is in the manifest.
    for form in &manifest.form {
        let labels: Vec<&str> = form
            .fields
            .iter()
            .filter_map(|f| f.get("label")?.as_str())
            .collect();
        for rule_id in &form.rules {
            let rule = rules
                .get(rule_id)
                .unwrap_or_else(|| panic!("manifest names unknown rule {rule_id}"));
            let mut read: Vec<String> = rule.target.iter().map(ToString::to_string).collect();
            if let jifen::rules::Points::Field { path, .. } = &rule.points {
                read.push(path.to_string());
            }
            let condition = rule
                .when
                .as_ref()
                .map(|c| c.source.clone())
                .unwrap_or_default();
            for piece in condition.split("form[\"").skip(1) {
                read.push(format!("form.{}", piece.split('"').next().unwrap()));
            }
            for field in read.iter().filter_map(|p| p.strip_prefix("form.")) {
                assert!(
                    labels.contains(&field),
                    "rule {rule_id} reads form field {field}, which manifest form {} lacks",
                    form.process_code
                );
            }
        }
    }
}
