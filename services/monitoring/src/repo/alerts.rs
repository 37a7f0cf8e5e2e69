//! Alert rules and alerts on MySQL/MariaDB and SQLite (sqlx `Any`). An
//! alert's change and the activity entry it makes are one transaction; at
//! most one alert per rule and droplet is open, by a unique key.

use cg_runtime::{
    ApiError,
    activity::{Activity, Severity},
    db::{Db, Order, Where, is_unique_violation, page_by_id, replay},
    outbox::{self, Wake},
    page::{PageOf, PageRequest},
};
use sqlx::{AnyPool, Row, any::AnyRow};

use super::{AlertStore, Result};
use crate::alerts::{self, Alert, AlertFilter, Comparison, Rule, State, Step};

const RULE_COLUMNS: &str =
    "id, cluster_id, name, metric, comparison, threshold, for_ms, severity, request_id, created_at";
const ALERT_COLUMNS: &str = "id, rule_id, rule_name, cluster_id, droplet_id, state, value, last_ms, \
    started_ms, fired_ms, resolved_ms";

#[derive(Debug, Clone)]
pub struct SqlAlerts {
    pool: AnyPool,
    wake: Wake,
}

impl SqlAlerts {
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

fn severity(n: i64) -> Severity {
    crate::activity::Severity::from_number(n)
        .unwrap_or(crate::activity::Severity::Warning)
        .into()
}

fn rule_from(row: &AnyRow) -> Result<Rule> {
    let metric: String = row.try_get("metric")?;
    let comparison: String = row.try_get("comparison")?;
    Ok(Rule {
        id: row.try_get("id")?,
        cluster_id: row.try_get("cluster_id")?,
        name: row.try_get("name")?,
        metric: alerts::metric_from_column(&metric)
            .ok_or_else(|| bad(format!("alert metric {metric}")))?,
        comparison: Comparison::from_column(&comparison)
            .ok_or_else(|| bad(format!("alert comparison {comparison}")))?,
        threshold: row.try_get("threshold")?,
        for_ms: row.try_get("for_ms")?,
        severity: severity(row.try_get("severity")?),
        request_id: row.try_get("request_id")?,
        created_at: row.try_get("created_at")?,
    })
}

fn alert_from(row: &AnyRow) -> Result<Alert> {
    let state: String = row.try_get("state")?;
    Ok(Alert {
        id: row.try_get("id")?,
        rule_id: row.try_get("rule_id")?,
        rule_name: row.try_get("rule_name")?,
        cluster_id: row.try_get("cluster_id")?,
        droplet_id: row.try_get("droplet_id")?,
        state: State::from_column(&state).ok_or_else(|| bad(format!("alert state {state}")))?,
        value: row.try_get("value")?,
        last_ms: row.try_get("last_ms")?,
        started_ms: row.try_get("started_ms")?,
        fired_ms: row.try_get("fired_ms")?,
        resolved_ms: row.try_get("resolved_ms")?,
    })
}

fn open_key(rule: &str, droplet: &str) -> String {
    format!("{rule}/{droplet}")
}

/// The activity entry for an alert that fires or resolves.
fn entry(rule: &Rule, droplet: &str, to: State, value: f64, t: i64) -> Option<Activity> {
    let (kind, severity, message) = match to {
        State::Firing => (
            "alert.fired",
            rule.severity,
            format!(
                "alert {} firing on droplet {droplet}: {} {value:.1} {} {}",
                rule.name,
                rule.metric.column(),
                rule.comparison.as_str(),
                rule.threshold
            ),
        ),
        State::Resolved => (
            "alert.resolved",
            Severity::Info,
            format!(
                "alert {} resolved on droplet {droplet}: {} back to {value:.1}",
                rule.name,
                rule.metric.column()
            ),
        ),
        State::Pending => return None,
    };
    Some(
        Activity::new("monitoring", kind, severity, message, t)
            .cluster(&rule.cluster_id)
            .droplet(droplet)
            .attribute("rule", rule.name.clone())
            .attribute("value", format!("{value:.2}")),
    )
}

impl AlertStore for SqlAlerts {
    async fn insert_rule(&self, rule: &Rule, fingerprint: &str) -> Result<Rule> {
        let res = sqlx::query(&format!(
            "INSERT INTO alert_rules ({RULE_COLUMNS}, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(rule.id.as_str())
        .bind(rule.cluster_id.as_str())
        .bind(rule.name.as_str())
        .bind(rule.metric.column())
        .bind(rule.comparison.as_str())
        .bind(rule.threshold)
        .bind(rule.for_ms)
        .bind(rule.severity as i64)
        .bind(rule.request_id.clone())
        .bind(rule.created_at)
        .bind(fingerprint)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => Ok(rule.clone()),
            Err(e) if is_unique_violation(&e) => {
                let select = format!(
                    "SELECT {RULE_COLUMNS}, fingerprint FROM alert_rules WHERE request_id = ?"
                );
                if let Some(earlier) = replay(
                    &self.pool,
                    &select,
                    rule.request_id.as_deref(),
                    fingerprint,
                    rule_from,
                )
                .await?
                {
                    return Ok(earlier);
                }
                Err(alerts::conflict(&rule.name, &rule.cluster_id))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn rule(&self, id: &str) -> Result<Rule> {
        let row = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("alert rule", id))?;
        rule_from(&row)
    }

    async fn rules(&self, cluster: Option<&str>, page: &PageRequest) -> Result<PageOf<Rule>> {
        let mut w = Where::new();
        w.text("cluster_id = ?", cluster);
        page_by_id(
            &self.pool,
            RULE_COLUMNS,
            "alert_rules",
            w,
            Order::OldestFirst,
            page,
            rule_from,
            |r| r.id.clone(),
        )
        .await
    }

    async fn all_rules(&self) -> Result<Vec<Rule>> {
        sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM alert_rules"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rule_from)
            .collect()
    }

    async fn delete_rule(&self, id: &str, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM alert_rules WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(ApiError::not_found("alert rule", id));
        }
        sqlx::query(
            "UPDATE alerts SET state = 'resolved', resolved_ms = ?, open_key = NULL \
             WHERE rule_id = ? AND open_key IS NOT NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn alerts(&self, filter: &AlertFilter, page: &PageRequest) -> Result<PageOf<Alert>> {
        let mut w = Where::new();
        w.text("cluster_id = ?", filter.cluster_id.as_deref())
            .text("rule_id = ?", filter.rule_id.as_deref())
            .text("state = ?", filter.state.map(State::as_str));
        page_by_id(
            &self.pool,
            ALERT_COLUMNS,
            "alerts",
            w,
            Order::NewestFirst,
            page,
            alert_from,
            |r| r.id.clone(),
        )
        .await
    }

    async fn open_alert(&self, rule: &str, droplet: &str) -> Result<Option<Alert>> {
        sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE open_key = ?"
        ))
        .bind(open_key(rule, droplet))
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(alert_from)
        .transpose()
    }

    async fn apply(
        &self,
        rule: &Rule,
        open: Option<&Alert>,
        droplet: &str,
        step: Step,
        value: f64,
        t: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let announce = match (step, open) {
            (Step::Nothing, _) => return Ok(()),
            (Step::Open(state), _) => {
                let res = sqlx::query(&format!(
                    "INSERT INTO alerts ({ALERT_COLUMNS}, open_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"
                ))
                .bind(cg_runtime::new_id())
                .bind(rule.id.as_str())
                .bind(rule.name.as_str())
                .bind(rule.cluster_id.as_str())
                .bind(droplet)
                .bind(state.as_str())
                .bind(value)
                .bind(t)
                .bind(t)
                .bind((state == State::Firing).then_some(t))
                .bind(open_key(&rule.id, droplet))
                .execute(&mut *tx)
                .await;
                match res {
                    Ok(_) => {}
                    // Another evaluation opened it first.
                    Err(e) if is_unique_violation(&e) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
                (state == State::Firing).then_some(state)
            }
            (Step::Move(state), Some(a)) => {
                let resolved = state == State::Resolved;
                let moved = sqlx::query(
                    "UPDATE alerts SET state = ?, value = ?, last_ms = ?, \
                     fired_ms = CASE WHEN ? = 'firing' AND fired_ms IS NULL THEN ? ELSE fired_ms END, \
                     resolved_ms = ?, open_key = ? WHERE id = ? AND last_ms < ? AND open_key IS NOT NULL",
                )
                .bind(state.as_str())
                .bind(value)
                .bind(t)
                .bind(state.as_str())
                .bind(t)
                .bind(resolved.then_some(t))
                .bind((!resolved).then(|| open_key(&rule.id, droplet)))
                .bind(a.id.as_str())
                .bind(t)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                (moved == 1 && state != a.state).then_some(state)
            }
            (Step::Drop, Some(a)) => {
                sqlx::query("DELETE FROM alerts WHERE id = ? AND state = 'pending'")
                    .bind(a.id.as_str())
                    .execute(&mut *tx)
                    .await?;
                None
            }
            (Step::Move(_) | Step::Drop, None) => return Ok(()),
        };
        let activity = announce.and_then(|to| entry(rule, droplet, to, value, t));
        if let Some(a) = &activity {
            outbox::enqueue(&mut tx, a.event()).await?;
        }
        tx.commit().await?;
        if activity.is_some() {
            self.wake.wake();
        }
        Ok(())
    }
}
