//! Every case of the third-party robot-signature vectors (tests/vectors/robot-sign.json):
//! the verdict of `jifen::dingtalk::robot::sign::verify` with the clock at each case's `now_ms`, and
//! the sign we would produce for the accepted ones.

use jifen::dingtalk::robot::sign::{SignError, WINDOW_MS, sign, verify};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string("tests/vectors/robot-sign.json").unwrap())
        .unwrap()
}

fn check(case: &Value) {
    let id = case["id"].as_str().unwrap();
    let secret = case["app_secret"].as_str().unwrap();
    let timestamp = case["timestamp"].as_str();
    let signature = case["sign"].as_str();
    let now: i64 = case["now_ms"].as_str().unwrap().parse().unwrap();
    let verdict = verify(secret, timestamp, signature, now, WINDOW_MS);
    match case["expected"].as_str().unwrap() {
        "accept" => {
            assert_eq!(verdict, Ok(()), "{id}");
            assert_eq!(
                Some(sign(secret, timestamp.unwrap()).as_str()),
                signature,
                "{id}"
            );
        }
        "reject" => assert!(verdict.is_err(), "{id} was accepted"),
        other => panic!("{id}: unknown verdict {other}"),
    }
}

#[test]
fn every_case_gets_the_reference_verdict() {
    let v = vectors();
    let mut checked = 0;
    for list in ["cases", "boundary_cases", "negative_cases"] {
        for case in v[list].as_array().unwrap() {
            check(case);
            checked += 1;
        }
    }
    assert_eq!(checked, 20, "every vector was checked");
}

#[test]
fn each_negative_case_is_refused_for_its_own_reason() {
    let v = vectors();
    let reason = |id: &str| {
        let case = v["negative_cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        let now = case["now_ms"].as_str().unwrap().parse().unwrap();
        verify(
            case["app_secret"].as_str().unwrap(),
            case["timestamp"].as_str(),
            case["sign"].as_str(),
            now,
            WINDOW_MS,
        )
        .unwrap_err()
    };
    assert_eq!(reason("neg_wrong_secret"), SignError::Mismatch);
    assert_eq!(reason("neg_tampered_sign"), SignError::Mismatch);
    assert_eq!(
        reason("neg_timestamp_too_old_3600001ms"),
        SignError::Stale(3600)
    );
    assert_eq!(
        reason("neg_timestamp_in_future_3600001ms"),
        SignError::Stale(-3600)
    );
    assert_eq!(reason("neg_sign_for_other_timestamp"), SignError::Mismatch);
    assert_eq!(reason("neg_urlencoded_sign_in_header"), SignError::Mismatch);
    assert!(matches!(
        reason("neg_timestamp_in_seconds"),
        SignError::Stale(_)
    ));
    assert_eq!(reason("neg_missing_sign_header"), SignError::MissingSign);
}
