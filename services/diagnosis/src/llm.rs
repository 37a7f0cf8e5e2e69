//! LLM enrichment over any OpenAI-compatible endpoint (async-openai). The
//! rules have answered already; the LLM explains and ranks their findings,
//! and may investigate through read-only tools for a bounded number of
//! steps. It never adds actions. Everything it sees is masked
//! ([`mask::Masker`]); whatever goes wrong (not configured, rate limited,
//! busy, 429, timeout, malformed answer, breaker open) becomes `llm.error`
//! and the rules' answer stands.

use std::{
    collections::HashSet,
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use async_openai::{
    Client,
    config::OpenAIConfig,
    error::OpenAIError,
    middleware::ReqwestService,
    types::chat::{CreateChatCompletionRequest, CreateChatCompletionResponse},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::domain::{Enrichment, Finding, Recommendation, Source};

pub mod breaker;
pub mod cache;
pub mod mask;
pub mod tools;

pub use mask::Masker;
pub use tools::Tools;

/// Part of the cache key: a new prompt must not reuse old answers.
pub const PROMPT_VERSION: &str = "diagnosis-v1";

const SYSTEM_PROMPT: &str = "You are the diagnosis assistant of a cloud control plane. \
Rule-based analyzers have examined a cluster of virtual machines (droplets) and produced \
findings with evidence, and recommendations. Explain to an operator, in plain language and \
at most 200 words, what is wrong, why it matters and what the recommendations would change; \
then rank the findings from most to least pressing by their ids. You may call the read-only \
tools to look closer before answering. Never invent actions: only the given recommendations \
exist. Names such as DROPLET_1, CLUSTER_1 or IP_1 are placeholders: use them as they are. \
Answer with JSON only, matching the schema.";

/// The LLM's settings. Without `base_url` the LLM is off and every
/// diagnosis says so in `llm.error`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmConfig {
    /// An OpenAI-compatible API root, e.g. `https://api.openai.com/v1` or
    /// Ollama's `http://localhost:11434/v1`.
    pub base_url: Option<String>,
    pub model: String,
    #[serde(serialize_with = "cg_runtime::config::serialize_optional_secret")]
    pub api_key: Option<SecretString>,
    /// One call to the endpoint.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The whole enrichment, tool calls included.
    #[serde(with = "humantime_serde")]
    pub deadline: Duration,
    /// Retries of a call that failed for a reason that may pass (429, 5xx,
    /// timeout, connection), after full-jitter backoff.
    pub retries: u32,
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_cap: Duration,
    /// Rounds of tool calls the model may make before it must answer.
    pub max_steps: u32,
    /// Failed calls in a row that open the circuit breaker.
    pub breaker_failures: u32,
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
    /// LLM diagnoses per cluster and minute.
    pub per_cluster_per_minute: u32,
    /// LLM conversations in flight at once, across clusters.
    pub concurrency: usize,
    /// `redis://…` for a cache shared by replicas; unset keeps one in
    /// process.
    #[serde(serialize_with = "cg_runtime::config::serialize_optional_secret")]
    pub cache_redis_url: Option<SecretString>,
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// Prefix of the cache's keys.
    pub cache_prefix: String,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            model: "gpt-4o-mini".into(),
            api_key: None,
            timeout: Duration::from_secs(20),
            deadline: Duration::from_secs(60),
            retries: 2,
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(4),
            max_steps: 4,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            per_cluster_per_minute: 6,
            concurrency: 4,
            cache_redis_url: None,
            cache_ttl: Duration::from_secs(3600),
            cache_prefix: "cg:diag:llm".into(),
        }
    }
}

impl LlmConfig {
    /// The endpoint, unless unset or empty (compose passes empty values).
    pub fn endpoint(&self) -> Option<&str> {
        self.base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = self.endpoint() {
            if !cg_runtime::config::is_http_url(url) {
                return Err(format!("llm.base_url must be an http(s) URL (got {url:?})"));
            }
            if self.model.trim().is_empty() {
                return Err("llm.model must be set with llm.base_url".into());
            }
        }
        if self.timeout.is_zero() || self.deadline < self.timeout {
            return Err(
                "llm.timeout must be positive and llm.deadline at least llm.timeout".into(),
            );
        }
        if self.retries > 10 || self.max_steps > 10 {
            return Err("llm.retries and llm.max_steps must be at most 10".into());
        }
        if self.per_cluster_per_minute == 0 || self.concurrency == 0 {
            return Err("llm.per_cluster_per_minute and llm.concurrency must be positive".into());
        }
        if self.cache_ttl < Duration::from_secs(1) {
            return Err("llm.cache_ttl must be at least 1s".into());
        }
        Ok(())
    }
}

/// Why the LLM did not answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("not configured: set llm.base_url and llm.model")]
    NotConfigured,
    #[error("rate limited: at most {0} LLM diagnoses per minute for a cluster")]
    RateLimited(u32),
    #[error("busy: {0} LLM conversations already in flight")]
    Busy(usize),
    #[error("circuit breaker open after repeated failures; retrying in {0}s")]
    BreakerOpen(u64),
    #[error("the endpoint rate-limited the request (429)")]
    TooManyRequests,
    #[error("timed out after {0} ms")]
    Timeout(u128),
    #[error("the endpoint failed: {0}")]
    Endpoint(String),
    #[error("the endpoint refused the request: {0}")]
    Refused(String),
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl LlmError {
    /// Whether calling again may help.
    fn retryable(&self) -> bool {
        matches!(
            self,
            Self::TooManyRequests | Self::Timeout(_) | Self::Endpoint(_)
        )
    }

    fn outcome(&self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::RateLimited(_) => "rate_limited",
            Self::Busy(_) => "busy",
            Self::BreakerOpen(_) => "breaker_open",
            Self::TooManyRequests => "429",
            Self::Timeout(_) => "timeout",
            Self::Endpoint(_) => "endpoint_error",
            Self::Refused(_) => "refused",
            Self::Malformed(_) => "malformed",
        }
    }
}

fn classify(err: OpenAIError) -> LlmError {
    match err {
        OpenAIError::ApiError(e) if e.status_code.as_u16() == 429 => LlmError::TooManyRequests,
        OpenAIError::ApiError(e) if e.status_code.is_server_error() => {
            LlmError::Endpoint(format!("{} {}", e.status_code, e.api_error.message))
        }
        OpenAIError::ApiError(e) => {
            LlmError::Refused(format!("{} {}", e.status_code, e.api_error.message))
        }
        OpenAIError::Reqwest(e) if e.is_timeout() => LlmError::Timeout(0),
        OpenAIError::Reqwest(e) => LlmError::Endpoint(e.to_string()),
        OpenAIError::JSONDeserialize(e, _) => {
            LlmError::Malformed(format!("not a chat completion: {e}"))
        }
        other => LlmError::Endpoint(other.to_string()),
    }
}

/// What the model must answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    explanation: String,
    ranking: Vec<String>,
}

fn answer_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "explanation": {"type": "string", "description": "Plain-language explanation, at most 200 words."},
            "ranking": {"type": "array", "items": {"type": "string"}, "description": "Finding ids, most pressing first."}
        },
        "required": ["explanation", "ranking"],
        "additionalProperties": false
    })
}

/// Checks a (masked) answer against the findings: JSON of the schema, an
/// explanation, and a ranking of known finding ids without repeats.
fn validate(content: &str, findings: &[Finding]) -> Result<Answer, LlmError> {
    let trimmed = content
        .trim()
        .trim_start_matches("```json")
        .trim_start_matches("```")
        .trim_end_matches("```")
        .trim();
    let answer: Answer = serde_json::from_str(trimmed)
        .map_err(|e| LlmError::Malformed(format!("not the answer's JSON schema: {e}")))?;
    if answer.explanation.trim().is_empty() {
        return Err(LlmError::Malformed("empty explanation".into()));
    }
    if answer.explanation.chars().count() > 8000 {
        return Err(LlmError::Malformed(
            "explanation longer than 8000 characters".into(),
        ));
    }
    let known: HashSet<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    let mut seen = HashSet::new();
    for id in &answer.ranking {
        if !known.contains(id.as_str()) {
            return Err(LlmError::Malformed(format!("ranks unknown finding {id:?}")));
        }
        if !seen.insert(id.as_str()) {
            return Err(LlmError::Malformed(format!("ranks finding {id:?} twice")));
        }
    }
    Ok(answer)
}

/// Two significant digits: the prompt carries the findings' shape, so the
/// same situation hits the cache despite sample noise; exact numbers are
/// one tool call away.
fn coarse(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return 0.0;
    }
    let magnitude = v.abs().log10().floor() as i32;
    let f = 10f64.powi(1 - magnitude);
    (v * f).round() / f
}

/// The user message, before masking.
pub fn prompt(
    cluster_name: &str,
    scope: Option<&str>,
    droplets: &[(String, String, String)],
    findings: &[Finding],
    recommendations: &[Recommendation],
) -> String {
    json!({
        "cluster": cluster_name,
        "scope": scope.unwrap_or("whole cluster"),
        "droplets": droplets.iter().map(|(name, size, state)| json!({"droplet": name, "size": size, "state": state})).collect::<Vec<_>>(),
        "findings": findings.iter().map(|f| json!({
            "id": f.id,
            "analyzer": f.analyzer,
            "severity": f.severity.as_str(),
            "title": f.title,
            "droplet": f.droplet_id,
            "evidence": f.evidence.iter().map(|e| json!({
                "metric": e.metric,
                "value": coarse(e.value),
                "threshold": coarse(e.threshold),
                "unit": e.unit,
                "window_seconds": e.window_ms / 1000,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "recommendations": recommendations.iter().map(|r| json!({
            "id": r.id,
            "title": r.title,
            "risk": r.risk.map(crate::domain::Risk::as_str),
            "monthly_cost_delta_cents": r.monthly_cost_delta_cents,
            "answers": r.finding_ids,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

/// Full jitter: a random wait up to `base · 2^attempt`, capped.
fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let ceiling = base.saturating_mul(2u32.saturating_pow(attempt)).min(cap);
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=ms))
}

/// What one enrichment is about.
pub struct Ask<'a> {
    pub cluster_id: &'a str,
    /// The prompt, not yet masked.
    pub prompt: String,
    pub findings: &'a [Finding],
}

struct Endpoint {
    client: Client<OpenAIConfig>,
    model: String,
}

/// The LLM side of diagnosis: one per service.
pub struct Enricher {
    config: LlmConfig,
    endpoint: Option<Endpoint>,
    breaker: breaker::Breaker,
    limiter: DefaultKeyedRateLimiter<String>,
    in_flight: Arc<Semaphore>,
    cache: cache::Cache,
    /// Calls and cache hits for the System page.
    status: Option<cg_runtime::status::Status>,
}

impl Enricher {
    pub fn new(config: &LlmConfig) -> Result<Self, String> {
        let endpoint = config.endpoint().map(|url| {
            let mut c = OpenAIConfig::new().with_api_base(url.trim_end_matches('/'));
            if let Some(key) = config
                .api_key
                .as_ref()
                .filter(|k| !k.expose_secret().is_empty())
            {
                c = c.with_api_key(key.expose_secret());
            }
            // The plain transport: retries, backoff and the breaker are
            // ours, not the client's built-in retry layer.
            let client = Client::with_config(c)
                .with_http_service(ReqwestService::new(reqwest::Client::new()));
            Endpoint {
                client,
                model: config.model.clone(),
            }
        });
        let per_minute = NonZeroU32::new(config.per_cluster_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            endpoint,
            breaker: breaker::Breaker::new(config.breaker_failures, config.breaker_cooldown),
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            in_flight: Arc::new(Semaphore::new(config.concurrency)),
            cache: cache::Cache::new(config.cache_redis_url.as_ref(), config.cache_ttl)?,
            config: config.clone(),
            status: None,
        })
    }

    /// Counts calls and cache hits on `status`, and lists the cache's
    /// Redis among its dependencies.
    #[must_use]
    pub fn with_status(mut self, status: &cg_runtime::status::Status) -> Self {
        status.counter("llm_calls", &[("outcome", "answered")]);
        status.counter("llm_cache_hits", &[]);
        metrics::counter!("cg_diagnosis_llm_total", "outcome" => "answered").increment(0);
        metrics::counter!("cg_diagnosis_llm_cache_hits_total").increment(0);
        if let Some(check) = self.cache.redis_check() {
            status.dependency("redis", check);
        }
        self.status = Some(status.clone());
        self
    }

    /// The enrichment of one diagnosis: the LLM's, the cache's, or the
    /// rules' alone with the reason.
    pub async fn enrich(
        &self,
        ask: Ask<'_>,
        masker: &mut Masker,
        tools: &impl Tools,
    ) -> Enrichment {
        let started = Instant::now();
        let result = self.run(ask, masker, tools).await;
        let outcome = match &result {
            Ok(e) if e.source == Source::Cache => "cache_hit",
            Ok(_) => "answered",
            Err(e) => e.outcome(),
        };
        metrics::counter!("cg_diagnosis_llm_total", "outcome" => outcome).increment(1);
        if let Some(status) = &self.status {
            status
                .counter("llm_calls", &[("outcome", outcome)])
                .increment(1);
            if outcome == "cache_hit" {
                status.counter("llm_cache_hits", &[]).increment(1);
            }
        }
        metrics::histogram!("cg_diagnosis_llm_seconds").record(started.elapsed().as_secs_f64());
        result.unwrap_or_else(|e| {
            tracing::info!(error = %e, "llm enrichment skipped");
            let mut rules = Enrichment::rules(e.to_string());
            rules.model = self.config.model.clone();
            rules.prompt_version = PROMPT_VERSION.into();
            rules
        })
    }

    async fn run(
        &self,
        ask: Ask<'_>,
        masker: &mut Masker,
        tools: &impl Tools,
    ) -> Result<Enrichment, LlmError> {
        let Some(endpoint) = &self.endpoint else {
            return Err(LlmError::NotConfigured);
        };
        let masked = masker.mask(&ask.prompt);
        let key = format!(
            "{}:{}:{}:{}",
            self.config.cache_prefix,
            endpoint.model,
            PROMPT_VERSION,
            hex(&Sha256::digest(masked.as_bytes()))
        );
        if let Some(stored) = self.cache.get(&key).await
            && let Ok(answer) = validate(&stored, ask.findings)
        {
            metrics::counter!("cg_diagnosis_llm_cache_hits_total").increment(1);
            return Ok(self.enrichment(answer, masker, Source::Cache, 0));
        }
        if self.limiter.check_key(&ask.cluster_id.to_string()).is_err() {
            return Err(LlmError::RateLimited(self.config.per_cluster_per_minute));
        }
        let _permit = self
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| LlmError::Busy(self.config.concurrency))?;
        let deadline = self.config.deadline;
        let (content, tool_calls) =
            tokio::time::timeout(deadline, self.converse(endpoint, masked, masker, tools))
                .await
                .map_err(|_| LlmError::Timeout(deadline.as_millis()))??;
        let answer = validate(&content, ask.findings)?;
        self.cache.put(&key, &content).await;
        Ok(self.enrichment(answer, masker, Source::Llm, tool_calls))
    }

    fn enrichment(
        &self,
        answer: Answer,
        masker: &mut Masker,
        source: Source,
        tool_calls: u32,
    ) -> Enrichment {
        Enrichment {
            used: true,
            model: self.config.model.clone(),
            explanation: masker.unmask(answer.explanation.trim()),
            source,
            error: String::new(),
            ranked_finding_ids: answer.ranking,
            tool_calls,
            prompt_version: PROMPT_VERSION.into(),
        }
    }

    /// The conversation: the model may call tools for up to `max_steps`
    /// rounds, then must answer. The final content (masked) and the number
    /// of tool calls made.
    async fn converse(
        &self,
        endpoint: &Endpoint,
        masked_prompt: String,
        masker: &mut Masker,
        tools: &impl Tools,
    ) -> Result<(String, u32), LlmError> {
        let mut messages = vec![
            json!({"role": "system", "content": SYSTEM_PROMPT}),
            json!({"role": "user", "content": masked_prompt}),
        ];
        let mut calls = 0u32;
        for step in 0..=self.config.max_steps {
            let may_call = step < self.config.max_steps;
            let mut body = json!({
                "model": endpoint.model,
                "messages": messages,
                "temperature": 0.2,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "diagnosis_explanation", "schema": answer_schema(), "strict": true}
                },
            });
            if may_call {
                body["tools"] = tools::definitions();
            }
            let request: CreateChatCompletionRequest = serde_json::from_value(body)
                .map_err(|e| LlmError::Endpoint(format!("building the request: {e}")))?;
            let response = self.call(endpoint, request).await?;
            let message = response
                .choices
                .into_iter()
                .next()
                .ok_or_else(|| LlmError::Malformed("no choices".into()))?
                .message;
            let requested: Vec<(String, String, String)> = message
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| match c {
                    async_openai::types::chat::ChatCompletionMessageToolCalls::Function(f) => {
                        Some((f.id, f.function.name, f.function.arguments))
                    }
                    async_openai::types::chat::ChatCompletionMessageToolCalls::Custom(_) => None,
                })
                .collect();
            if requested.is_empty() {
                return message
                    .content
                    .map(|c| (c, calls))
                    .ok_or_else(|| LlmError::Malformed("no content and no tool call".into()));
            }
            if !may_call {
                return Err(LlmError::Malformed(format!(
                    "still calling tools after {} steps",
                    self.config.max_steps
                )));
            }
            messages.push(json!({
                "role": "assistant",
                "content": message.content,
                "tool_calls": requested.iter().map(|(id, name, args)| json!({
                    "id": id, "type": "function", "function": {"name": name, "arguments": args}
                })).collect::<Vec<_>>(),
            }));
            // At most four tool calls a round: the rest are refused.
            for (i, (id, name, args)) in requested.into_iter().enumerate() {
                let result = if i < 4 {
                    calls += 1;
                    tools::run(tools, masker, &name, &args).await
                } else {
                    json!({"error": "at most 4 tool calls per step"})
                };
                let masked = masker.mask(&result.to_string());
                messages.push(json!({"role": "tool", "tool_call_id": id, "content": masked}));
            }
        }
        Err(LlmError::Malformed("no answer".into()))
    }

    /// One chat completion through the breaker, with timeouts and
    /// full-jitter retries.
    async fn call(
        &self,
        endpoint: &Endpoint,
        request: CreateChatCompletionRequest,
    ) -> Result<CreateChatCompletionResponse, LlmError> {
        let mut attempt = 0;
        let mut last: Option<LlmError> = None;
        loop {
            if let Err(wait) = self.breaker.allow(Instant::now()) {
                // A retry the breaker refuses reports what failed.
                return Err(last.unwrap_or(LlmError::BreakerOpen(wait.as_secs())));
            }
            let result = tokio::time::timeout(
                self.config.timeout,
                endpoint.client.chat().create(request.clone()),
            )
            .await;
            let err = match result {
                Ok(Ok(response)) => {
                    self.breaker.success();
                    return Ok(response);
                }
                Ok(Err(e)) => match classify(e) {
                    LlmError::Timeout(_) => LlmError::Timeout(self.config.timeout.as_millis()),
                    e => e,
                },
                Err(_) => LlmError::Timeout(self.config.timeout.as_millis()),
            };
            // What may pass by waiting is what says the endpoint is in
            // trouble: the breaker counts exactly those.
            if err.retryable() {
                self.breaker.failure(Instant::now());
            }
            if !err.retryable() || attempt >= self.config.retries {
                return Err(err);
            }
            tokio::time::sleep(backoff(
                self.config.retry_base,
                self.config.retry_cap,
                attempt,
            ))
            .await;
            attempt += 1;
            last = Some(err);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;

    fn finding(id: &str) -> Finding {
        Finding {
            id: id.into(),
            analyzer: "memory_leak".into(),
            severity: Severity::Warning,
            title: "Memory leak".into(),
            detail: String::new(),
            droplet_id: String::new(),
            evidence: vec![],
        }
    }

    #[test]
    fn an_answer_ranking_an_unknown_finding_is_malformed() {
        let err = validate(r#"{"explanation":"x","ranking":["f9"]}"#, &[finding("f1")]);
        assert!(matches!(err, Err(LlmError::Malformed(m)) if m.contains("f9")));
    }

    #[test]
    fn an_answer_with_extra_fields_such_as_actions_is_malformed() {
        let err = validate(
            r#"{"explanation":"x","ranking":[],"actions":["destroy everything"]}"#,
            &[finding("f1")],
        );
        assert!(matches!(err, Err(LlmError::Malformed(_))));
    }

    #[test]
    fn a_fenced_json_answer_is_accepted() {
        let ok = validate(
            "```json\n{\"explanation\":\"leak\",\"ranking\":[\"f1\"]}\n```",
            &[finding("f1")],
        );
        assert_eq!(ok.unwrap().ranking, vec!["f1"]);
    }

    #[test]
    fn coarse_values_keep_two_significant_digits() {
        assert_eq!(coarse(97.4), 97.0);
        assert_eq!(coarse(1234.0), 1200.0);
        assert_eq!(coarse(0.0123), 0.012);
        assert_eq!(coarse(0.0), 0.0);
    }

    #[test]
    fn full_jitter_never_waits_past_the_cap() {
        for attempt in 0..20 {
            assert!(
                backoff(Duration::from_millis(100), Duration::from_secs(1), attempt)
                    <= Duration::from_secs(1)
            );
        }
    }
}
