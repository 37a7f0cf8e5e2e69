//! Rate limits: a GCRA budget per caller and tier. In one process the
//! budgets live in tower_governor's keyed limiters; with Redis configured
//! they live in Redis (one Lua script per check), so every gateway replica
//! draws from the same budget.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, RwLock},
    time::Duration,
};

use deadpool_redis::redis;
use governor::{clock::Clock as _, middleware::StateInformationMiddleware};
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row as _};
use tower_governor::{
    GovernorError,
    governor::{GovernorConfig, GovernorConfigBuilder},
    key_extractor::KeyExtractor,
};

use crate::error::{Error, Result};

/// A class of calls sharing one budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    Default,
    /// Creates, injects, CreateJob, RetryJob, Diagnose, EvaluateNow…: each
    /// may start real work (see `roles`).
    Expensive,
    /// Callers without a token, keyed by peer address.
    Anonymous,
}

impl Tier {
    pub const ALL: [Self; 3] = [Self::Default, Self::Expensive, Self::Anonymous];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Expensive => "expensive",
            Self::Anonymous => "anonymous",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// `requests` per `period`, refilled evenly: a caller may burst up to
/// `requests`, then proceeds at requests/period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub requests: u32,
    #[serde(with = "humantime_serde")]
    pub period: Duration,
}

impl Budget {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(1..=1_000_000).contains(&self.requests) {
            return Err("requests must be 1–1000000".into());
        }
        if self.period < Duration::from_secs(1) || self.period > Duration::from_secs(86_400) {
            return Err("period must be 1s–24h".into());
        }
        Ok(())
    }

    /// Time between two requests at the sustained rate.
    fn interval(&self) -> Duration {
        self.period / self.requests
    }
}

/// One check's outcome, with what the `ratelimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the budget is whole again.
    pub reset: Duration,
    /// Until the next call is allowed (zero when allowed).
    pub retry_after: Duration,
}

impl Decision {
    /// Sets `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset`
    /// (whole seconds, rounded up) and, when refused, `retry-after`.
    pub fn write_headers(&self, headers: &mut http::HeaderMap) {
        // Whole seconds, rounded up; integers become header values directly.
        let secs = |d: Duration| u64::try_from(d.as_millis().div_ceil(1000)).unwrap_or(u64::MAX);
        headers.insert("ratelimit-limit", self.limit.into());
        headers.insert("ratelimit-remaining", self.remaining.into());
        headers.insert("ratelimit-reset", secs(self.reset).into());
        if !self.allowed {
            headers.insert("retry-after", secs(self.retry_after).max(1).into());
        }
    }
}

/// The key a budget is kept under: the token id, or the peer address for
/// anonymous callers. Also tower_governor's key extractor, reading the key
/// the auth step put in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallerKey(pub String);

#[derive(Debug, Clone, Copy)]
pub struct CallerKeyExtractor;

impl KeyExtractor for CallerKeyExtractor {
    type Key = CallerKey;

    fn extract<T>(&self, req: &http::Request<T>) -> std::result::Result<CallerKey, GovernorError> {
        req.extensions()
            .get::<CallerKey>()
            .cloned()
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

type Local = GovernorConfig<CallerKeyExtractor, StateInformationMiddleware>;

fn local(budget: Budget) -> Arc<Local> {
    Arc::new(
        GovernorConfigBuilder::default()
            .key_extractor(CallerKeyExtractor)
            .period(budget.interval())
            .burst_size(budget.requests)
            .use_headers()
            .finish()
            .expect("a validated budget has a non-zero period and burst"),
    )
}

/// GCRA in Redis, on Redis' own clock so every replica agrees. Returns
/// {allowed, remaining, reset_ms, retry_ms}.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local tolerance = interval * burst
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, new_tat - now))
return {1, math.floor((tolerance - (new_tat - now)) / interval), new_tat - now, 0}
";

enum Store {
    Local(RwLock<HashMap<Tier, (Budget, Arc<Local>)>>),
    Redis {
        pool: deadpool_redis::Pool,
        prefix: String,
        script: redis::Script,
        /// How long a check may wait for Redis.
        timeout: Duration,
        /// Enforces the budgets in this process while Redis is slow or away
        /// (per replica, so the whole mesh allows at most replicas × budget).
        fallback: RwLock<HashMap<Tier, (Budget, Arc<Local>)>>,
        /// Unix millis until which Redis is not asked (it just failed), so a
        /// dead Redis costs one timeout per second, not one per call.
        skip_until: std::sync::atomic::AtomicI64,
    },
}

/// After a failed Redis check, how long calls use the fallback directly.
const REDIS_BACKOFF: Duration = Duration::from_secs(1);

/// Budgets per tier (config defaults, overridden by what an admin stored)
/// and the state that enforces them.
#[derive(Clone)]
pub struct Limiter {
    store: Arc<Store>,
    budgets: Arc<RwLock<HashMap<Tier, Budget>>>,
    defaults: HashMap<Tier, Budget>,
    pool: AnyPool,
}

impl Limiter {
    pub fn new(
        config: &crate::config::LimitsConfig,
        pool: AnyPool,
    ) -> std::result::Result<Self, String> {
        let defaults: HashMap<Tier, Budget> =
            Tier::ALL.iter().map(|t| (*t, config.budget(*t))).collect();
        let store = match &config.redis_url {
            Some(url) => {
                let url = secrecy::ExposeSecret::expose_secret(url);
                let pool = deadpool_redis::Config::from_url(url)
                    .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                    .map_err(|e| format!("limits.redis_url: {e}"))?;
                Store::Redis {
                    pool,
                    prefix: config.redis_prefix.clone(),
                    script: redis::Script::new(GCRA),
                    timeout: config.redis_timeout,
                    fallback: RwLock::default(),
                    skip_until: std::sync::atomic::AtomicI64::new(0),
                }
            }
            None => Store::Local(RwLock::default()),
        };
        Ok(Self {
            store: Arc::new(store),
            budgets: Arc::new(RwLock::new(defaults.clone())),
            defaults,
            pool,
        })
    }

    pub fn shared(&self) -> bool {
        matches!(*self.store, Store::Redis { .. })
    }

    /// A check of the shared store for the System page, when there is one.
    pub fn redis_check(&self) -> Option<cg_runtime::status::Check> {
        let Store::Redis { pool, .. } = &*self.store else {
            return None;
        };
        let pool = pool.clone();
        Some(std::sync::Arc::new(move || {
            let pool = pool.clone();
            Box::pin(async move {
                let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                let pong: String = redis::cmd("PING")
                    .query_async(&mut *conn)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("rate limits ({pong})"))
            })
        }))
    }

    pub fn budget(&self, tier: Tier) -> Budget {
        self.budgets.read().unwrap()[&tier]
    }

    /// Re-reads the budgets an admin stored (other replicas may have
    /// changed them).
    pub async fn refresh(&self) -> Result<()> {
        let mut budgets = self.defaults.clone();
        for row in sqlx::query("SELECT tier, requests, period_seconds FROM rate_limits")
            .fetch_all(&self.pool)
            .await?
        {
            let tier: String = row.try_get("tier")?;
            let requests: i64 = row.try_get("requests")?;
            let period: i64 = row.try_get("period_seconds")?;
            if let Some(tier) = Tier::parse(&tier) {
                let budget = Budget {
                    requests: u32::try_from(requests).unwrap_or(1),
                    period: Duration::from_secs(u64::try_from(period).unwrap_or(1)),
                };
                if budget.validate().is_ok() {
                    budgets.insert(tier, budget);
                }
            }
        }
        *self.budgets.write().unwrap() = budgets;
        Ok(())
    }

    /// Stores new budgets and applies them here at once.
    /// Stores new budgets and, in the same transaction, `announce` (the
    /// activity-log entry saying so).
    pub async fn update(
        &self,
        changes: &[(Tier, Budget)],
        announce: Option<cg_runtime::outbox::NewEvent>,
    ) -> Result<()> {
        let now = cg_runtime::time::now_millis();
        let mut tx = self.pool.begin().await?;
        for (tier, budget) in changes {
            sqlx::query("DELETE FROM rate_limits WHERE tier = ?")
                .bind(tier.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO rate_limits (tier, requests, period_seconds, updated_at) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(tier.as_str())
            .bind(i64::from(budget.requests))
            .bind(i64::try_from(budget.period.as_secs()).unwrap_or(i64::MAX))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(event) = announce {
            cg_runtime::outbox::enqueue(&mut tx, event).await?;
        }
        tx.commit().await?;
        self.refresh().await
    }

    /// Drops the in-process state of callers whose budget is whole again,
    /// so one-off anonymous peers do not pile up (Redis keys expire alone).
    pub fn forget_idle(&self) {
        let limiters = match &*self.store {
            Store::Local(limiters) => limiters,
            Store::Redis { fallback, .. } => fallback,
        };
        for (_, limiter) in limiters.read().unwrap().values() {
            limiter.limiter().retain_recent();
        }
    }

    /// Takes one request from `key`'s budget in `tier`. With Redis, a check
    /// that does not answer within `limits.redis_timeout` (or fails) is made
    /// against this process's fallback limiter instead: a slow Redis never
    /// slows calls, and a dead one never lifts the limit.
    pub async fn check(&self, tier: Tier, key: &CallerKey) -> Result<Decision> {
        let budget = self.budget(tier);
        match &*self.store {
            Store::Local(limiters) => Ok(Self::check_local(limiters, tier, budget, key)),
            Store::Redis {
                pool,
                prefix,
                script,
                timeout,
                fallback,
                skip_until,
            } => {
                use std::sync::atomic::Ordering;
                let now = cg_runtime::time::now_millis();
                if skip_until.load(Ordering::Relaxed) > now {
                    return Ok(Self::check_local(fallback, tier, budget, key));
                }
                let shared = tokio::time::timeout(
                    *timeout,
                    Self::check_redis(pool, prefix, script, tier, budget, key),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(Error::Unavailable(format!(
                        "rate-limit store: no answer within {}ms",
                        timeout.as_millis()
                    )))
                });
                match shared {
                    Ok(d) => Ok(d),
                    Err(e) => {
                        let backoff = i64::try_from(REDIS_BACKOFF.as_millis()).unwrap_or(1000);
                        skip_until.store(now + backoff, Ordering::Relaxed);
                        tracing::warn!(error = %e, "rate-limit store unavailable; enforcing limits in this process");
                        metrics::counter!("cg_gateway_ratelimit_errors_total").increment(1);
                        Ok(Self::check_local(fallback, tier, budget, key))
                    }
                }
            }
        }
    }

    async fn check_redis(
        pool: &deadpool_redis::Pool,
        prefix: &str,
        script: &redis::Script,
        tier: Tier,
        budget: Budget,
        key: &CallerKey,
    ) -> Result<Decision> {
        let mut conn = pool
            .get()
            .await
            .map_err(|e| Error::Unavailable(format!("rate-limit store: {e}")))?;
        // The budget is part of the key: a changed budget starts full.
        let redis_key = format!(
            "{prefix}:{}:{}:{}:{}",
            tier.as_str(),
            budget.requests,
            budget.period.as_secs(),
            key.0
        );
        let interval = u64::try_from(budget.interval().as_millis()).unwrap_or(u64::MAX);
        let (allowed, remaining, reset, retry): (i64, i64, i64, i64) = script
            .key(redis_key)
            .arg(interval.max(1))
            .arg(budget.requests)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| Error::Unavailable(format!("rate-limit store: {e}")))?;
        let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        Ok(Decision {
            allowed: allowed == 1,
            limit: budget.requests,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset: ms(reset),
            retry_after: ms(retry),
        })
    }

    fn check_local(
        limiters: &RwLock<HashMap<Tier, (Budget, Arc<Local>)>>,
        tier: Tier,
        budget: Budget,
        key: &CallerKey,
    ) -> Decision {
        let current = limiters
            .read()
            .unwrap()
            .get(&tier)
            .filter(|(b, _)| *b == budget)
            .map(|(_, l)| l.clone());
        let config = current.unwrap_or_else(|| {
            let fresh = local(budget);
            limiters
                .write()
                .unwrap()
                .insert(tier, (budget, fresh.clone()));
            fresh
        });
        let limiter = config.limiter();
        let interval = budget.interval();
        match limiter.check_key(key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    limit: budget.requests,
                    remaining,
                    reset: interval * (budget.requests - remaining),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.clock().now());
                Decision {
                    allowed: false,
                    limit: budget.requests,
                    remaining: 0,
                    reset: wait + interval * budget.requests.saturating_sub(1),
                    retry_after: wait,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(requests: u32, secs: u64) -> Budget {
        Budget {
            requests,
            period: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_budget_of_zero_requests_is_rejected() {
        assert!(budget(0, 60).validate().is_err());
        assert!(budget(10, 0).validate().is_err());
        assert!(budget(10, 60).validate().is_ok());
    }

    #[test]
    fn a_local_budget_allows_its_burst_then_refuses_with_a_wait() {
        let limiters = RwLock::default();
        let b = budget(3, 60);
        let key = CallerKey("t1".into());
        let decisions: Vec<Decision> = (0..4)
            .map(|_| Limiter::check_local(&limiters, Tier::Default, b, &key))
            .collect();
        assert_eq!(
            decisions.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert!(decisions[..3].iter().all(|d| d.allowed));
        let refused = decisions[3];
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::from_secs(15));
        assert!(refused.retry_after <= Duration::from_secs(20));
        // Another caller has a budget of its own.
        assert!(Limiter::check_local(&limiters, Tier::Default, b, &CallerKey("t2".into())).allowed);
    }

    #[test]
    fn headers_round_up_to_whole_seconds() {
        let mut h = http::HeaderMap::new();
        Decision {
            allowed: false,
            limit: 5,
            remaining: 0,
            reset: Duration::from_millis(1500),
            retry_after: Duration::from_millis(200),
        }
        .write_headers(&mut h);
        assert_eq!(h["ratelimit-limit"], "5");
        assert_eq!(h["ratelimit-remaining"], "0");
        assert_eq!(h["ratelimit-reset"], "2");
        assert_eq!(h["retry-after"], "1");
    }
}
