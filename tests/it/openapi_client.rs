//! The OpenAPI client against the DingTalk emulator, over real HTTP: tokens, retries, rate
//! limits, typed errors, and each endpoint jifen uses.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jifen::dingtalk::card::CardSpace;
use jifen::dingtalk::openapi::{
    CardUpdate, Failure, Message, NewCard, OpenApiClient, OpenApiSettings,
};
use jifen::emulator::gate::{Fault, FaultKind};
use jifen::emulator::org::{AGENT_ID, APP_KEY, APP_SECRET};
use jifen::emulator::{self, EmulatorSettings, RunningEmulator};
use jifen::processor::source::DingTalkSource;
use secrecy::SecretString;

const LI_QIANG: &str = "281826612426286785";
const WANG_FANG: &str = "manager4220";

async fn emulator_with(settings: EmulatorSettings) -> RunningEmulator {
    emulator::start(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn emulator() -> RunningEmulator {
    emulator_with(EmulatorSettings::default()).await
}

fn settings(emu: &RunningEmulator) -> OpenApiSettings {
    let mut s = OpenApiSettings::new(APP_KEY.into(), SecretString::from(APP_SECRET));
    s.api_base = emu.base_url();
    s.oapi_base = emu.base_url();
    s.agent_id = Some(AGENT_ID);
    s.robot_code = Some(APP_KEY.into());
    s.timeout = Duration::from_millis(500);
    s.backoff_base = Duration::from_millis(5);
    s.backoff_max = Duration::from_millis(40);
    s.rate_limit_wait = Duration::from_millis(50);
    s
}

fn client(emu: &RunningEmulator) -> OpenApiClient {
    OpenApiClient::new(settings(emu)).unwrap()
}

fn fault(api: &str, kind: FaultKind, times: u32) -> Fault {
    Fault {
        api: api.into(),
        kind,
        times,
    }
}

#[tokio::test]
async fn a_hundred_concurrent_callers_cause_one_token_request() {
    let emu = emulator_with(EmulatorSettings {
        qps_per_api: 1000,
        ..EmulatorSettings::default()
    })
    .await;
    let mut s = settings(&emu);
    s.max_qps_per_api = 1000;
    let client = Arc::new(OpenApiClient::new(s).unwrap());
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .department_user_ids(if i % 2 == 0 { 1 } else { 575401962 })
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(emu.emulator.token_requests(), 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_call_succeeds() {
    let emu = emulator().await;
    let mut s = settings(&emu);
    s.max_attempts = 1; // a refresh costs no attempt
    let client = OpenApiClient::new(s).unwrap();
    client.user(LI_QIANG).await.unwrap();
    emu.emulator.gate.expire_tokens();
    let user = client.user(WANG_FANG).await.unwrap();
    assert_eq!(user.name, "王芳");
    // And on the new API, whose refusal is HTTP 400 InvalidAuthentication.
    let instance = emu
        .emulator
        .file_approval(
            "PROC-JIFEN-TRAINING",
            LI_QIANG,
            &[("学时", "3")],
            Some("agree"),
            0,
        )
        .unwrap();
    emu.emulator.gate.expire_tokens();
    client.process_instance(&instance.id).await.unwrap();
    assert_eq!(emu.emulator.token_requests(), 3);
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retried_until_they_pass() {
    let emu = emulator().await;
    let client = client(&emu);
    let gate = &emu.emulator.gate;
    gate.inject(fault("/topapi/v2/user/get", FaultKind::ServerError, 2));
    gate.inject(fault("/topapi/v2/user/get", FaultKind::Timeout, 1));
    gate.inject(fault(
        "/topapi/v2/user/get",
        FaultKind::Slow { millis: 800 },
        1,
    ));
    assert_eq!(client.user(LI_QIANG).await.unwrap().name, "李强");
    let instance = emu
        .emulator
        .file_approval(
            "PROC-JIFEN-TRAINING",
            LI_QIANG,
            &[("学时", "3")],
            Some("agree"),
            0,
        )
        .unwrap();
    gate.inject(fault(
        "/v1.0/workflow/processInstances",
        FaultKind::ServerError,
        1,
    ));
    gate.inject(fault(
        "/v1.0/workflow/processInstances",
        FaultKind::Timeout,
        1,
    ));
    assert_eq!(
        client.process_instance(&instance.id).await.unwrap().title,
        instance.title
    );
}

#[tokio::test]
async fn a_call_that_keeps_failing_gives_up_after_the_last_attempt_with_the_reason() {
    let emu = emulator().await;
    let client = client(&emu);
    emu.emulator
        .gate
        .inject(fault("/topapi/user/listid", FaultKind::ServerError, 100));
    let error = client.department_user_ids(1).await.unwrap_err();
    assert_eq!(error.attempts, 5);
    assert_eq!(error.failure, Failure::Http { status: 502 });
    assert!(error.to_string().contains("/topapi/user/listid"), "{error}");
}

#[tokio::test]
async fn rate_limit_answers_are_waited_out_on_both_apis() {
    let emu = emulator().await;
    let client = client(&emu);
    let gate = &emu.emulator.gate;
    gate.inject(fault(
        "/topapi/v2/department/listsub",
        FaultKind::RateLimit,
        2,
    ));
    let started = Instant::now();
    assert!(!client.sub_departments(1).await.unwrap().is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "waited twice"
    );
    gate.inject(fault(
        "/v1.0/robot/groupMessages/send",
        FaultKind::RateLimit,
        1,
    ));
    let message = Message::Text {
        content: "早上好".into(),
    };
    client
        .robot_send_to_group("cidTeamA==", &message)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_client_stays_under_dingtalks_forty_calls_a_second() {
    let emu = emulator().await;
    let mut s = settings(&emu);
    s.max_attempts = 1; // a single rate-limit answer would fail a call
    let client = Arc::new(OpenApiClient::new(s).unwrap());
    let started = Instant::now();
    let calls: Vec<_> = (0..60)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .attendance_results(
                        &[LI_QIANG.to_string()],
                        jiff::civil::date(2026, 10, 12),
                        jiff::civil::date(2026, 10, 12),
                    )
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "paced, not bursted"
    );
}

#[tokio::test]
async fn dingtalk_errors_carry_errcode_and_errmsg() {
    let emu = emulator().await;
    let client = client(&emu);
    let error = client.user("nobody").await.unwrap_err();
    assert_eq!(error.errcode(), Some(60121));
    assert!(error.to_string().contains("找不到该用户"), "{error}");
    let error = client
        .process_instance("no-such-instance")
        .await
        .unwrap_err();
    assert!(
        matches!(&error.failure, Failure::Rejected { status: 400, code, .. } if code == "InvalidParameter"),
        "{error:?}"
    );
    // A wrong secret is not retried, and the secret is not in the message.
    let mut s = settings(&emu);
    s.app_secret = SecretString::from("wrong-secret-value");
    let error = OpenApiClient::new(s)
        .unwrap()
        .user(LI_QIANG)
        .await
        .unwrap_err();
    assert_eq!(error.attempts, 1);
    assert!(!format!("{error} {error:?}").contains("wrong-secret-value"));
    assert!(
        error.to_string().contains("invalidClientIdOrSecret"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_dingtalk_is_a_transport_error_without_the_token_in_it() {
    let emu = emulator().await;
    let mut s = settings(&emu);
    s.oapi_base = "http://127.0.0.1:9".into();
    s.max_attempts = 2;
    let client = OpenApiClient::new(s).unwrap();
    let error = client.user(LI_QIANG).await.unwrap_err();
    assert!(matches!(error.failure, Failure::Transport(_)), "{error:?}");
    assert!(!error.to_string().contains("access_token"), "{error}");
}

#[tokio::test]
async fn attendance_results_are_fetched_in_pages_of_fifty_people_and_seven_days() {
    let emu = emulator().await;
    let client = client(&emu);
    let everyone: Vec<String> = emu
        .emulator
        .org
        .users
        .iter()
        .map(|u| u.userid.clone())
        .collect();
    // Ten working days in two calendar weeks, fifty people: 1000 results over several calls.
    let records = client
        .attendance_results(
            &everyone,
            jiff::civil::date(2026, 10, 12),
            jiff::civil::date(2026, 10, 25),
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 50 * 10 * 2);
    let li: Vec<_> = records.iter().filter(|r| r.user_id == LI_QIANG).collect();
    assert_eq!(li.len(), 20);
    assert!(
        li.iter()
            .all(|r| r.check_type == "OnDuty" || r.check_type == "OffDuty")
    );
}

#[tokio::test]
async fn the_processor_source_reads_approval_forms_and_attendance() {
    let emu = emulator().await;
    let client = client(&emu);
    let instance = emu
        .emulator
        .file_approval(
            "PROC-JIFEN-POINTS",
            WANG_FANG,
            &[("对象", LI_QIANG), ("积分", "5"), ("事由", "协助客户回访")],
            Some("agree"),
            1_791_766_800_000,
        )
        .unwrap();
    let detail = DingTalkSource::approval(&client, &instance.id)
        .await
        .unwrap();
    assert_eq!(detail.originator_userid, WANG_FANG);
    let target = detail
        .form_component_values
        .iter()
        .find(|f| f.name == "对象")
        .unwrap();
    assert_eq!(target.value.as_deref(), Some("李强"));
    assert!(target.ext_value.as_deref().unwrap().contains(LI_QIANG));
    let results = DingTalkSource::attendance(
        &client,
        &[LI_QIANG.to_string(), WANG_FANG.to_string()],
        jiff::civil::date(2026, 10, 12),
    )
    .await
    .unwrap();
    assert_eq!(results.len(), 4);
}

#[tokio::test]
async fn the_same_work_notification_twice_a_day_succeeds_but_reaches_nobody_twice() {
    let emu = emulator().await;
    let client = client(&emu);
    let message = Message::ActionCard {
        title: "积分到账".into(),
        text: "你获得 **5** 积分".into(),
        button: "查看".into(),
        url: "https://jifen.example.com/me".into(),
    };
    let to = [LI_QIANG.to_string(), "nobody".to_string()];
    let first = client.send_work_notification(&to, &message).await.unwrap();
    let second = client.send_work_notification(&to, &message).await.unwrap();
    let first = client.work_notification_result(first).await.unwrap();
    assert_eq!(first.unread_user_id_list, vec![LI_QIANG]);
    assert_eq!(first.invalid_user_id_list, vec!["nobody"]);
    let second = client.work_notification_result(second).await.unwrap();
    assert_eq!(second.forbidden_user_id_list, vec![LI_QIANG]);
    let messages = emu.emulator.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].to, vec![LI_QIANG]);
    assert_eq!(messages[0].title, "积分到账");
    assert!(messages[1].to.is_empty());
    assert_eq!(messages[1].forbidden, vec![LI_QIANG]);
}

#[tokio::test]
async fn robot_messages_and_cards_reach_the_emulator() {
    let emu = emulator().await;
    let client = client(&emu);
    let message = Message::Markdown {
        title: "光荣榜".into(),
        text: "### 本周光荣榜".into(),
    };
    let sent = client
        .robot_send_to_users(&[LI_QIANG.to_string(), "nobody".to_string()], &message)
        .await
        .unwrap();
    assert_eq!(sent.invalid_staff_id_list, vec!["nobody"]);
    client
        .robot_send_to_group("cidTeamA==", &message)
        .await
        .unwrap();
    let error = client
        .robot_send_to_group("not-a-group", &message)
        .await
        .unwrap_err();
    assert!(matches!(
        error.failure,
        Failure::Rejected { status: 400, .. }
    ));
    let channels: Vec<_> = emu
        .emulator
        .messages()
        .into_iter()
        .map(|m| (m.channel, m.title))
        .collect();
    assert_eq!(
        channels,
        vec![
            ("robot_oto".to_string(), "光荣榜".to_string()),
            ("robot_group".to_string(), "光荣榜".to_string()),
        ]
    );
}

#[tokio::test]
async fn cards_are_delivered_updated_in_place_and_refused_when_unknown() {
    let emu = emulator().await;
    let client = client(&emu);
    let params: BTreeMap<String, String> =
        [("title", "光荣榜 · 2026-11-16 – 11-22"), ("likes", "0")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
    let spaces = [
        CardSpace::Group("cidTeamA==".into()),
        CardSpace::Robot("nobody".into()),
    ];
    let card = NewCard {
        template_id: "honor.schema",
        out_track_id: "honor-20261116-1",
        params: &params,
        spaces: &spaces,
    };
    let delivered = client.create_and_deliver_card(&card).await.unwrap();
    assert_eq!(
        delivered.iter().map(|d| d.success).collect::<Vec<_>>(),
        [true, false],
        "a person the organisation does not have is not reached"
    );
    // The same card again is the same card: no second message.
    client.create_and_deliver_card(&card).await.unwrap();
    let likes: BTreeMap<String, String> = [("likes".to_string(), "3".to_string())].into();
    let mine = BTreeMap::from([(
        LI_QIANG.to_string(),
        BTreeMap::from([("my_place".to_string(), "第 3 名".to_string())]),
    )]);
    client
        .update_card(&CardUpdate {
            out_track_id: "honor-20261116-1",
            params: Some(&likes),
            private: &mine,
        })
        .await
        .unwrap();
    let held = emu.emulator.card("honor-20261116-1").unwrap();
    assert_eq!(held.params["likes"], "3");
    assert_eq!(
        held.params["title"], "光荣榜 · 2026-11-16 – 11-22",
        "kept by key"
    );
    assert_eq!(held.private[LI_QIANG]["my_place"], "第 3 名");
    let sent: Vec<_> = emu
        .emulator
        .messages()
        .into_iter()
        .map(|m| (m.channel, m.to))
        .collect();
    assert_eq!(sent, [("card".to_string(), vec!["cidTeamA==".to_string()])]);

    let unknown = client
        .update_card(&CardUpdate {
            out_track_id: "never-made",
            params: Some(&likes),
            private: &BTreeMap::new(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(unknown.failure, Failure::Rejected { status: 400, .. }),
        "{unknown}"
    );
    let other = NewCard {
        template_id: "another.schema",
        ..card.clone()
    };
    let taken = client.create_and_deliver_card(&other).await.unwrap_err();
    assert!(taken.to_string().contains("another card"), "{taken}");
    let nowhere = NewCard {
        spaces: &[],
        out_track_id: "honor-20261116-2",
        ..card
    };
    let refused = client.create_and_deliver_card(&nowhere).await.unwrap_err();
    assert!(refused.to_string().contains("openSpaceId"), "{refused}");
}

#[tokio::test]
async fn a_login_code_names_its_user_once() {
    let emu = emulator().await;
    let client = client(&emu);
    let code = emu.emulator.login_code(LI_QIANG);
    assert_eq!(
        client.user_by_login_code(&code).await.unwrap().userid,
        LI_QIANG
    );
    let again = client.user_by_login_code(&code).await.unwrap_err();
    assert_eq!(again.errcode(), Some(40078));
}

#[tokio::test]
async fn the_directory_lists_departments_and_their_people() {
    let emu = emulator().await;
    let client = client(&emu);
    let top = client.sub_departments(1).await.unwrap();
    assert!(top.iter().any(|d| d.name == "华东销售部"));
    let rd = top.iter().find(|d| d.name == "研发中心").unwrap();
    assert_eq!(client.sub_departments(rd.dept_id).await.unwrap().len(), 2);
    let sales = client.department_user_ids(575401962).await.unwrap();
    assert!(sales.contains(&LI_QIANG.to_string()));
    let li = client.user(LI_QIANG).await.unwrap();
    assert_eq!(li.dept_id_list, vec![575401962]);
}

#[tokio::test]
async fn callbacks_that_could_not_be_delivered_are_listed() {
    let emu = emulator().await;
    let client = client(&emu);
    // No callback URL is registered, so the push fails and is kept.
    assert_eq!(
        emu.emulator
            .push_check_ins(LI_QIANG, jiff::civil::date(2026, 10, 12))
            .await,
        0
    );
    let now = jiff::Timestamp::now();
    let page = client
        .failed_callbacks(
            now - jiff::SignedDuration::from_hours(1),
            now + jiff::SignedDuration::from_mins(1),
            0,
        )
        .await
        .unwrap();
    assert!(!page.has_more);
    assert!(!page.failed_list.is_empty());
    assert!(
        page.failed_list
            .iter()
            .all(|f| f.call_back_tag == "attendance_check_record")
    );
    assert!(page.failed_list[0].call_back_data.contains(LI_QIANG));
}
