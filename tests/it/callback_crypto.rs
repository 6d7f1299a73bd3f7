//! Every case of the third-party callback-crypto vectors (tests/vectors/callback-crypto.json).

use jifen::dingtalk::crypto::{CallbackCrypto, CryptoError};
use secrecy::SecretString;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string("tests/vectors/callback-crypto.json").unwrap())
        .unwrap()
}

fn crypto(case: &Value) -> CallbackCrypto {
    CallbackCrypto::new(
        SecretString::from(case["token"].as_str().unwrap().to_string()),
        case["aes_key"].as_str().unwrap(),
        case["receive_id"].as_str().unwrap(),
    )
    .expect("vector key is valid")
}

fn s<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing"))
}

#[test]
fn every_positive_case_verifies_and_decrypts_to_its_plaintext() {
    let v = vectors();
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let c = crypto(case);
        let plain = c
            .verify_and_decrypt(
                s(case, "msg_signature"),
                s(case, "timestamp"),
                s(case, "nonce"),
                s(case, "encrypt"),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", case["id"]));
        assert_eq!(plain, s(case, "plaintext_json"), "{}", case["id"]);
        assert_eq!(
            plain.len() as u64,
            case["plaintext_utf8_len"].as_u64().unwrap(),
            "{}",
            case["id"]
        );
    }
}

#[test]
fn encrypting_with_the_cases_random_prefix_reproduces_encrypt_and_signature() {
    let v = vectors();
    for case in v["cases"].as_array().unwrap() {
        let c = crypto(case);
        let random: [u8; 16] = s(case, "random").as_bytes().try_into().unwrap();
        let encrypt = c.encrypt_with_random(s(case, "plaintext_json"), &random);
        assert_eq!(encrypt, s(case, "encrypt"), "{}", case["id"]);
        assert_eq!(
            c.signature(s(case, "timestamp"), s(case, "nonce"), &encrypt),
            s(case, "msg_signature"),
            "{}",
            case["id"]
        );
    }
}

#[test]
fn success_replies_have_exactly_the_four_fields_dingtalk_expects() {
    let v = vectors();
    let replies: Vec<&Value> = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.get("response_body").is_some())
        .collect();
    assert!(!replies.is_empty());
    for case in replies {
        let expected: Value = match &case["response_body"] {
            Value::String(text) => serde_json::from_str(text).unwrap(),
            other => other.clone(),
        };
        let c = crypto(case);
        let reply = c.reply("success", s(&expected, "timeStamp"), s(&expected, "nonce"));
        let ours = serde_json::to_value(&reply).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&ours), keys(&expected), "{}", case["id"]);
        // Our random prefix differs, so check that DingTalk would accept it: it verifies and decrypts to success.
        let plain = c
            .verify_and_decrypt(
                &reply.msg_signature,
                &reply.time_stamp,
                &reply.nonce,
                &reply.encrypt,
            )
            .unwrap();
        assert_eq!(plain, "success");
        // And the vector's own reply verifies the same way.
        let theirs = c
            .verify_and_decrypt(
                s(&expected, "msg_signature"),
                s(&expected, "timeStamp"),
                s(&expected, "nonce"),
                s(&expected, "encrypt"),
            )
            .unwrap();
        assert_eq!(theirs, "success");
    }
}

#[test]
fn every_negative_case_is_refused_with_its_typed_error() {
    let v = vectors();
    let negatives = v["negative_cases"].as_array().unwrap();
    assert!(negatives.len() >= 10);
    for case in negatives {
        let c = crypto(case);
        let err = c
            .verify_and_decrypt(
                s(case, "msg_signature"),
                s(case, "timestamp"),
                s(case, "nonce"),
                s(case, "encrypt"),
            )
            .expect_err(s(case, "id"));
        let expected: &[CryptoError] = match s(case, "expected_error") {
            "signature_mismatch" => &[CryptoError::SignatureMismatch],
            "receive_id_mismatch" => &[CryptoError::ReceiveIdMismatch],
            "ciphertext_length_not_multiple_of_16" => {
                &[CryptoError::CiphertextLengthNotMultipleOf16]
            }
            "invalid_base64" => &[CryptoError::InvalidBase64],
            "bad_padding" => &[CryptoError::BadPadding],
            "bad_padding_or_length" => &[CryptoError::BadPadding, CryptoError::BadLengthPrefix],
            "bad_length_prefix" => &[CryptoError::BadLengthPrefix],
            "decrypt_garbage" => &[CryptoError::DecryptGarbage],
            other => panic!("unknown expected_error {other}"),
        };
        assert!(
            expected.contains(&err),
            "{}: got {err:?}, want {expected:?}",
            case["id"]
        );
    }
}

#[test]
fn the_go_samples_16_byte_padding_decrypts() {
    let v = vectors();
    let cases = v["go_pad16_interop"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let plain = crypto(case)
            .verify_and_decrypt(
                s(case, "msg_signature"),
                s(case, "timestamp"),
                s(case, "nonce"),
                s(case, "encrypt"),
            )
            .unwrap();
        assert_eq!(plain, s(case, "plaintext_json"));
    }
}

#[test]
fn keys_that_are_not_43_base64_characters_are_refused() {
    for key in [
        "",
        "short",
        "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tG",
        "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tG!",
    ] {
        let err = CallbackCrypto::new(SecretString::from("t".to_string()), key, "id").unwrap_err();
        assert_eq!(err, CryptoError::InvalidAesKey, "{key:?}");
    }
}

#[test]
fn debug_output_never_shows_the_token_or_key() {
    let c = CallbackCrypto::new(
        SecretString::from("tok-secret".to_string()),
        "j64AX6VM2ewMuBY6rfNcAKEIOUttYpATIk27f4t3tGo",
        "ding1",
    )
    .unwrap();
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("tok-secret") && !debug.contains("j64AX"),
        "{debug}"
    );
}
