//! `jifen emulator`: the DingTalk stand-in on a port, wired to this config's callback keys,
//! with the environment a `jifen serve` needs to use it.

use crate::say;
use std::process::ExitCode;

use anyhow::Context;

use super::shutdown_signal;
use crate::config::Config;

pub(super) async fn run_emulator(
    config: &Config,
    listen: std::net::SocketAddr,
    (seed, people): (u64, usize),
    callback_url: Option<String>,
    robot_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    use crate::emulator::{self, EmulatorSettings, org};
    let settings = EmulatorSettings {
        seed,
        people,
        ..EmulatorSettings::default()
    };
    let shutdown = shutdown_signal()?;
    let running = emulator::start(settings, listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let base = running.base_url();
    match config.callback_keys()? {
        Some(keys) => {
            let url = callback_url
                .unwrap_or_else(|| format!("http://{}/dingtalk/callback", config.server.listen));
            say!("pushing callbacks to {url}")?;
            running.emulator.set_callback(url, keys.sets[0].clone());
        }
        None => say!(
            "callbacks are off: set JIFEN_DINGTALK_CALLBACK_TOKEN, JIFEN_DINGTALK_AES_KEY and JIFEN_DINGTALK_RECEIVE_ID as for jifen serve"
        )?,
    }
    let robot_url =
        robot_url.unwrap_or_else(|| format!("http://{}/dingtalk/robot", config.server.listen));
    say!("posting robot messages to {robot_url}")?;
    running.emulator.set_robot_url(robot_url);
    say!(
        "DingTalk emulator on {base}: {} people in {} departments",
        running.emulator.org.users.len(),
        running.emulator.org.departments.len()
    )?;
    say!("point jifen at it with:")?;
    say!("  export JIFEN_DINGTALK_API_BASE={base} JIFEN_DINGTALK_OAPI_BASE={base}")?;
    say!(
        "  export JIFEN_DINGTALK_APP_KEY={} JIFEN_DINGTALK_APP_SECRET={} JIFEN_DINGTALK_AGENT_ID={} JIFEN_DINGTALK_ROBOT_CODE={}",
        org::APP_KEY,
        org::APP_SECRET,
        org::AGENT_ID,
        org::APP_KEY
    )?;
    say!("messages sent to employees: GET {base}/_emulator/messages")?;
    say!(
        "push a day's check-ins: curl -X POST {base}/_emulator/checkins -H 'content-type: application/json' -d '{{\"date\":\"2026-11-02\"}}'"
    )?;
    say!(
        "write to the robot as 王芳 (HR): curl -X POST {base}/_emulator/robot -H 'content-type: application/json' -d '{{\"from\":\"manager4220\",\"text\":\"帮助\"}}'"
    )?;
    say!(
        "  (answers appear in the messages above, channel robot_session; add JIFEN_HR_ADMINS=manager4220 to jifen serve)"
    )?;
    shutdown.await;
    running.stop().await;
    Ok(ExitCode::SUCCESS)
}
