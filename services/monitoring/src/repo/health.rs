//! Health checks on MySQL/MariaDB and SQLite (sqlx `Any`). A round's
//! results, the verdicts they move and the events announcing both are one
//! transaction, so what `cg.health.results` says is what is stored.

use std::collections::{HashMap, HashSet};

use cg_runtime::{
    ApiError,
    activity::{Activity, Severity},
    db::{Db, Order, Where, is_unique_violation, page_by_id, replay},
    outbox::{self, Wake},
    page::{PageOf, PageRequest},
    topic::topics,
    types::clip,
};
use sqlx::{AnyPool, Row, any::AnyRow};

use super::{HealthStore, Result};
use crate::{
    domain::{DropletStatus, Metric},
    health::{self, Check, Kind, Probe, ResultFilter, ResultRow, State, Target, Verdict},
    wire,
};

const CHECK_COLUMNS: &str = "id, cluster_id, name, kind, port, path, interval_ms, timeout_ms, \
    unhealthy_threshold, healthy_threshold, enabled, request_id, next_run_ms, created_at, updated_at";
const VERDICT_COLUMNS: &str = "check_id, droplet_id, cluster_id, state, consecutive_failures, \
    consecutive_successes, last_result_ms, last_message";
const RESULT_COLUMNS: &str =
    "id, check_id, cluster_id, droplet_id, healthy, latency_us, message, time_ms";
/// A probe sees the droplet's latest CPU sample within this window.
const LOAD_WINDOW_MS: i64 = 30_000;

#[derive(Debug, Clone)]
pub struct SqlHealth {
    pool: AnyPool,
    wake: Wake,
}

impl SqlHealth {
    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
            wake: db.wake.clone(),
        }
    }
}

fn bad(what: String) -> ApiError {
    ApiError::Storage(sqlx::Error::Decode(what.into()))
}

fn number(row: &AnyRow, col: &str) -> Result<u32> {
    Ok(u32::try_from(row.try_get::<i64, _>(col)?).unwrap_or_default())
}

fn check_from(row: &AnyRow) -> Result<Check> {
    let kind: String = row.try_get("kind")?;
    Ok(Check {
        id: row.try_get("id")?,
        cluster_id: row.try_get("cluster_id")?,
        name: row.try_get("name")?,
        kind: Kind::from_column(&kind).ok_or_else(|| bad(format!("check kind {kind}")))?,
        port: u16::try_from(row.try_get::<i64, _>("port")?).unwrap_or_default(),
        path: row.try_get("path")?,
        interval_ms: row.try_get("interval_ms")?,
        timeout_ms: row.try_get("timeout_ms")?,
        unhealthy_threshold: number(row, "unhealthy_threshold")?,
        healthy_threshold: number(row, "healthy_threshold")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        request_id: row.try_get("request_id")?,
        next_run_ms: row.try_get("next_run_ms")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn verdict_from(row: &AnyRow) -> Result<Verdict> {
    let state: String = row.try_get("state")?;
    Ok(Verdict {
        check_id: row.try_get("check_id")?,
        droplet_id: row.try_get("droplet_id")?,
        cluster_id: row.try_get("cluster_id")?,
        state: State::from_column(&state).ok_or_else(|| bad(format!("health state {state}")))?,
        consecutive_failures: number(row, "consecutive_failures")?,
        consecutive_successes: number(row, "consecutive_successes")?,
        last_result_ms: row.try_get("last_result_ms")?,
        last_message: row.try_get("last_message")?,
    })
}

fn result_from(row: &AnyRow) -> Result<ResultRow> {
    Ok(ResultRow {
        id: row.try_get("id")?,
        check_id: row.try_get("check_id")?,
        cluster_id: row.try_get("cluster_id")?,
        droplet_id: row.try_get("droplet_id")?,
        healthy: row.try_get::<i64, _>("healthy")? != 0,
        latency_us: row.try_get("latency_us")?,
        message: row.try_get("message")?,
        time_ms: row.try_get("time_ms")?,
    })
}

impl HealthStore for SqlHealth {
    async fn insert_check(&self, check: &Check, fingerprint: &str) -> Result<Check> {
        let res = sqlx::query(&format!(
            "INSERT INTO health_checks ({CHECK_COLUMNS}, fingerprint) VALUES \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(check.id.as_str())
        .bind(check.cluster_id.as_str())
        .bind(check.name.as_str())
        .bind(check.kind.as_str())
        .bind(i64::from(check.port))
        .bind(check.path.as_str())
        .bind(check.interval_ms)
        .bind(check.timeout_ms)
        .bind(i64::from(check.unhealthy_threshold))
        .bind(i64::from(check.healthy_threshold))
        .bind(i64::from(check.enabled))
        .bind(check.request_id.clone())
        .bind(check.next_run_ms)
        .bind(check.created_at)
        .bind(check.updated_at)
        .bind(fingerprint)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => Ok(check.clone()),
            Err(e) if is_unique_violation(&e) => {
                let select = format!(
                    "SELECT {CHECK_COLUMNS}, fingerprint FROM health_checks WHERE request_id = ?"
                );
                if let Some(earlier) = replay(
                    &self.pool,
                    &select,
                    check.request_id.as_deref(),
                    fingerprint,
                    check_from,
                )
                .await?
                {
                    return Ok(earlier);
                }
                Err(ApiError::AlreadyExists(format!(
                    "a health check named {} already exists in cluster {}",
                    check.name, check.cluster_id
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn check(&self, id: &str) -> Result<Check> {
        let row = sqlx::query(&format!(
            "SELECT {CHECK_COLUMNS} FROM health_checks WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("health check", id))?;
        check_from(&row)
    }

    async fn verdicts(&self, check_id: &str) -> Result<Vec<Verdict>> {
        sqlx::query(&format!(
            "SELECT {VERDICT_COLUMNS} FROM health_states WHERE check_id = ? ORDER BY droplet_id"
        ))
        .bind(check_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(verdict_from)
        .collect()
    }

    async fn checks(
        &self,
        cluster: Option<&str>,
        kind: Option<Kind>,
        page: &PageRequest,
    ) -> Result<PageOf<Check>> {
        let mut w = Where::new();
        w.text("cluster_id = ?", cluster)
            .text("kind = ?", kind.map(Kind::as_str));
        page_by_id(
            &self.pool,
            CHECK_COLUMNS,
            "health_checks",
            w,
            Order::OldestFirst,
            page,
            check_from,
            |r| r.id.clone(),
        )
        .await
    }

    async fn update_check(&self, current: &Check, next: &Check) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "UPDATE health_checks SET name = ?, port = ?, path = ?, interval_ms = ?, timeout_ms = ?, \
             unhealthy_threshold = ?, healthy_threshold = ?, enabled = ?, next_run_ms = ?, updated_at = ? \
             WHERE id = ? AND updated_at = ?",
        )
        .bind(next.name.as_str())
        .bind(i64::from(next.port))
        .bind(next.path.as_str())
        .bind(next.interval_ms)
        .bind(next.timeout_ms)
        .bind(i64::from(next.unhealthy_threshold))
        .bind(i64::from(next.healthy_threshold))
        .bind(i64::from(next.enabled))
        .bind(next.next_run_ms)
        .bind(next.updated_at)
        .bind(current.id.as_str())
        .bind(current.updated_at)
        .execute(&mut *tx)
        .await;
        match res {
            Ok(r) if r.rows_affected() == 0 => {
                return Err(ApiError::FailedPrecondition(
                    "the health check changed meanwhile; read it and update again".into(),
                ));
            }
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::AlreadyExists(format!(
                    "a health check named {} already exists in cluster {}",
                    next.name, next.cluster_id
                )));
            }
            Err(e) => return Err(e.into()),
        }
        if !next.enabled {
            sqlx::query("DELETE FROM health_states WHERE check_id = ?")
                .bind(current.id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_check(&self, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM health_checks WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(ApiError::not_found("health check", id));
        }
        sqlx::query("DELETE FROM health_states WHERE check_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn results(
        &self,
        filter: &ResultFilter,
        page: &PageRequest,
    ) -> Result<PageOf<ResultRow>> {
        let mut w = Where::new();
        w.text("check_id = ?", filter.check_id.as_deref())
            .text("cluster_id = ?", filter.cluster_id.as_deref())
            .text("droplet_id = ?", filter.droplet_id.as_deref())
            .int("time_ms >= ?", filter.start_ms)
            .int("time_ms < ?", filter.end_ms);
        if filter.unhealthy_only {
            w.with("healthy = 0", Vec::new());
        }
        page_by_id(
            &self.pool,
            RESULT_COLUMNS,
            "health_results",
            w,
            Order::NewestFirst,
            page,
            result_from,
            |r| r.id.clone(),
        )
        .await
    }

    async fn due(&self, now: i64, limit: u32) -> Result<Vec<Check>> {
        sqlx::query(&format!(
            "SELECT {CHECK_COLUMNS} FROM health_checks WHERE enabled = 1 AND next_run_ms <= ? \
             ORDER BY next_run_ms LIMIT {limit}"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(check_from)
        .collect()
    }

    async fn claim(&self, check: &Check, now: i64) -> Result<bool> {
        // The next round keeps its cadence, but never lands in the past.
        let next = (check.next_run_ms + check.interval_ms).max(now + 1);
        Ok(sqlx::query(
            "UPDATE health_checks SET next_run_ms = ? WHERE id = ? AND next_run_ms = ? AND enabled = 1",
        )
        .bind(next)
        .bind(check.id.as_str())
        .bind(check.next_run_ms)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    async fn targets(&self, cluster: &str, now: i64) -> Result<Vec<Target>> {
        let rows = sqlx::query(
            "SELECT id, status FROM droplets WHERE cluster_id = ? AND status IN ('active', 'off') ORDER BY id",
        )
        .bind(cluster)
        .fetch_all(&self.pool)
        .await?;
        let mut targets = Vec::with_capacity(rows.len());
        for row in &rows {
            let status: String = row.try_get("status")?;
            targets.push(Target {
                droplet_id: row.try_get("id")?,
                status: DropletStatus::from_column(&status)
                    .ok_or_else(|| bad(format!("droplet status {status}")))?,
                cpu: None,
                faults: Vec::new(),
            });
        }
        if targets.is_empty() {
            return Ok(targets);
        }
        // The latest sample of each droplet within the window.
        let cpu = Metric::Cpu.column();
        let mut load: HashMap<String, f64> = HashMap::new();
        for r in sqlx::query(&format!(
            "SELECT droplet_id, {cpu} FROM metric_samples WHERE cluster_id = ? AND time_ms >= ? \
             ORDER BY droplet_id, time_ms"
        ))
        .bind(cluster)
        .bind(now - LOAD_WINDOW_MS)
        .fetch_all(&self.pool)
        .await?
        {
            load.insert(r.try_get(0)?, r.try_get(1)?);
        }
        let ids = vec!["?"; targets.len()].join(", ");
        let sql = format!(
            "SELECT droplet_id, kind FROM droplet_faults WHERE end_ms > ? AND droplet_id IN ({ids})"
        );
        let mut q = sqlx::query(&sql).bind(now);
        for t in &targets {
            q = q.bind(t.droplet_id.as_str());
        }
        let mut faults: HashMap<String, Vec<String>> = HashMap::new();
        for r in q.fetch_all(&self.pool).await? {
            faults
                .entry(r.try_get("droplet_id")?)
                .or_default()
                .push(r.try_get("kind")?);
        }
        for t in &mut targets {
            t.cpu = load.get(&t.droplet_id).copied();
            t.faults = faults.remove(&t.droplet_id).unwrap_or_default();
        }
        Ok(targets)
    }

    async fn record_round(
        &self,
        check: &Check,
        results: &[(ResultRow, Probe)],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let before: HashMap<String, Verdict> = sqlx::query(&format!(
            "SELECT {VERDICT_COLUMNS} FROM health_states WHERE check_id = ?"
        ))
        .bind(check.id.as_str())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| verdict_from(r).map(|v| (v.droplet_id.clone(), v)))
        .collect::<Result<_>>()?;
        // Droplets no longer probed (destroyed, moved) have no verdict.
        let probed: HashSet<&str> = results.iter().map(|(r, _)| r.droplet_id.as_str()).collect();
        for gone in before.keys().filter(|d| !probed.contains(d.as_str())) {
            sqlx::query("DELETE FROM health_states WHERE check_id = ? AND droplet_id = ?")
                .bind(check.id.as_str())
                .bind(gone.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let mut moved = Vec::with_capacity(results.len());
        for (row, probe) in results {
            sqlx::query(&format!(
                "INSERT INTO health_results ({RESULT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(row.id.as_str())
            .bind(row.check_id.as_str())
            .bind(row.cluster_id.as_str())
            .bind(row.droplet_id.as_str())
            .bind(i64::from(row.healthy))
            .bind(row.latency_us)
            .bind(clip(&row.message, 255))
            .bind(row.time_ms)
            .execute(&mut *tx)
            .await?;
            let prev = before
                .get(&row.droplet_id)
                .cloned()
                .unwrap_or_else(|| Verdict::new(check, &row.droplet_id));
            let next = prev.after(check, probe, now);
            let updated = sqlx::query(
                "UPDATE health_states SET state = ?, consecutive_failures = ?, consecutive_successes = ?, \
                 last_result_ms = ?, last_message = ? WHERE check_id = ? AND droplet_id = ?",
            )
            .bind(next.state.as_str())
            .bind(i64::from(next.consecutive_failures))
            .bind(i64::from(next.consecutive_successes))
            .bind(next.last_result_ms)
            .bind(clip(&next.last_message, 255))
            .bind(check.id.as_str())
            .bind(row.droplet_id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                sqlx::query(&format!(
                    "INSERT INTO health_states ({VERDICT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .bind(check.id.as_str())
                .bind(row.droplet_id.as_str())
                .bind(check.cluster_id.as_str())
                .bind(next.state.as_str())
                .bind(i64::from(next.consecutive_failures))
                .bind(i64::from(next.consecutive_successes))
                .bind(next.last_result_ms)
                .bind(clip(&next.last_message, 255))
                .execute(&mut *tx)
                .await?;
            }
            moved.push((prev.state, next));
        }
        // The cluster as every enabled check now judges it.
        let states: Vec<(String, State)> = sqlx::query(
            "SELECT s.droplet_id, s.state FROM health_states s \
             JOIN health_checks c ON c.id = s.check_id \
             WHERE s.cluster_id = ? AND c.enabled = 1",
        )
        .bind(check.cluster_id.as_str())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            let s: String = r.try_get(1)?;
            Ok((
                r.try_get(0)?,
                State::from_column(&s).ok_or_else(|| bad(format!("health state {s}")))?,
            ))
        })
        .collect::<Result<_>>()?;
        let cluster = health::cluster_health(&states);
        for ((row, _), (was, verdict)) in results.iter().zip(&moved) {
            let event = wire::health_event(row, verdict, cluster);
            outbox::enqueue(
                &mut tx,
                topics::HEALTH_RESULTS.event(&row.cluster_id, &event),
            )
            .await?;
            let change = match (was, verdict.state) {
                (State::Healthy | State::Unknown, State::Unhealthy) => Some((
                    "health.unhealthy",
                    Severity::Warning,
                    format!(
                        "check {} failing on droplet {} ({} in a row): {}",
                        check.name, row.droplet_id, verdict.consecutive_failures, row.message
                    ),
                )),
                (State::Unhealthy, State::Healthy) => Some((
                    "health.healthy",
                    Severity::Info,
                    format!(
                        "check {} passing again on droplet {}",
                        check.name, row.droplet_id
                    ),
                )),
                _ => None,
            };
            if let Some((kind, severity, message)) = change {
                let entry = Activity::new("monitoring", kind, severity, message, now)
                    .cluster(&row.cluster_id)
                    .droplet(&row.droplet_id)
                    .health_check(&check.id)
                    .attribute("check", check.name.clone());
                outbox::enqueue(&mut tx, entry.event()).await?;
            }
        }
        tx.commit().await?;
        self.wake.wake();
        Ok(())
    }

    async fn record_fault(
        &self,
        fault_id: &str,
        droplet: &str,
        kind: &str,
        end_ms: Option<i64>,
    ) -> Result<()> {
        match end_ms {
            Some(end) => {
                let updated = sqlx::query("UPDATE droplet_faults SET end_ms = ? WHERE id = ?")
                    .bind(end)
                    .bind(fault_id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if updated == 0 {
                    let res = sqlx::query(
                        "INSERT INTO droplet_faults (id, droplet_id, kind, end_ms) VALUES (?, ?, ?, ?)",
                    )
                    .bind(fault_id)
                    .bind(droplet)
                    .bind(kind)
                    .bind(end)
                    .execute(&self.pool)
                    .await;
                    match res {
                        Ok(_) => {}
                        Err(e) if is_unique_violation(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            None => {
                sqlx::query("DELETE FROM droplet_faults WHERE id = ?")
                    .bind(fault_id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    async fn unhealthy_droplets(&self, cluster: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(DISTINCT s.droplet_id) FROM health_states s \
             JOIN health_checks c ON c.id = s.check_id \
             WHERE s.cluster_id = ? AND s.state = 'unhealthy' AND c.enabled = 1",
        )
        .bind(cluster)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn trim_results(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM health_results WHERE time_ms < ?")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
