//! Storage of policies, per-cluster scaling state and decisions. The trait
//! speaks plain domain types; [`SqlScaler`] implements it on MySQL/MariaDB
//! and SQLite, and one suite (`tests/repository.rs`) runs against every
//! implementation.
//!
//! A cluster's state row carries a version, and every evaluation that
//! records or acts writes it with a compare-and-set together with its
//! decision and activity entry: of two replicas that evaluated one cluster
//! at once (a partition moving between them), one records, the other learns
//! it lost and does nothing.

use std::future::Future;

use cg_runtime::{
    ApiError,
    activity::Activity,
    db::{Db, Order, Where, is_unique_violation, page_by_id, replay},
    outbox::{self, Wake},
    page::{PageOf, PageRequest},
};
use sqlx::{AnyPool, Row, any::AnyRow};

use crate::{
    decision::Decision,
    hpa::Metric,
    policy::{Policy, PolicyName, PolicySpec, ScheduleSpec},
};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// What the scaler keeps per cluster.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterState {
    pub cluster_id: String,
    /// 0: no cap.
    pub monthly_cost_cap_cents: i64,
    /// The engine's stabilization history, as JSON.
    pub history: String,
    /// The last scaling job created, until it is seen to finish.
    pub last_job_id: Option<String>,
    /// A decision that acts whose job is not confirmed yet.
    pub pending_decision_id: Option<String>,
    /// What the last recorded decision said, to record changes only.
    pub last_summary: Option<String>,
    /// 0 for a cluster never written.
    pub version: i64,
    pub updated_at: i64,
}

/// Which decisions to list.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub cluster_id: Option<String>,
    pub policy_id: Option<String>,
    pub action: Option<String>,
}

pub trait ScalerStore: Send + Sync + 'static {
    /// Stores a new policy. The same `request_id` with the same
    /// `fingerprint` replays the stored one; with another it is
    /// `IdempotencyMismatch`; a name taken in the cluster is `AlreadyExists`.
    fn insert_policy(
        &self,
        policy: &Policy,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Policy>> + Send;
    fn policy(&self, id: &str) -> impl Future<Output = Result<Policy>> + Send;
    /// Oldest first.
    fn policies(
        &self,
        cluster: Option<&str>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Policy>>> + Send;
    /// The enabled policies of `cluster`, oldest first.
    fn enabled_policies(&self, cluster: &str) -> impl Future<Output = Result<Vec<Policy>>> + Send;
    /// Every policy of `cluster`, oldest first.
    fn all_policies(&self, cluster: &str) -> impl Future<Output = Result<Vec<Policy>>> + Send;
    /// Writes every field of an existing policy but its cluster and creation,
    /// if it was last written at `read_at` (its `updated_at` when read):
    /// `None` when another update came in between, so a merge of a partial
    /// update never writes back a value read before someone else's change.
    fn update_policy(
        &self,
        policy: &Policy,
        read_at: i64,
    ) -> impl Future<Output = Result<Option<Policy>>> + Send;
    fn delete_policy(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// The cluster's state; a default (version 0) for one never written.
    fn cluster(&self, cluster: &str) -> impl Future<Output = Result<ClusterState>> + Send;
    /// Sets the cost cap, whatever the version.
    fn set_cost_cap(
        &self,
        cluster: &str,
        cents: i64,
        now: i64,
    ) -> impl Future<Output = Result<ClusterState>> + Send;
    /// Writes `next` if the stored version is still `next.version - 1`
    /// (absent for 1), with the decision and its activity entry in the same
    /// transaction. False when another writer got there first.
    fn record(
        &self,
        next: &ClusterState,
        decision: Option<&Decision>,
        activity: Option<&Activity>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Writes `next` by the same compare-and-set as [`Self::record`], and
    /// the decision's job id into its stored body.
    fn attach_job(
        &self,
        next: &ClusterState,
        decision: &Decision,
    ) -> impl Future<Output = Result<bool>> + Send;

    fn decision(&self, id: &str) -> impl Future<Output = Result<Decision>> + Send;
    /// Newest first.
    fn decisions(
        &self,
        filter: &DecisionFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Decision>>> + Send;
    /// Decisions written (recorded, or given their job) after sequence
    /// number `after`, in commit order, with their numbers: for streams
    /// that tail the table.
    fn decisions_after(
        &self,
        cluster: Option<&str>,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(i64, Decision)>>> + Send;
    /// The newest sequence number written (0 before any decision).
    fn last_seq(&self) -> impl Future<Output = Result<i64>> + Send;
}

const POLICY_COLUMNS: &str = "id, cluster_id, name, metric, target_value, min_droplets, \
    max_droplets, size, image, up_window_ms, down_window_ms, schedules, enabled, request_id, \
    created_at, updated_at";
const CLUSTER_COLUMNS: &str = "cluster_id, monthly_cost_cap_cents, history, last_job_id, \
    pending_decision_id, last_summary, version, updated_at";
const DECISION_COLUMNS: &str = "id, cluster_id, action, policy_ids, body, created_at";

#[derive(Debug, Clone)]
pub struct SqlScaler {
    pool: AnyPool,
    wake: Wake,
}

impl SqlScaler {
    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
            wake: db.wake.clone(),
        }
    }
}

/// The next number of the decisions' sequence, inside `tx`: the row lock
/// taken here is held until commit, so numbers commit in order.
async fn next_seq(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<i64> {
    sqlx::query("UPDATE scaling_sequence SET value = value + 1 WHERE name = 'decisions'")
        .execute(&mut **tx)
        .await?;
    Ok(
        sqlx::query("SELECT value FROM scaling_sequence WHERE name = 'decisions'")
            .fetch_one(&mut **tx)
            .await?
            .try_get("value")?,
    )
}

fn bad(what: String) -> ApiError {
    ApiError::Storage(sqlx::Error::Decode(what.into()))
}

fn count(row: &AnyRow, column: &str) -> Result<u32> {
    let n: i64 = row.try_get(column)?;
    u32::try_from(n).map_err(|_| bad(format!("{column} {n}")))
}

fn policy_from(row: &AnyRow) -> Result<Policy> {
    let metric: String = row.try_get("metric")?;
    let name: String = row.try_get("name")?;
    let schedules: Vec<u8> = row.try_get("schedules")?;
    let schedules: Vec<ScheduleSpec> =
        serde_json::from_slice(&schedules).map_err(|e| bad(format!("policy schedules: {e}")))?;
    let enabled: i64 = row.try_get("enabled")?;
    Ok(Policy {
        id: row.try_get("id")?,
        cluster_id: row.try_get("cluster_id")?,
        spec: PolicySpec {
            name: PolicyName::parse(&name).map_err(|e| bad(format!("policy name: {e}")))?,
            metric: Metric::from_slug(&metric)
                .ok_or_else(|| bad(format!("policy metric {metric}")))?,
            target: row.try_get("target_value")?,
            min: count(row, "min_droplets")?,
            max: count(row, "max_droplets")?,
            size: row.try_get("size")?,
            image: row.try_get("image")?,
            up_window_ms: row.try_get("up_window_ms")?,
            down_window_ms: row.try_get("down_window_ms")?,
            schedules,
            enabled: enabled != 0,
        },
        request_id: row.try_get("request_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn cluster_from(row: &AnyRow) -> Result<ClusterState> {
    Ok(ClusterState {
        cluster_id: row.try_get("cluster_id")?,
        monthly_cost_cap_cents: row.try_get("monthly_cost_cap_cents")?,
        history: String::from_utf8(row.try_get("history")?)
            .map_err(|e| bad(format!("cluster history: {e}")))?,
        last_job_id: row.try_get("last_job_id")?,
        pending_decision_id: row.try_get("pending_decision_id")?,
        last_summary: row.try_get("last_summary")?,
        version: row.try_get("version")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn decision_from(row: &AnyRow) -> Result<Decision> {
    let body: Vec<u8> = row.try_get("body")?;
    serde_json::from_slice(&body).map_err(|e| bad(format!("decision body: {e}")))
}

fn schedules_json(p: &Policy) -> Result<Vec<u8>> {
    serde_json::to_vec(&p.spec.schedules).map_err(|e| bad(format!("policy schedules: {e}")))
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds a policy's spec columns, in `POLICY_COLUMNS` order (name …
/// enabled): what an insert and an update both write.
fn bind_spec<'q>(q: AnyQuery<'q>, p: &'q Policy) -> Result<AnyQuery<'q>> {
    Ok(q.bind(p.spec.name.as_str())
        .bind(p.spec.metric.slug())
        .bind(p.spec.target)
        .bind(i64::from(p.spec.min))
        .bind(i64::from(p.spec.max))
        .bind(p.spec.size.as_str())
        .bind(p.spec.image.as_str())
        .bind(p.spec.up_window_ms)
        .bind(p.spec.down_window_ms)
        .bind(schedules_json(p)?)
        .bind(i64::from(p.spec.enabled)))
}

fn name_taken(p: &Policy) -> ApiError {
    ApiError::AlreadyExists(format!(
        "a policy named {} exists in cluster {}",
        p.spec.name.as_str(),
        p.cluster_id
    ))
}

impl ScalerStore for SqlScaler {
    async fn insert_policy(&self, p: &Policy, fingerprint: &str) -> Result<Policy> {
        let sql = format!(
            "INSERT INTO scaling_policies ({POLICY_COLUMNS}, fingerprint) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        let q = sqlx::query(&sql)
            .bind(p.id.as_str())
            .bind(p.cluster_id.as_str());
        let res = bind_spec(q, p)?
            .bind(p.request_id.clone())
            .bind(p.created_at)
            .bind(p.updated_at)
            .bind(fingerprint)
            .execute(&self.pool)
            .await;
        match res {
            Ok(_) => Ok(p.clone()),
            Err(e) if is_unique_violation(&e) => {
                let select = format!(
                    "SELECT {POLICY_COLUMNS}, fingerprint FROM scaling_policies WHERE request_id = ?"
                );
                if let Some(earlier) = replay(
                    &self.pool,
                    &select,
                    p.request_id.as_deref(),
                    fingerprint,
                    policy_from,
                )
                .await?
                {
                    return Ok(earlier);
                }
                Err(name_taken(p))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn policy(&self, id: &str) -> Result<Policy> {
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM scaling_policies WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("policy", id))?;
        policy_from(&row)
    }

    async fn policies(&self, cluster: Option<&str>, page: &PageRequest) -> Result<PageOf<Policy>> {
        let mut w = Where::new();
        w.text("cluster_id = ?", cluster);
        page_by_id(
            &self.pool,
            POLICY_COLUMNS,
            "scaling_policies",
            w,
            Order::OldestFirst,
            page,
            policy_from,
            |p| p.id.clone(),
        )
        .await
    }

    async fn enabled_policies(&self, cluster: &str) -> Result<Vec<Policy>> {
        sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM scaling_policies \
             WHERE cluster_id = ? AND enabled <> 0 ORDER BY id"
        ))
        .bind(cluster)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(policy_from)
        .collect()
    }

    async fn all_policies(&self, cluster: &str) -> Result<Vec<Policy>> {
        sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM scaling_policies WHERE cluster_id = ? ORDER BY id"
        ))
        .bind(cluster)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(policy_from)
        .collect()
    }

    async fn update_policy(&self, p: &Policy, read_at: i64) -> Result<Option<Policy>> {
        let q = sqlx::query(
            "UPDATE scaling_policies SET name = ?, metric = ?, target_value = ?, \
             min_droplets = ?, max_droplets = ?, size = ?, image = ?, up_window_ms = ?, \
             down_window_ms = ?, schedules = ?, enabled = ?, updated_at = ? \
             WHERE id = ? AND updated_at = ?",
        );
        let res = bind_spec(q, p)?
            .bind(p.updated_at)
            .bind(p.id.as_str())
            .bind(read_at)
            .execute(&self.pool)
            .await;
        match res {
            // Gone, or changed since it was read.
            Ok(r) if r.rows_affected() == 0 => self.policy(&p.id).await.map(|_| None),
            Ok(_) => self.policy(&p.id).await.map(Some),
            Err(e) if is_unique_violation(&e) => Err(name_taken(p)),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_policy(&self, id: &str) -> Result<()> {
        let n = sqlx::query("DELETE FROM scaling_policies WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(ApiError::not_found("policy", id));
        }
        Ok(())
    }

    async fn cluster(&self, cluster: &str) -> Result<ClusterState> {
        let row = sqlx::query(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM scaling_clusters WHERE cluster_id = ?"
        ))
        .bind(cluster)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => cluster_from(&row),
            None => Ok(ClusterState {
                cluster_id: cluster.to_string(),
                ..ClusterState::default()
            }),
        }
    }

    async fn set_cost_cap(&self, cluster: &str, cents: i64, now: i64) -> Result<ClusterState> {
        // Two writers racing to create the row: the loser updates it.
        for _ in 0..2 {
            let updated = sqlx::query(
                "UPDATE scaling_clusters SET monthly_cost_cap_cents = ?, version = version + 1, \
                 updated_at = ? WHERE cluster_id = ?",
            )
            .bind(cents)
            .bind(now)
            .bind(cluster)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if updated == 1 {
                return self.cluster(cluster).await;
            }
            let inserted = sqlx::query(&format!(
                "INSERT INTO scaling_clusters ({CLUSTER_COLUMNS}) VALUES (?, ?, ?, NULL, NULL, NULL, 1, ?)"
            ))
            .bind(cluster)
            .bind(cents)
            .bind(Vec::<u8>::new())
            .bind(now)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => return self.cluster(cluster).await,
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Unavailable(format!(
            "the scaling settings of cluster {cluster} kept changing; try again"
        )))
    }

    async fn record(
        &self,
        next: &ClusterState,
        decision: Option<&Decision>,
        activity: Option<&Activity>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let written = if next.version <= 1 {
            let res = sqlx::query(&format!(
                "INSERT INTO scaling_clusters ({CLUSTER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(next.cluster_id.as_str())
            .bind(next.monthly_cost_cap_cents)
            .bind(next.history.as_bytes().to_vec())
            .bind(next.last_job_id.clone())
            .bind(next.pending_decision_id.clone())
            .bind(next.last_summary.clone())
            .bind(next.version.max(1))
            .bind(next.updated_at)
            .execute(&mut *tx)
            .await;
            match res {
                Ok(_) => true,
                Err(e) if is_unique_violation(&e) => false,
                Err(e) => return Err(e.into()),
            }
        } else {
            sqlx::query(
                "UPDATE scaling_clusters SET history = ?, last_job_id = ?, pending_decision_id = ?, \
                 last_summary = ?, version = ?, updated_at = ? WHERE cluster_id = ? AND version = ?",
            )
            .bind(next.history.as_bytes().to_vec())
            .bind(next.last_job_id.clone())
            .bind(next.pending_decision_id.clone())
            .bind(next.last_summary.clone())
            .bind(next.version)
            .bind(next.updated_at)
            .bind(next.cluster_id.as_str())
            .bind(next.version - 1)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        };
        if !written {
            return Ok(false);
        }
        if let Some(d) = decision {
            let body = serde_json::to_vec(d).map_err(|e| bad(format!("decision body: {e}")))?;
            let seq = next_seq(&mut tx).await?;
            sqlx::query(&format!(
                "INSERT INTO scaling_decisions ({DECISION_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(d.id.as_str())
            .bind(d.cluster_id.as_str())
            .bind(d.action.as_str())
            .bind(format!(" {} ", d.policy_ids.join(" ")).into_bytes())
            .bind(body)
            .bind(d.created_at)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(a) = activity {
            outbox::enqueue(&mut tx, a.event()).await?;
        }
        tx.commit().await?;
        if activity.is_some() {
            self.wake.wake();
        }
        Ok(true)
    }

    async fn attach_job(&self, next: &ClusterState, decision: &Decision) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE scaling_clusters SET last_job_id = ?, pending_decision_id = ?, version = ?, \
             updated_at = ? WHERE cluster_id = ? AND version = ?",
        )
        .bind(next.last_job_id.clone())
        .bind(next.pending_decision_id.clone())
        .bind(next.version)
        .bind(next.updated_at)
        .bind(next.cluster_id.as_str())
        .bind(next.version - 1)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Ok(false);
        }
        let body = serde_json::to_vec(decision).map_err(|e| bad(format!("decision body: {e}")))?;
        let seq = next_seq(&mut tx).await?;
        sqlx::query("UPDATE scaling_decisions SET body = ?, seq = ? WHERE id = ?")
            .bind(body)
            .bind(seq)
            .bind(decision.id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn decision(&self, id: &str) -> Result<Decision> {
        let row = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM scaling_decisions WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("decision", id))?;
        decision_from(&row)
    }

    async fn decisions(
        &self,
        filter: &DecisionFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Decision>> {
        let mut w = Where::new();
        w.text("cluster_id = ?", filter.cluster_id.as_deref())
            .text("action = ?", filter.action.as_deref())
            // Stored space-padded, so a padded match finds whole ids only.
            .text(
                "policy_ids LIKE ?",
                filter.policy_id.as_deref().map(|p| format!("% {p} %")),
            );
        page_by_id(
            &self.pool,
            DECISION_COLUMNS,
            "scaling_decisions",
            w,
            Order::NewestFirst,
            page,
            decision_from,
            |d| d.id.clone(),
        )
        .await
    }

    async fn decisions_after(
        &self,
        cluster: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Decision)>> {
        let mut w = Where::new();
        w.text("cluster_id = ?", cluster)
            .int("seq > ?", Some(after));
        let sql = format!(
            "SELECT {DECISION_COLUMNS}, seq FROM scaling_decisions {} ORDER BY seq LIMIT {limit}",
            w.sql()
        );
        w.bind(sqlx::query(&sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("seq")?, decision_from(row)?)))
            .collect()
    }

    async fn last_seq(&self) -> Result<i64> {
        Ok(
            sqlx::query("SELECT value FROM scaling_sequence WHERE name = 'decisions'")
                .fetch_one(&self.pool)
                .await?
                .try_get("value")?,
        )
    }
}
