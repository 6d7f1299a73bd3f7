//! `jifen keys`: API keys for other systems. A new key is printed once and stored only as
//! a hash; listing shows names, prefixes and scopes, never secrets.

use crate::say;
use std::process::ExitCode;

use anyhow::bail;
use jiff::Timestamp;

use super::KeysCommand;
use crate::domain::api_key::{ApiKey, Scope, Scopes, key_text, secret_digest};
use crate::store::Store;

pub(super) async fn keys(store: &dyn Store, command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Create { name, scope } => {
            let name = name.trim().to_string();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                bail!(
                    "a key's name is letters, digits, - _ and . only (e.g. mes-line-3), found {name:?}"
                );
            }
            if scope.is_empty() {
                bail!("give the key at least one --scope: {}", Scope::names());
            }
            let scopes = Scopes::parse(&scope.join(" ")).map_err(|unknown| {
                anyhow::anyhow!(
                    "unknown scope {unknown:?}; the scopes are {}",
                    Scope::names()
                )
            })?;
            let (prefix, secret, text) = key_text(rand::random());
            let key = ApiKey {
                name: name.clone(),
                prefix,
                secret_sha256: secret_digest(&secret),
                scopes,
                created_at: Timestamp::now(),
                revoked_at: None,
            };
            if !store.insert_key(&key).await? {
                bail!(
                    "there is already a key named {name:?} (`jifen keys list`); choose another name"
                );
            }
            say!("{text}")?;
            eprintln!(
                "API key {name:?} created with scopes {}. This is the only time it is shown: \
                 keep it in the other system's secret store, and send it as \
                 Authorization: Bearer <key>.",
                key.scopes.stored()
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::List { json } => {
            for key in store.keys().await? {
                if json {
                    say!("{}", serde_json::to_string(&key)?)?;
                } else {
                    let state = match key.revoked_at {
                        Some(at) => format!("revoked {}", at.strftime("%Y-%m-%d")),
                        None => "live".into(),
                    };
                    say!(
                        "{:<24} jifen_{}_…  {:<32} created {}  {state}",
                        key.name,
                        key.prefix,
                        key.scopes.stored(),
                        key.created_at.strftime("%Y-%m-%d"),
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Revoke { name } => {
            if !store.revoke_key(&name, Timestamp::now()).await? {
                bail!("no live key named {name:?} (`jifen keys list` shows them)");
            }
            say!("revoked {name:?}: requests with it are refused from now on")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
