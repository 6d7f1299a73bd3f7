//! API keys and the answers to idempotent writes. A key is found by its prefix and never
//! stored in the clear; an answer is kept under (key, Idempotency-Key) the first time only.

use async_trait::async_trait;
use jiff::Timestamp;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, sql};
use super::rows::millis;
use crate::domain::api_key::{ApiKey, Scopes};

/// The first answer to a write, as it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub request_sha256: String,
    pub status: u16,
    pub body: String,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new key; false when its name (or, by a one-in-four-billion chance, its
    /// prefix) is taken.
    async fn insert_key(&self, key: &ApiKey) -> Result<bool, StoreError>;
    /// Every key, revoked ones too, by name.
    async fn keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Revokes a live key; false when there is none of that name.
    async fn revoke_key(&self, name: &str, at: Timestamp) -> Result<bool, StoreError>;
    async fn stored_answer(
        &self,
        key_name: &str,
        idempotency_key: &str,
    ) -> Result<Option<StoredAnswer>, StoreError>;
    /// Keeps the answer unless one is kept already (a retry raced the first request).
    async fn store_answer(
        &self,
        key_name: &str,
        idempotency_key: &str,
        answer: &StoredAnswer,
        at: Timestamp,
    ) -> Result<(), StoreError>;
}

const KEY_SELECT: &str =
    "SELECT name, prefix, secret_sha256, scopes, created_at, revoked_at FROM api_keys";

#[derive(sqlx::FromRow)]
struct KeyRow {
    name: String,
    prefix: String,
    secret_sha256: String,
    scopes: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<KeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> Result<ApiKey, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("API key {}: {what}", r.name));
        let time = |ms: i64| millis(ms).ok_or_else(|| corrupt("time out of range"));
        Ok(ApiKey {
            scopes: Scopes::parse(&r.scopes).map_err(|s| corrupt(&format!("scope {s:?}")))?,
            created_at: time(r.created_at)?,
            revoked_at: r.revoked_at.map(time).transpose()?,
            name: r.name,
            prefix: r.prefix,
            secret_sha256: r.secret_sha256,
        })
    }
}

#[async_trait]
impl<B: SqlBackend> KeyStore for B {
    #[instrument(level = "debug", skip(self, key), fields(name = %key.name))]
    async fn insert_key(&self, key: &ApiKey) -> Result<bool, StoreError> {
        let mut c = self.writer().acquire().await?;
        let n = B::Db::execute(
            &mut c,
            sql(
                "INSERT INTO api_keys (name, prefix, secret_sha256, scopes, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .arg(key.name.as_str())
            .arg(key.prefix.as_str())
            .arg(key.secret_sha256.as_str())
            .arg(key.scopes.stored())
            .arg(key.created_at.as_millisecond()),
        )
        .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", skip(self))]
    async fn keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let text = format!("{KEY_SELECT} ORDER BY name");
        let rows: Vec<KeyRow> = B::Db::fetch_all(&mut c, sql(&text)).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    #[instrument(level = "debug", skip(self))]
    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKey>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let text = format!("{KEY_SELECT} WHERE prefix = $1");
        let row: Option<KeyRow> = B::Db::fetch_optional(&mut c, sql(&text).arg(prefix)).await?;
        row.map(TryInto::try_into).transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn revoke_key(&self, name: &str, at: Timestamp) -> Result<bool, StoreError> {
        let mut c = self.writer().acquire().await?;
        let n = B::Db::execute(
            &mut c,
            sql("UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL")
                .arg(name)
                .arg(at.as_millisecond()),
        )
        .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", skip(self))]
    async fn stored_answer(
        &self,
        key_name: &str,
        idempotency_key: &str,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let row: Option<(String, i64, String)> = B::Db::fetch_optional(
            &mut c,
            sql("SELECT request_sha256, status, body FROM api_requests \
                 WHERE key_name = $1 AND idempotency_key = $2")
            .arg(key_name)
            .arg(idempotency_key),
        )
        .await?;
        row.map(|(request_sha256, status, body)| {
            Ok(StoredAnswer {
                request_sha256,
                status: u16::try_from(status)
                    .map_err(|_| StoreError::Corrupt(format!("answer status {status}")))?,
                body,
            })
        })
        .transpose()
    }

    #[instrument(level = "debug", skip(self, answer))]
    async fn store_answer(
        &self,
        key_name: &str,
        idempotency_key: &str,
        answer: &StoredAnswer,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut c = self.writer().acquire().await?;
        B::Db::execute(
            &mut c,
            sql(
                "INSERT INTO api_requests (key_name, idempotency_key, request_sha256, status, \
                 body, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .arg(key_name)
            .arg(idempotency_key)
            .arg(answer.request_sha256.as_str())
            .arg(i64::from(answer.status))
            .arg(answer.body.as_str())
            .arg(at.as_millisecond()),
        )
        .await?;
        Ok(())
    }
}
