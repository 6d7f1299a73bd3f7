//! The app's access token, cached and refreshed before it expires. One fetch at a time: a
//! hundred callers arriving together with no token cause one token request, not a hundred.

use std::future::Future;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

/// Refresh this long before DingTalk's expiry (as DingTalk's own Stream SDK does).
const REFRESH_EARLY: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct TokenCache {
    slot: Mutex<Option<Cached>>,
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

impl TokenCache {
    /// The cached token, or a new one from `fetch` (which returns the token and its lifetime).
    pub async fn get_or_fetch<F, Fut, E>(&self, fetch: F) -> Result<SecretString, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(SecretString, Duration), E>>,
    {
        // Holding the lock across the fetch is what makes it single-flight.
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        let (token, lifetime) = fetch().await?;
        // A short-lived token is refreshed halfway through instead.
        let early = REFRESH_EARLY.min(lifetime / 2);
        *slot = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(early),
        });
        Ok(token)
    }

    /// Drops `stale` after DingTalk refused it; a token fetched meanwhile by another caller
    /// is kept.
    pub async fn forget(&self, stale: &SecretString) {
        let mut slot = self.slot.lock().await;
        if slot
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == stale.expose_secret())
        {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn fetch_counting(
        count: &AtomicUsize,
        lifetime: Duration,
    ) -> Result<(SecretString, Duration), String> {
        let n = count.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok((format!("token-{n}").into(), lifetime))
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::default());
        let count = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..100)
            .map(|_| {
                let (cache, count) = (cache.clone(), count.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_fetch(|| fetch_counting(&count, Duration::from_secs(7200)))
                        .await
                        .map(|t| t.expose_secret().to_string())
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap().unwrap(), "token-0");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_forgotten_token_is_fetched_again_but_a_newer_one_is_kept() {
        let cache = TokenCache::default();
        let count = AtomicUsize::new(0);
        let life = Duration::from_secs(7200);
        let first = cache
            .get_or_fetch(|| fetch_counting(&count, life))
            .await
            .unwrap();
        cache.forget(&first).await;
        let second = cache
            .get_or_fetch(|| fetch_counting(&count, life))
            .await
            .unwrap();
        assert_eq!(second.expose_secret(), "token-1");
        cache.forget(&first).await;
        let still = cache
            .get_or_fetch(|| fetch_counting(&count, life))
            .await
            .unwrap();
        assert_eq!(still.expose_secret(), "token-1");
    }

    #[tokio::test]
    async fn a_token_is_refreshed_before_it_expires() {
        let cache = TokenCache::default();
        let count = AtomicUsize::new(0);
        let life = Duration::from_millis(100);
        cache
            .get_or_fetch(|| fetch_counting(&count, life))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let next = cache
            .get_or_fetch(|| fetch_counting(&count, life))
            .await
            .unwrap();
        assert_eq!(next.expose_secret(), "token-1");
    }
}
