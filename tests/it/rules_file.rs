//! The rules file: mistakes are refused with their line, the shipped rules load, and the
//! shipped sample events exercise every shipped rule.

use std::collections::BTreeSet;

use jifen::domain::DomainEvent;
use jifen::rules::{Outcome, evaluate, load_rules, load_rules_file};

use crate::support;

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
            GOOD.replace("points = 1", "points = 1\nrefuse_self = true"),
            vec![(7, "refuse_self needs a `target`")],
        ),
        (
            GOOD.replace("points = 1", "points = 1\nrefuse_self = \"yes\""),
            vec![(7, "refuse_self")],
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
fn the_shipped_rewards_and_badges_load_against_the_shipped_rules() {
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    let catalogue = jifen::rules::load_catalogue_file("config/rewards.toml".as_ref())
        .expect("config/rewards.toml is valid");
    assert!(catalogue.rewards.len() >= 3);
    let book = jifen::rules::load_badges_file("config/badges.toml".as_ref(), &rules)
        .expect("config/badges.toml is valid");
    assert!(book.badges.len() >= 4 && book.levels.len() >= 3);
}

#[test]
fn a_configured_rewards_or_badges_file_that_is_not_there_stops_start_up() {
    let env = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let config = jifen::config::Config::load(
        Some("config/jifen.toml".as_ref()),
        &env("JIFEN_REWARDS", "no-such-rewards.toml"),
    )
    .unwrap();
    let err = config.catalogue().unwrap_err().to_string();
    assert!(
        err.contains("no-such-rewards.toml") && err.contains("JIFEN_REWARDS"),
        "{err}"
    );
    let config = jifen::config::Config::load(
        Some("config/jifen.toml".as_ref()),
        &env("JIFEN_BADGES", "no-such-badges.toml"),
    )
    .unwrap();
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    let err = config.badging(&rules).unwrap_err().to_string();
    assert!(
        err.contains("no-such-badges.toml") && err.contains("JIFEN_BADGES"),
        "{err}"
    );
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
    let (app, forms) = jifen::manifest::load("manifest".as_ref()).unwrap();
    let config = jifen::config::Config::load(
        None,
        &[
            ("JIFEN_DINGTALK_APP_KEY", "k"),
            ("JIFEN_DINGTALK_APP_SECRET", "s"),
            ("JIFEN_DINGTALK_AGENT_ID", "1"),
            ("JIFEN_DINGTALK_ROBOT_CODE", "k"),
            ("JIFEN_DINGTALK_CALLBACK_TOKEN", "t"),
            (
                "JIFEN_DINGTALK_AES_KEY",
                "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo",
            ),
            ("JIFEN_DINGTALK_RECEIVE_ID", "ding1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .unwrap();
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    assert_eq!(
        jifen::manifest::check(&app, &forms, &config, &rules),
        Vec::<String>::new()
    );
    // And the check notices what is wrong.
    let broken = load_rules(
        r#"
[[rule]]
id = "approval.points_request"
name = "奖扣申请"
event = "approval.approved"
when = 'process_code == "PROC-OTHER" && form["加班时长"] == "2"'
points = 1

[[rule]]
id = "stray"
name = "无表单"
event = "approval.approved"
points = 1
"#,
    )
    .unwrap();
    let bare = jifen::config::Config::load(None, &[]).unwrap();
    let problems = jifen::manifest::check(&app, &forms, &bare, &broken).join("\n");
    for expected in [
        "JIFEN_DINGTALK_APP_KEY",
        "JIFEN_DINGTALK_AGENT_ID",
        "does not test process code PROC-JIFEN-POINTS",
        "reads field \"加班时长\"",
        "no approval form lists rule stray",
        "names rule innovation.adopted, which the rules file lacks",
    ] {
        assert!(
            problems.contains(expected),
            "{expected:?} not in:\n{problems}"
        );
    }
}

#[test]
fn the_redemption_form_the_config_names_must_be_in_the_manifest_with_its_reward_field() {
    let (app, forms) = jifen::manifest::load("manifest".as_ref()).unwrap();
    let rules = load_rules_file("config/rules.toml".as_ref()).unwrap();
    let problems = |env: &[(&str, &str)]| {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let config = jifen::config::Config::load(None, &env.collect::<Vec<_>>()).unwrap();
        jifen::manifest::check(&app, &forms, &config, &rules)
            .into_iter()
            .filter(|p| p.contains("approval_form") || p.contains("奖品"))
            .collect::<Vec<_>>()
    };
    assert_eq!(problems(&[]), Vec::<String>::new(), "the shipped form");
    assert_eq!(
        problems(&[("JIFEN_REWARDS_APPROVAL_FORM", "")]),
        Vec::<String>::new(),
        "turned off"
    );
    let other = problems(&[("JIFEN_REWARDS_APPROVAL_FORM", "PROC-JIFEN-POINTS")]);
    assert_eq!(other.len(), 1, "{other:?}");
    assert!(other[0].contains("says redemption = true"), "{other:?}");
    let checklist = jifen::manifest::checklist(&app, &forms);
    assert!(
        checklist.contains("积分兑换 — process code PROC-JIFEN-REDEEM (the rewards shop)"),
        "{checklist}"
    );
}

#[test]
fn the_manifest_names_every_variable_the_cards_fill() {
    use jifen::honor::{LIKED_PARAM, MY_PLACE_PARAM, card_params};
    let (app, _) = jifen::manifest::load("manifest".as_ref()).unwrap();
    let card = app
        .card
        .iter()
        .find(|c| c.config == "cards.honor_board_template")
        .unwrap();
    let listed: std::collections::BTreeSet<&str> =
        card.variables.iter().map(|v| v.name.as_str()).collect();
    let shared = card_params("2026-11-16 – 11-22", &[], None, None);
    let filled: std::collections::BTreeSet<&str> = shared
        .keys()
        .map(String::as_str)
        .chain([MY_PLACE_PARAM, LIKED_PARAM])
        .collect();
    assert_eq!(listed, filled);
    let card = app
        .card
        .iter()
        .find(|c| c.config == "cards.leaderboard_template")
        .unwrap();
    let listed: std::collections::BTreeSet<&str> =
        card.variables.iter().map(|v| v.name.as_str()).collect();
    let shared = jifen::bot::card::leaderboard_params(
        "本月排行 · 全公司",
        &[],
        "11-23 09:00",
        jifen::bot::command::Lang::Zh,
    );
    let filled: std::collections::BTreeSet<&str> = shared
        .keys()
        .map(String::as_str)
        .chain([MY_PLACE_PARAM])
        .collect();
    assert_eq!(listed, filled);
}

const INSPECTION: &str = r#"[[event_type]]
name = "mes.safety_inspection"
fields = { line = "text", score = "number", passed = "flag" }

[[rule]]
id = "mes.inspection_passed"
name = "安全巡检通过"
event = "mes.safety_inspection"
when = 'passed && score >= 90'
points = 3
"#;

#[test]
fn another_systems_event_type_is_declared_with_its_fields_and_rules_read_them() {
    let rules = load_rules(INSPECTION).unwrap();
    let declared = rules.event_type("mes.safety_inspection").unwrap();
    assert_eq!(declared.fields.len(), 3);
    let event = |score: i64, passed: bool| DomainEvent {
        kind: "mes.safety_inspection".into(),
        source_key: format!("api:mes:{score}:{passed}"),
        userid: "lina".into(),
        occurred_at: "2026-11-03T02:00:00Z".parse().unwrap(),
        departments: vec![],
        data: serde_json::json!({"line": "L3", "score": score, "passed": passed})
            .as_object()
            .cloned()
            .unwrap(),
    };
    let calendar = support::shanghai();
    let fired = |e: &DomainEvent| {
        evaluate(&rules, e, &calendar)
            .iter()
            .filter(|o| matches!(o, Outcome::Fired(_)))
            .count()
    };
    assert_eq!(fired(&event(95, true)), 1);
    assert_eq!(fired(&event(95, false)), 0);
    assert_eq!(fired(&event(80, true)), 0);

    let cases = [
        (
            INSPECTION.replace("score >= 90", "grade >= 90"),
            "line 9: condition uses unknown variable grade",
        ),
        (
            INSPECTION.replace("\"number\"", "\"integer\""),
            "line 3: field `score` must be \"number\", \"text\" or \"flag\"",
        ),
        (
            INSPECTION.replace(
                "mes.safety_inspection\"\nfields",
                "approval.approved\"\nfields",
            ),
            "line 2: `approval.approved` is made by jifen from DingTalk's events",
        ),
        (
            INSPECTION.replace(
                "name = \"mes.safety_inspection\"",
                "name = \"MES Inspection\"",
            ),
            "line 2: event type `MES Inspection` must be lowercase words joined by dots",
        ),
        (
            INSPECTION.replace(
                "fields = { line = \"text\", score = \"number\", passed = \"flag\" }\n",
                "",
            ),
            "line 1: missing required key `fields`",
        ),
        (
            INSPECTION.replace("line = \"text\"", "userid = \"text\""),
            "line 3: field `userid` is a variable every event has",
        ),
        (
            format!(
                "{INSPECTION}\n[[event_type]]\nname = \"mes.safety_inspection\"\nfields = {{}}\n"
            ),
            "line 12: event type `mes.safety_inspection` is declared twice, first at line 1",
        ),
        (
            INSPECTION.replace(
                "event = \"mes.safety_inspection\"",
                "event = \"mes.safety_inspections\"",
            ),
            "unknown event type `mes.safety_inspections`; known: attendance.checked, attendance.month_summary, approval.approved, mes.safety_inspection",
        ),
    ];
    for (text, want) in cases {
        let said: Vec<String> = load_rules(&text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            said.iter().any(|p| p.contains(want)),
            "{want:?} not in {said:?}"
        );
    }
}
