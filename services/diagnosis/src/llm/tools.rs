//! The read-only tools the LLM may call while investigating: a metric
//! window, health results, activity, one droplet. Arguments name droplets by
//! their tokens; results are masked before they go back.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Masker;
use crate::{
    analyzers::stats,
    facts::{Metric, Point},
    platform::Platform,
};

/// What the tools read; [`PlatformTools`] reads the real services.
pub trait Tools: Sync {
    fn query_metric(
        &self,
        droplet: &str,
        metric: Metric,
        minutes: u32,
    ) -> impl Future<Output = Result<Vec<Point>, String>> + Send;
    fn health_results(
        &self,
        droplet: Option<&str>,
        failed_only: bool,
    ) -> impl Future<Output = Result<Value, String>> + Send;
    fn activity(
        &self,
        droplet: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Value, String>> + Send;
    fn droplet(&self, droplet: &str) -> impl Future<Output = Result<Value, String>> + Send;
}

/// The tools' definitions as the chat API takes them.
pub fn definitions() -> Value {
    let droplet =
        json!({"type": "string", "description": "A droplet placeholder such as DROPLET_1."});
    let metrics: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    json!([
        {"type": "function", "function": {
            "name": "query_metric",
            "description": "One droplet's metric over the last minutes: min, max, mean, trend per hour and up to 30 points.",
            "parameters": {"type": "object", "properties": {
                "droplet": droplet,
                "metric": {"type": "string", "enum": metrics},
                "minutes": {"type": "integer", "minimum": 1, "maximum": 1440}
            }, "required": ["droplet", "metric", "minutes"], "additionalProperties": false}
        }},
        {"type": "function", "function": {
            "name": "list_health_results",
            "description": "The latest health probe results (at most 20), of one droplet or the whole cluster.",
            "parameters": {"type": "object", "properties": {
                "droplet": droplet,
                "failed_only": {"type": "boolean"}
            }, "additionalProperties": false}
        }},
        {"type": "function", "function": {
            "name": "list_activity",
            "description": "The latest activity log entries (at most 50), of one droplet or the whole cluster.",
            "parameters": {"type": "object", "properties": {
                "droplet": droplet,
                "limit": {"type": "integer", "minimum": 1, "maximum": 50}
            }, "additionalProperties": false}
        }},
        {"type": "function", "function": {
            "name": "get_droplet",
            "description": "One droplet: size, status, vCPUs, memory, disk, region.",
            "parameters": {"type": "object", "properties": {"droplet": droplet},
                "required": ["droplet"], "additionalProperties": false}
        }}
    ])
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricArgs {
    droplet: String,
    metric: String,
    minutes: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthArgs {
    droplet: Option<String>,
    #[serde(default)]
    failed_only: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityArgs {
    droplet: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DropletArgs {
    droplet: String,
}

fn parse<T: for<'de> Deserialize<'de>>(args: &str) -> Result<T, String> {
    serde_json::from_str(if args.trim().is_empty() { "{}" } else { args })
        .map_err(|e| format!("bad arguments: {e}"))
}

/// A metric window in a form a model reads well.
fn summarize(points: &[Point], now_ms: i64) -> Value {
    if points.is_empty() {
        return json!({"points": 0});
    }
    let every = points.len().div_ceil(30).max(1);
    let values: Vec<f64> = points.iter().map(|p| p.v).collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    json!({
        "points": points.len(),
        "min": min,
        "max": max,
        "mean": stats::mean(points),
        "last": values.last(),
        "trend_per_hour": stats::trend(points).map(|t| t.per_hour),
        "samples": points.iter().step_by(every)
            .map(|p| json!([((now_ms - p.t) / 1000), (p.v * 10.0).round() / 10.0]))
            .collect::<Vec<_>>(),
        "samples_are": "[seconds ago, value]",
    })
}

/// Runs one tool call; failures become an `error` the model can read.
pub async fn run(tools: &impl Tools, masker: &Masker, name: &str, args: &str) -> Value {
    let result = async {
        match name {
            "query_metric" => {
                let a: MetricArgs = parse(args)?;
                let metric = Metric::parse(&a.metric)
                    .ok_or_else(|| format!("unknown metric {:?}", a.metric))?;
                if !(1..=1440).contains(&a.minutes) {
                    return Err("minutes must be 1–1440".to_string());
                }
                let points = tools
                    .query_metric(&masker.resolve(&a.droplet), metric, a.minutes)
                    .await?;
                Ok(summarize(&points, cg_runtime::time::now_millis()))
            }
            "list_health_results" => {
                let a: HealthArgs = parse(args)?;
                let droplet = a.droplet.map(|d| masker.resolve(&d));
                tools
                    .health_results(droplet.as_deref(), a.failed_only)
                    .await
            }
            "list_activity" => {
                let a: ActivityArgs = parse(args)?;
                let droplet = a.droplet.map(|d| masker.resolve(&d));
                tools
                    .activity(droplet.as_deref(), a.limit.unwrap_or(20).clamp(1, 50))
                    .await
            }
            "get_droplet" => {
                let a: DropletArgs = parse(args)?;
                tools.droplet(&masker.resolve(&a.droplet)).await
            }
            other => Err(format!("unknown tool {other:?}")),
        }
    }
    .await;
    result.unwrap_or_else(|e| json!({"error": e}))
}

/// The tools over the real services, confined to one cluster.
pub struct PlatformTools {
    pub platform: Platform,
    pub cluster_id: String,
}

impl Tools for PlatformTools {
    async fn query_metric(
        &self,
        droplet: &str,
        metric: Metric,
        minutes: u32,
    ) -> Result<Vec<Point>, String> {
        let now = cg_runtime::time::now_millis();
        let series = self
            .platform
            .metrics(
                &self.cluster_id,
                Some(droplet),
                &[metric],
                (now - i64::from(minutes) * 60_000, now),
            )
            .await
            .map_err(|e| e.to_string())?;
        // No series: no samples in the window (or no such droplet here).
        Ok(series
            .into_iter()
            .find(|s| s.droplet_id == droplet)
            .map(|s| s.points)
            .unwrap_or_default())
    }

    async fn health_results(
        &self,
        droplet: Option<&str>,
        failed_only: bool,
    ) -> Result<Value, String> {
        let now = cg_runtime::time::now_millis();
        let mut results = self
            .platform
            .health_results(&self.cluster_id, droplet, now - 3_600_000)
            .await
            .map_err(|e| e.to_string())?;
        results.retain(|r| !failed_only || !r.healthy);
        results.sort_by_key(|r| std::cmp::Reverse(r.time_ms));
        results.truncate(20);
        Ok(json!(
            results
                .iter()
                .map(|r| json!({
                    "check": r.check_id, "droplet": r.droplet_id, "healthy": r.healthy,
                    "message": r.message, "seconds_ago": (now - r.time_ms) / 1000,
                }))
                .collect::<Vec<_>>()
        ))
    }

    async fn activity(&self, droplet: Option<&str>, limit: usize) -> Result<Value, String> {
        let now = cg_runtime::time::now_millis();
        let entries = self
            .platform
            .activity(&self.cluster_id, droplet, now - 24 * 3_600_000, limit)
            .await
            .map_err(|e| e.to_string())?;
        Ok(json!(
            entries
                .iter()
                .map(|e| json!({
                    "id": e.id, "kind": e.kind, "droplet": e.droplet_id, "message": e.message,
                    "seconds_ago": (now - e.time_ms) / 1000,
                }))
                .collect::<Vec<_>>()
        ))
    }

    async fn droplet(&self, droplet: &str) -> Result<Value, String> {
        let d = self
            .platform
            .droplet(droplet)
            .await
            .map_err(|e| e.to_string())?
            .filter(|d| d.cluster_id == self.cluster_id)
            .ok_or_else(|| "no such droplet in this cluster".to_string())?;
        Ok(json!({
            "droplet": d.id, "name": d.name, "size": d.size, "region": d.region,
            "status": clustergenie_proto::provisioning::v1::DropletStatus::try_from(d.status)
                .map(|s| s.as_str_name().trim_start_matches("DROPLET_STATUS_").to_lowercase())
                .unwrap_or_default(),
            "vcpus": d.vcpus, "memory_mb": d.memory_mb, "disk_gb": d.disk_gb,
            "public_ipv4": d.public_ipv4, "private_ipv4": d.private_ipv4, "tags": d.tags,
        }))
    }
}
