//! Our client and our emulator against the wire fixtures captured from DingTalk's own SDKs
//! (tests/fixtures/dingtalk, copied from shared/dingtalk/fixtures). The client must send what
//! the SDKs send and read what they read; the emulator must answer with DingTalk's key
//! names and accept the Java SDK's habit of sending numbers as strings.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use jifen::dingtalk::card::CardSpace;
use jifen::dingtalk::openapi::verdict::{Failure, Verdict, judge_newapi, judge_oapi};
use jifen::dingtalk::openapi::{CardUpdate, Message, NewCard, OpenApiClient, OpenApiSettings};
use jifen::emulator::org::{APP_KEY, APP_SECRET};
use jifen::emulator::{self, EmulatorSettings};
use secrecy::SecretString;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/dingtalk/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect(&path)
}

/// What a request looked like on the wire.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: HashMap<String, String>,
    token_header: Option<String>,
    body: Value,
}

type Log = Arc<Mutex<Vec<Recorded>>>;

/// A server that answers each path with its fixture's response and records the requests.
async fn recorder(fixtures: Vec<Value>) -> (String, Log) {
    let log: Log = Arc::default();
    let answers: HashMap<String, Value> = fixtures
        .into_iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["response"].clone(),
            )
        })
        .collect();
    let state = (log.clone(), Arc::new(answers));
    let app = axum::Router::new()
        .fallback(
            |State((log, answers)): State<(Log, Arc<HashMap<String, Value>>)>,
             method: Method,
             uri: Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                let query = uri.query().map(url_pairs).unwrap_or_default();
                log.lock().unwrap().push(Recorded {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    query,
                    token_header: headers
                        .get("x-acs-dingtalk-access-token")
                        .map(|v| v.to_str().unwrap().to_string()),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                let answer = &answers[uri.path()];
                (
                    axum::http::StatusCode::from_u16(answer["status"].as_u64().unwrap() as u16)
                        .unwrap(),
                    axum::Json(answer["body"].clone()),
                )
                    .into_response()
            },
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), log)
}

fn url_pairs(query: &str) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("http://recorder/?{query}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn settings(base: &str) -> OpenApiSettings {
    let mut s = OpenApiSettings::new(APP_KEY.into(), SecretString::from(APP_SECRET));
    s.api_base = base.into();
    s.oapi_base = base.into();
    s.agent_id = Some(3052715634);
    s.robot_code = Some(APP_KEY.into());
    s.max_attempts = 1;
    s
}

/// Every key we send is one the SDK sends, with the SDK's value (JSON strings compared
/// decoded, as the fixtures' README asks).
fn assert_subset(sent: &Value, sdk: &Value, at: &str) {
    match (sent, sdk) {
        (Value::Object(ours), Value::Object(theirs)) => {
            for (k, v) in ours {
                let theirs = theirs
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}: we send {k:?}, the SDK does not"));
                assert_subset(v, theirs, &format!("{at}.{k}"));
            }
        }
        (Value::String(a), Value::String(b)) if a != b => {
            let (a, b): (Value, Value) = (
                serde_json::from_str(a).unwrap_or_else(|_| panic!("{at}: {a:?} != {b:?}")),
                serde_json::from_str(b).unwrap_or_else(|_| panic!("{at}: {a:?} != {b:?}")),
            );
            assert_eq!(a, b, "{at}");
        }
        _ => assert_eq!(sent, sdk, "{at}"),
    }
}

#[tokio::test]
async fn the_client_sends_what_dingtalks_sdks_send_and_reads_their_answers() {
    let names = [
        "newapi-oauth2-get-access-token.json",
        "newapi-workflow-get-process-instance.json",
        "newapi-robot-batch-send-oto.json",
        "newapi-robot-org-group-send.json",
        "newapi-card-create-and-deliver.json",
        "newapi-card-update-card.json",
        "oapi-attendance-list.json",
        "oapi-topapi-attendance-getupdatedata.json",
        "oapi-topapi-v2-user-get.json",
        "oapi-topapi-v2-department-listsub.json",
        "oapi-topapi-user-listid.json",
        "oapi-topapi-v2-user-getuserinfo.json",
        "oapi-topapi-message-corpconversation-asyncsend-v2.json",
        "oapi-topapi-message-corpconversation-getsendresult.json",
        "oapi-topapi-callback-failrecord-list.json",
    ];
    let fixtures: HashMap<&str, Value> = names.iter().map(|n| (*n, fixture(n))).collect();
    let (base, log) = recorder(fixtures.values().cloned().collect()).await;
    let client = OpenApiClient::new(settings(&base)).unwrap();
    let li = "281826612426286785".to_string();

    let instance = client
        .process_instance("Yx3kR8vNTm2qLwZ5pH7sAg03821716185263")
        .await
        .unwrap();
    assert_eq!(instance.originator_user_id, "manager4220");
    assert_eq!(instance.form_component_values.len(), 4);
    let picker = &instance.form_component_values[1];
    assert!(picker.ext_value.as_deref().unwrap().contains(&li));

    let day = jiff::civil::date(2024, 5, 20);
    let records = client
        .attendance_results(std::slice::from_ref(&li), day, day)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].base_check_time, 1716166800000);
    let update = client.attendance_update(&li, day).await.unwrap();
    assert_eq!(update.attendance_result_list[0].time_result, "Normal");
    let user = client.user(&li).await.unwrap();
    assert_eq!(
        (user.name.as_str(), user.dept_id_list.as_slice()),
        ("李强", &[575401962][..])
    );
    assert_eq!(client.sub_departments(1).await.unwrap().len(), 2);
    assert_eq!(
        client.department_user_ids(575401962).await.unwrap().len(),
        3
    );
    let login = client
        .user_by_login_code("f3a9b1c7e5d24f6a8b0c2d4e6f8a0b1c")
        .await
        .unwrap();
    assert_eq!(login.userid, li);
    let card = Message::ActionCard {
        title: "积分到账".into(),
        text: "### 积分到账\n李强，你获得 **50** 积分".into(),
        button: "查看详情".into(),
        url: "https://points.example.com/my".into(),
    };
    let task = client
        .send_work_notification(&[li.clone(), "manager4220".into()], &card)
        .await
        .unwrap();
    assert_eq!(task, 256271667526);
    let result = client.work_notification_result(task).await.unwrap();
    assert_eq!(result.forbidden_user_id_list, vec!["16842541552397523"]);
    let markdown = Message::Markdown {
        title: "积分到账".into(),
        text: "### 积分到账\n\n李强，你获得 **50** 积分\n\n理由：协助完成五月客户回访".into(),
    };
    let users: Vec<String> = [
        "281826612426286785",
        "manager4220",
        "16842541552397523",
        "0123456789",
    ]
    .map(String::from)
    .to_vec();
    let oto = client.robot_send_to_users(&users, &markdown).await.unwrap();
    assert_eq!(oto.invalid_staff_id_list, vec!["0123456789"]);
    let text = Message::Text {
        content: "李强 获得 50 积分，理由：协助完成五月客户回访".into(),
    };
    client
        .robot_send_to_group("cidqE8f3kVb2T9nR5sLwZ7hYg==", &text)
        .await
        .unwrap();
    let create = &fixtures["newapi-card-create-and-deliver.json"]["request"]["body"];
    let strings =
        |v: &Value| -> BTreeMap<String, String> { serde_json::from_value(v.clone()).unwrap() };
    let params = strings(&create["cardData"]["cardParamMap"]);
    let spaces = [
        CardSpace::Group("cidqE8f3kVb2T9nR5sLwZ7hYg==".into()),
        CardSpace::Robot(li.clone()),
    ];
    let delivered = client
        .create_and_deliver_card(&NewCard {
            template_id: create["cardTemplateId"].as_str().unwrap(),
            out_track_id: create["outTrackId"].as_str().unwrap(),
            params: &params,
            spaces: &spaces,
        })
        .await
        .unwrap();
    assert_eq!(
        delivered
            .iter()
            .map(|d| (d.space_type.as_str(), d.success))
            .collect::<Vec<_>>(),
        [("IM_GROUP", true), ("IM_ROBOT", false)]
    );
    assert_eq!(delivered[1].error_msg, "robot not in conversation");
    let update = &fixtures["newapi-card-update-card.json"]["request"]["body"];
    let private: BTreeMap<String, BTreeMap<String, String>> = update["privateData"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(user, data)| (user.clone(), strings(&data["cardParamMap"])))
        .collect();
    client
        .update_card(&CardUpdate {
            out_track_id: update["outTrackId"].as_str().unwrap(),
            params: Some(&strings(&update["cardData"]["cardParamMap"])),
            private: &private,
        })
        .await
        .unwrap();
    let failed = client
        .failed_callbacks(
            jiff::Timestamp::from_second(1716098863).unwrap(),
            jiff::Timestamp::from_second(1716188863).unwrap(),
            0,
        )
        .await
        .unwrap();
    assert_eq!(failed.failed_list[0].call_back_tag, "bpms_instance_change");

    // Now what went over the wire, request by request, against the SDKs' captures.
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log.iter()
            .filter(|r| r.path == "/v1.0/oauth2/accessToken")
            .count(),
        1,
        "one token for every call"
    );
    let token = fixtures["newapi-oauth2-get-access-token.json"]["response"]["body"]["accessToken"]
        .as_str()
        .unwrap();
    for request in &log {
        let name = names
            .iter()
            .find(|n| fixtures[**n]["path"] == request.path)
            .unwrap();
        let f = &fixtures[*name];
        assert_eq!(request.method, f["method"].as_str().unwrap(), "{name}");
        let sdk_body = &f["request"]["body"];
        assert_subset(&request.body, sdk_body, name);
        if name.starts_with("oapi-") {
            assert_eq!(
                request.query.get("access_token").map(String::as_str),
                Some(token),
                "{name}"
            );
            // Everything we send that the SDK sends, we send with its value: no key missed.
            let missing: Vec<_> = sdk_body
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| request.body.get(*k).is_none())
                .collect();
            let optional = ["dept_id_list", "tags", "status"];
            assert!(
                missing
                    .iter()
                    .all(|k| optional.contains(&k.as_str()) || request.body.get("req").is_some()),
                "{name}: we leave out {missing:?}"
            );
        } else if request.path != "/v1.0/oauth2/accessToken" {
            assert_eq!(request.token_header.as_deref(), Some(token), "{name}");
            let sdk_query: HashMap<String, String> = f["request"]["query"]
                .as_object()
                .map(|q| {
                    q.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(request.query, sdk_query, "{name}");
        }
    }
}

#[test]
fn documented_error_bodies_get_the_documented_treatment() {
    let expect_old = [
        ("invalid_token", "refresh"),
        ("token_expired", "refresh"),
        ("app_qps_limit", "rate"),
        ("global_qps_limit", "rate"),
        ("monthly_quota", "give_up"),
        ("auth_error_88", "give_up"),
        ("top_invalid_method_22", "give_up"),
        ("ip_ban_punish_deny", "ip_ban"),
    ];
    let expect_new = [
        ("invalid_token", "refresh"),
        ("missing_body", "give_up"),
        ("qps_limit_app", "rate"),
        ("qps_limit_global", "rate"),
        ("monthly_quota", "give_up"),
        ("gateway_timeout", "backoff"),
    ];
    let kind = |v: Verdict| match v {
        Verdict::Ok(_) => "ok",
        Verdict::RefreshToken(_) => "refresh",
        Verdict::Backoff(_) => "backoff",
        Verdict::RateLimited(..) => "rate",
        Verdict::GiveUp(Failure::IpBanned { .. }) => "ip_ban",
        Verdict::GiveUp(_) => "give_up",
    };
    for (file, expected, judge) in [
        ("oapi-errors.json", &expect_old[..], true),
        ("newapi-errors.json", &expect_new[..], false),
    ] {
        let cases = fixture(file)["cases"].as_array().unwrap().clone();
        assert_eq!(
            cases.len(),
            expected.len(),
            "{file}: every case has an expectation"
        );
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let status = case["status"].as_u64().unwrap() as u16;
            let body = case["body"].to_string();
            let verdict = if judge {
                judge_oapi(status, body.as_bytes())
            } else {
                judge_newapi(status, None, body.as_bytes())
            };
            let want = expected.iter().find(|(n, _)| *n == name).unwrap().1;
            assert_eq!(kind(verdict), want, "{file} {name}");
        }
    }
}

/// Every key the emulator answers with is one DingTalk uses in the same place.
fn assert_known_keys(ours: &Value, theirs: &Value, at: &str) {
    match (ours, theirs) {
        (Value::Object(ours), Value::Object(theirs)) => {
            for (k, v) in ours {
                let theirs = theirs.get(k).unwrap_or_else(|| {
                    panic!("{at}: the emulator answers {k:?}, DingTalk does not")
                });
                assert_known_keys(v, theirs, &format!("{at}.{k}"));
            }
        }
        (Value::Array(ours), Value::Array(theirs)) => {
            // The items' keys together, since optional keys appear on some items only.
            let mut model = serde_json::Map::new();
            for item in theirs.iter().filter_map(Value::as_object) {
                for (k, v) in item {
                    model.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            if !theirs.is_empty() {
                for item in ours {
                    assert_known_keys(item, &Value::Object(model.clone()), &format!("{at}[]"));
                }
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_emulator_answers_the_sdks_requests_in_dingtalks_shapes() {
    let running = emulator::start(EmulatorSettings::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = running.base_url();
    let emu = &running.emulator;
    let http = reqwest::Client::new();
    // What the fixtures refer to must exist in the emulated organisation.
    let instance = emu
        .file_approval(
            "PROC-JIFEN-POINTS",
            "manager4220",
            &[
                ("对象", "281826612426286785"),
                ("积分", "50"),
                ("事由", "协助完成五月客户回访"),
            ],
            Some("agree"),
            1716186703417,
        )
        .unwrap();
    emu.push("bpms_instance_change", "{}").await; // fails: no URL registered
    let token_fixture = fixture("newapi-oauth2-get-access-token.json");
    let token: Value = http
        .post(format!("{base}/v1.0/oauth2/accessToken"))
        .json(&token_fixture["request"]["body"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_known_keys(&token, &token_fixture["response"]["body"], "accessToken");
    let token = token["accessToken"].as_str().unwrap().to_string();
    let old_token: Value = http
        .get(format!(
            "{base}/gettoken?appkey={APP_KEY}&appsecret={APP_SECRET}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_known_keys(
        &old_token,
        &fixture("oapi-gettoken.json")["response"]["body"],
        "gettoken",
    );

    let mut task_id = None;
    let oapi = [
        "oapi-attendance-list.json",
        "oapi-topapi-attendance-getupdatedata.json",
        "oapi-topapi-v2-user-get.json",
        "oapi-topapi-v2-department-listsub.json",
        "oapi-topapi-user-listid.json",
        "oapi-topapi-v2-user-getuserinfo.json",
        "oapi-topapi-message-corpconversation-asyncsend-v2.json",
        "oapi-topapi-message-corpconversation-getsendresult.json",
        "oapi-topapi-message-corpconversation-getsendprogress.json",
        "oapi-topapi-callback-failrecord-list.json",
    ];
    for name in oapi {
        let f = fixture(name);
        // Both the native JSON and the Java SDK's all-strings form are accepted.
        let native = f["request"]["body"].clone();
        let as_strings = f["java_sdk"]["json_body_as_sent"].clone();
        for (form, mut body) in [("native", native), ("java strings", as_strings)] {
            if body.is_null() {
                continue;
            }
            if name.contains("getuserinfo") {
                body["code"] = json!(emu.login_code("281826612426286785"));
            }
            if name.contains("getsendresult") {
                body["task_id"] = json!(task_id.expect("asyncsend ran first"));
            }
            let answer: Value = http
                .post(format!(
                    "{base}{}?access_token={token}",
                    f["path"].as_str().unwrap()
                ))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(answer["errcode"], 0, "{name} ({form}): {answer}");
            assert_known_keys(&answer, &f["response"]["body"], name);
            if name.contains("asyncsend") {
                task_id = answer["task_id"].as_i64();
            }
        }
    }

    let newapi = [
        "newapi-robot-batch-send-oto.json",
        "newapi-robot-org-group-send.json",
        "newapi-card-create-and-deliver.json",
        "newapi-card-update-card.json",
    ];
    for name in newapi {
        let f = fixture(name);
        let method = Method::from_bytes(f["method"].as_str().unwrap().as_bytes()).unwrap();
        let answer = http
            .request(method, format!("{base}{}", f["path"].as_str().unwrap()))
            .header("x-acs-dingtalk-access-token", &token)
            .json(&f["request"]["body"])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{name}");
        let answer: Value = answer.json().await.unwrap();
        assert_known_keys(&answer, &f["response"]["body"], name);
    }
    // The update changed the card the fixture created, by key.
    let card = emu
        .card("points-Yx3kR8vNTm2qLwZ5pH7sAg03821716185263")
        .unwrap();
    assert_eq!(
        (
            card.params["status"].as_str(),
            card.params["points"].as_str()
        ),
        ("已通过", "50")
    );
    assert_eq!(card.private["0941516526848432"]["canApprove"], "false");
    let f = fixture("newapi-workflow-get-process-instance.json");
    let answer: Value = http
        .get(format!(
            "{base}/v1.0/workflow/processInstances?processInstanceId={}",
            instance.id
        ))
        .header("x-acs-dingtalk-access-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_known_keys(&answer, &f["response"]["body"], "processInstances");
    assert_eq!(answer["result"]["finishTime"], "2024-05-20T06:31Z");

    // Errors come in each family's own shape.
    let bad_token: Value = http
        .post(format!("{base}/topapi/v2/user/get?access_token=nope"))
        .json(&json!({"userid": "manager4220"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad_token["errcode"], 40014);
    let answer = http
        .get(format!(
            "{base}/v1.0/workflow/processInstances?processInstanceId=x"
        ))
        .header("x-acs-dingtalk-access-token", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_known_keys(&body, &f["error_response"]["body"], "error");
    assert_eq!(body["code"], "InvalidAuthentication");
    running.stop().await;
}
