//! The app manifest (manifest/): what the DingTalk developer console must give jifen. Printed
//! as an administrator's checklist, and checked against the config and the rules so a missing
//! permission or form shows up before the first event does. The check is pure.

use std::path::Path;

use serde::Deserialize;

use crate::config::Config;
use crate::domain::REDEMPTION_FIELD;
use crate::rules::{Points, RuleSet};

pub const APP_MANIFEST: &str = include_str!("../manifest/app.toml");
pub const FORMS_MANIFEST: &str = include_str!("../manifest/approval-forms.toml");

#[derive(Debug, Deserialize)]
pub struct AppManifest {
    pub app: AppSection,
    pub permission: Vec<Permission>,
    pub events: EventsSection,
    pub robot: RobotSection,
    pub micro_app: MicroAppSection,
    #[serde(default)]
    pub card: Vec<CardTemplate>,
}

#[derive(Debug, Deserialize)]
pub struct AppSection {
    pub kind: String,
    pub credentials: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Permission {
    pub name: String,
    pub why: String,
    pub calls: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct EventsSection {
    pub callback_path: String,
    pub subscribe: Vec<Subscription>,
}

#[derive(Debug, Deserialize)]
pub struct Subscription {
    pub event: String,
    pub why: String,
}

#[derive(Debug, Deserialize)]
pub struct RobotSection {
    pub message_path: String,
    pub why: String,
}

#[derive(Debug, Deserialize)]
pub struct MicroAppSection {
    pub home_path: String,
}

/// An interactive card's template, as the card platform must build it.
#[derive(Debug, Deserialize)]
pub struct CardTemplate {
    pub name: String,
    /// The config key taking its template id.
    pub config: String,
    pub variables: Vec<CardVariable>,
    pub buttons: Vec<CardButton>,
}

#[derive(Debug, Deserialize)]
pub struct CardVariable {
    pub name: String,
    pub what: String,
}

#[derive(Debug, Deserialize)]
pub struct CardButton {
    pub label: String,
    pub action: String,
}

#[derive(Debug, Deserialize)]
pub struct FormsManifest {
    pub form: Vec<Form>,
}

#[derive(Debug, Deserialize)]
pub struct Form {
    pub process_code: String,
    pub name: String,
    #[serde(default)]
    pub purpose: String,
    pub rules: Vec<String>,
    /// The 积分兑换 form: the processor reads it itself, not through the rules.
    #[serde(default)]
    pub redemption: bool,
    pub fields: Vec<Field>,
}

#[derive(Debug, Deserialize)]
pub struct Field {
    pub label: String,
    pub component: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid manifest: {message}")]
    Invalid { path: String, message: String },
}

/// The manifest in `dir` when it is there (an organisation may edit it with its rules),
/// otherwise the one shipped inside the binary.
pub fn load(dir: &Path) -> Result<(AppManifest, FormsManifest), ManifestError> {
    let read = |name: &str, shipped: &'static str| -> Result<(String, String), ManifestError> {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((path.display().to_string(), text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok((format!("{name} (built in)"), shipped.to_string()))
            }
            Err(source) => Err(ManifestError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    };
    let (app_path, app_text) = read("app.toml", APP_MANIFEST)?;
    let app = toml::from_str(&app_text).map_err(|e| invalid(&app_path, e))?;
    let (forms_path, forms_text) = read("approval-forms.toml", FORMS_MANIFEST)?;
    let forms = toml::from_str(&forms_text).map_err(|e| invalid(&forms_path, e))?;
    Ok((app, forms))
}

fn invalid(path: &str, e: toml::de::Error) -> ManifestError {
    ManifestError::Invalid {
        path: path.to_string(),
        message: e.message().to_string(),
    }
}

/// The administrator's checklist for the developer console.
pub fn checklist(app: &AppManifest, forms: &FormsManifest) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("DingTalk app: {}", app.app.kind));
    for c in &app.app.credentials {
        line(format!("  [ ] {c}"));
    }
    line("\nPermissions (权限管理):".into());
    for p in &app.permission {
        line(format!(
            "  [ ] {} — {} ({})",
            p.name,
            p.why,
            p.calls.join(", ")
        ));
    }
    line("\nEvent subscription (事件订阅), one of:".into());
    line("  Stream mode (推送方式 → Stream 模式推送): ingress.mode = \"stream\" (JIFEN_INGRESS_MODE); jifen opens the connection, no public address or callback keys".into());
    line(format!(
        "  HTTP (推送方式 → HTTP 推送): https://<your jifen host>{}",
        app.events.callback_path
    ));
    line("  [ ] token → JIFEN_DINGTALK_CALLBACK_TOKEN, aes_key → JIFEN_DINGTALK_AES_KEY, corpId → JIFEN_DINGTALK_RECEIVE_ID (HTTP only)".into());
    for s in &app.events.subscribe {
        line(format!("  [ ] {} — {}", s.event, s.why));
    }
    line(format!(
        "\nRobot (机器人): message receiving (消息接收模式) Stream mode, or HTTP with the URL https://<your jifen host>{} — {}",
        app.robot.message_path, app.robot.why
    ));
    line("  [ ] robotCode → JIFEN_DINGTALK_ROBOT_CODE".into());
    line(format!(
        "\nMicro-app (网页应用): home page https://<your jifen host>{}",
        app.micro_app.home_path
    ));
    for card in &app.card {
        line(format!(
            "\nInteractive card (卡片平台), optional: {} — its template id → {} (needs Stream mode)",
            card.name, card.config
        ));
        for v in &card.variables {
            line(format!("        variable {} — {}", v.name, v.what));
        }
        for b in &card.buttons {
            line(format!("        button {} — {}", b.label, b.action));
        }
    }
    line("\nApproval forms (审批表单) jifen reads; labels must match exactly:".into());
    for f in &forms.form {
        let read_by = if f.redemption {
            "the rewards shop".to_string()
        } else {
            format!("rules: {}", f.rules.join(", "))
        };
        line(format!(
            "  [ ] {} — process code {} ({read_by})",
            f.name, f.process_code
        ));
        if !f.purpose.is_empty() {
            line(format!("        {}", f.purpose));
        }
        for field in &f.fields {
            let note = field
                .note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            line(format!(
                "        {} ({}){note}",
                field.label, field.component
            ));
        }
    }
    out
}

/// What is missing or inconsistent between the manifest, the config and the rules; empty
/// when everything the rules need has been set up.
pub fn check(
    app: &AppManifest,
    forms: &FormsManifest,
    config: &Config,
    rules: &RuleSet,
) -> Vec<String> {
    let mut problems = Vec::new();
    let d = &config.dingtalk;
    let missing = |set: bool, what: &str, problems: &mut Vec<String>| {
        if !set {
            problems.push(format!("config: {what} is not set"));
        }
    };
    missing(
        d.app_key.is_some(),
        "JIFEN_DINGTALK_APP_KEY (dingtalk.app_key)",
        &mut problems,
    );
    missing(
        d.app_secret.is_some(),
        "JIFEN_DINGTALK_APP_SECRET (dingtalk.app_secret)",
        &mut problems,
    );
    missing(
        d.agent_id.is_some(),
        "JIFEN_DINGTALK_AGENT_ID (dingtalk.agent_id), needed for work notifications",
        &mut problems,
    );
    missing(
        d.robot_code.is_some(),
        "JIFEN_DINGTALK_ROBOT_CODE (dingtalk.robot_code), needed for robot messages",
        &mut problems,
    );
    // Stream mode needs no callback keys: the connection is jifen's own.
    missing(
        !config.ingress.mode.http()
            || d.callback_token.is_some() && d.aes_key.is_some() && d.receive_id.is_some(),
        "the callback keys (JIFEN_DINGTALK_CALLBACK_TOKEN, JIFEN_DINGTALK_AES_KEY, JIFEN_DINGTALK_RECEIVE_ID), or ingress.mode = \"stream\"",
        &mut problems,
    );
    let subscribed = |event: &str| app.events.subscribe.iter().any(|s| s.event == event);
    for (event_type, dingtalk_event) in [
        ("approval.approved", "bpms_instance_change"),
        ("attendance.checked", "attendance_check_record"),
    ] {
        if rules.rules.iter().any(|r| r.event == event_type) && !subscribed(dingtalk_event) {
            problems.push(format!(
                "manifest: rules use {event_type} but the event subscription lacks {dingtalk_event}"
            ));
        }
    }
    for rule in rules
        .rules
        .iter()
        .filter(|r| r.event == "approval.approved")
    {
        let condition = rule
            .when
            .as_ref()
            .map(|c| c.source.as_str())
            .unwrap_or_default();
        let Some(form) = forms.form.iter().find(|f| f.rules.contains(&rule.id)) else {
            problems.push(format!(
                "manifest: no approval form lists rule {} (line {})",
                rule.id, rule.line
            ));
            continue;
        };
        if !condition.contains(&form.process_code) {
            problems.push(format!(
                "rules: rule {} does not test process code {} of form {}",
                rule.id, form.process_code, form.name
            ));
        }
        for field in fields_read(rule) {
            if !form.fields.iter().any(|f| f.label == field) {
                problems.push(format!(
                    "manifest: rule {} reads field {field:?}, which form {} ({}) lacks",
                    rule.id, form.name, form.process_code
                ));
            }
        }
    }
    if let Some(code) = config.redemption_form() {
        match forms
            .form
            .iter()
            .find(|f| f.process_code == code && f.redemption)
        {
            None => problems.push(format!(
                "manifest: rewards.approval_form is {code}, but no form with that process code says redemption = true"
            )),
            Some(form) if !form.fields.iter().any(|f| f.label == REDEMPTION_FIELD) => {
                problems.push(format!(
                    "manifest: form {} ({code}) lacks the field {REDEMPTION_FIELD:?} that names the reward",
                    form.name
                ))
            }
            Some(_) => {}
        }
        if !subscribed("bpms_instance_change") {
            problems.push(
                "manifest: rewards.approval_form is set but the event subscription lacks bpms_instance_change"
                    .into(),
            );
        }
    }
    for form in &forms.form {
        for id in &form.rules {
            if rules.get(id).is_none() {
                problems.push(format!(
                    "manifest: form {} names rule {id}, which the rules file lacks",
                    form.name
                ));
            }
        }
    }
    problems
}

/// Form labels a rule reads: its points field, its target, and `form["…"]` in its condition.
fn fields_read(rule: &crate::rules::Rule) -> Vec<String> {
    let mut paths: Vec<String> = rule.target.iter().map(ToString::to_string).collect();
    if let Points::Field { path, .. } = &rule.points {
        paths.push(path.to_string());
    }
    let mut fields: Vec<String> = paths
        .iter()
        .filter_map(|p| p.strip_prefix("form.").map(str::to_string))
        .collect();
    let condition = rule
        .when
        .as_ref()
        .map(|c| c.source.as_str())
        .unwrap_or_default();
    for piece in condition.split("form[\"").skip(1) {
        if let Some(label) = piece.split('"').next() {
            fields.push(label.to_string());
        }
    }
    fields
}
