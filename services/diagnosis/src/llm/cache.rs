//! The LLM answer cache: Redis (deadpool-redis) when configured, shared by
//! every replica; an in-process cache otherwise (the embedded mode). A cache
//! that fails is a miss, never an error.

use std::time::Duration;

use deadpool_redis::redis::AsyncCommands as _;
use secrecy::{ExposeSecret as _, SecretString};

/// How long a Redis call may take before it counts as a miss.
const REDIS_TIMEOUT: Duration = Duration::from_millis(300);

pub enum Cache {
    Redis {
        pool: deadpool_redis::Pool,
        ttl: Duration,
    },
    Local(moka::sync::Cache<String, String>),
}

impl Cache {
    pub fn new(redis_url: Option<&SecretString>, ttl: Duration) -> Result<Self, String> {
        match redis_url {
            Some(url) => {
                let pool = deadpool_redis::Config::from_url(url.expose_secret())
                    .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                    .map_err(|e| format!("llm.cache_redis_url: {e}"))?;
                Ok(Self::Redis { pool, ttl })
            }
            None => Ok(Self::Local(
                moka::sync::Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(ttl)
                    .build(),
            )),
        }
    }

    /// A check of the shared cache for the System page, when it is Redis.
    pub fn redis_check(&self) -> Option<cg_runtime::status::Check> {
        let Self::Redis { pool, .. } = self else {
            return None;
        };
        let pool = pool.clone();
        Some(std::sync::Arc::new(move || {
            let pool = pool.clone();
            Box::pin(async move {
                let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                let pong: String = deadpool_redis::redis::cmd("PING")
                    .query_async(&mut *conn)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("llm cache ({pong})"))
            })
        }))
    }

    pub async fn get(&self, key: &str) -> Option<String> {
        match self {
            Self::Local(c) => c.get(key),
            Self::Redis { pool, .. } => {
                let got = tokio::time::timeout(REDIS_TIMEOUT, async {
                    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                    conn.get::<_, Option<String>>(key)
                        .await
                        .map_err(|e| e.to_string())
                })
                .await;
                match got {
                    Ok(Ok(v)) => v,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "llm cache read failed; treated as a miss");
                        None
                    }
                    Err(_) => {
                        tracing::warn!("llm cache read timed out; treated as a miss");
                        None
                    }
                }
            }
        }
    }

    pub async fn put(&self, key: &str, value: &str) {
        match self {
            Self::Local(c) => c.insert(key.to_string(), value.to_string()),
            Self::Redis { pool, ttl } => {
                let put = tokio::time::timeout(REDIS_TIMEOUT, async {
                    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                    conn.set_ex::<_, _, ()>(key, value, ttl.as_secs().max(1))
                        .await
                        .map_err(|e| e.to_string())
                })
                .await;
                if !matches!(put, Ok(Ok(()))) {
                    tracing::warn!("llm cache write failed; the answer is not cached");
                }
            }
        }
    }
}
