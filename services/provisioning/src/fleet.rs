//! The fleet's heartbeat. Every tick it applies the end of faults whose
//! time is up and, on the one replica holding the sampler lease, publishes
//! every active droplet's load to `cg.metrics.samples` (one batch per
//! cluster). Samples go straight to the broker, not through the outbox:
//! they are telemetry, and a lost tick is replaced by the next one.

use std::time::Duration;

use cg_runtime::{
    kafka::{Outgoing, Producer},
    new_id,
    time::now_millis,
    topic::topics,
};
use clustergenie_proto::events::v1 as ev;
use prost::Message as _;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{cloud::CloudProvider, load, repo::ProvisioningRepository, service::Provisioner};

const LEASE: &str = "fleet-sampler";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// How often each active droplet reports its load (and faults are
    /// checked for their end).
    #[serde(with = "humantime_serde")]
    pub sample_interval: Duration,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            sample_interval: Duration::from_secs(10),
        }
    }
}

impl FleetConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.sample_interval < Duration::from_millis(50)
            || self.sample_interval > Duration::from_secs(3600)
        {
            return Err("fleet.sample_interval must be between 50ms and 1h".into());
        }
        Ok(())
    }
}

/// Runs until `stop`. Without a producer only faults are ended.
pub async fn run<R: ProvisioningRepository, C: CloudProvider>(
    service: Provisioner<R, C>,
    producer: Option<Producer>,
    config: FleetConfig,
    stop: CancellationToken,
) {
    let holder = new_id();
    let interval = config.sample_interval;
    let lease_ms = i64::try_from(interval.as_millis() * 3).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = now_millis();
        match service.repo().end_due_faults(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "faults ended"),
            Err(e) => tracing::warn!(error = %e, "ending faults failed; retrying next tick"),
        }
        let Some(producer) = &producer else { continue };
        match service
            .repo()
            .lease(LEASE, &holder, now + lease_ms, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "sampler lease check failed");
                continue;
            }
        }
        if let Err(e) = publish(service.repo(), producer, now).await {
            tracing::warn!(error = %e, "publishing load samples failed; skipping this tick");
        }
    }
}

async fn publish<R: ProvisioningRepository>(
    repo: &R,
    producer: &Producer,
    now: i64,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (droplets, faults) = repo.fleet(now).await?;
    let batches = load::samples(&droplets, &faults, now, &mut rand::rng());
    let encoded: Vec<(String, String, Vec<u8>, usize)> = batches
        .into_iter()
        .map(|(cluster, samples)| {
            let n = samples.len();
            let payload = ev::MetricSamples { samples }.encode_to_vec();
            (cluster, new_id(), payload, n)
        })
        .collect();
    let event_type = <ev::MetricSamples as prost::Name>::full_name();
    let records: Vec<Outgoing<'_>> = encoded
        .iter()
        .map(|(cluster, id, payload, _)| Outgoing {
            topic: topics::METRICS_SAMPLES.name,
            key: cluster,
            event_id: id,
            event_type: &event_type,
            payload,
            traceparent: None,
        })
        .collect();
    producer.send_all(&records).await?;
    let total: usize = encoded.iter().map(|e| e.3).sum();
    metrics::counter!("cg_fleet_samples_total").increment(total as u64);
    tracing::debug!(
        clusters = encoded.len(),
        samples = total,
        "load samples published"
    );
    Ok(())
}
