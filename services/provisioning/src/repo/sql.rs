//! The repository on sqlx's `Any` driver. Every statement is in the SQL
//! subset MySQL/MariaDB and SQLite share; races are settled by the database
//! (conditional updates, unique indexes), never by read-then-write.

use std::collections::{HashMap, HashSet};

use cg_runtime::{
    db::{Db, is_retryable, is_unique_violation},
    outbox,
    topic::topics,
};
use rand::Rng as _;
use sqlx::{Any, AnyPool, Row, Transaction, any::AnyRow};

use super::{
    ActionFilter, ClusterFilter, ClusterPatch, Created, DropletFilter, Effect, FaultFilter,
    Idempotency, LiveDroplet, NewAction, NewCluster, NewDroplet, NewFault, Outcome, PageOf,
    PageRequest, Pending, Placement, ProvisioningRepository, Remembered, TagInfo,
};
use crate::{
    catalog,
    domain::{
        Action, ActionStatus, ActionType, Cluster, ClusterHealth, ClusterStatus, Cost, Droplet,
        DropletStatus, Fault, FaultKind, Tags,
    },
    error::{Error, Result},
    events::{self, Kind},
};

#[derive(Debug, Clone)]
pub struct SqlRepository {
    pool: AnyPool,
    wake: outbox::Wake,
    /// Whether droplet changes are announced on `cg.droplets.events` (only
    /// when a broker is configured: an outbox nobody relays only grows).
    events: bool,
    numbers: std::sync::Arc<Numbers>,
}

/// Hands out the numbers of droplets and actions from blocks reserved in
/// `id_numbers`: one short transaction per block, so creates do not queue
/// on the counter row. A block a process dies holding leaves a gap; a
/// number is never handed out twice.
#[derive(Debug, Default)]
struct Numbers {
    /// The next number and the end of the block (exclusive).
    block: tokio::sync::Mutex<(i64, i64)>,
}

const NUMBER_BLOCK: i64 = 64;
/// Reads of a droplet's tags before a concurrent tagger is given up on.
const TAG_ROUNDS: usize = 64;
/// The `droplets.snapshots` column's width.
const SNAPSHOTS_MAX_CHARS: usize = 2048;

/// How one attempt at finishing an action ended.
enum Finish {
    Done(bool),
    NameTaken,
    DropletGone,
}

/// Attempts at a transaction the database aborted (deadlock, lock timeout).
const TX_RETRIES: u32 = 5;
const TX_RETRY_BASE: std::time::Duration = std::time::Duration::from_millis(5);
const TX_RETRY_CAP: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs `attempt` again, after a full-jitter backoff, while the database
/// aborts it for reasons a retry can fix.
async fn retry<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut n = 0u32;
    loop {
        match attempt().await {
            Err(Error::Storage(e)) if n < TX_RETRIES && is_retryable(&e) => {
                n += 1;
                tracing::debug!(attempt = n, error = %e, "transaction aborted; retrying");
                tokio::time::sleep(cg_runtime::time::backoff(TX_RETRY_BASE, TX_RETRY_CAP, n)).await;
            }
            other => return other,
        }
    }
}

/// `res`, with a unique-index violation answered by `taken()` (a name or
/// slot someone else holds).
fn unique<T>(res: std::result::Result<T, sqlx::Error>, taken: impl FnOnce() -> Error) -> Result<T> {
    match res {
        Err(e) if is_unique_violation(&e) => Err(taken()),
        other => other.map_err(Into::into),
    }
}

/// Random slot picks before falling back to scanning for a free slot.
const RANDOM_SLOT_TRIES: usize = 6;
/// Full allocation rounds before giving up under contention.
const SLOT_ROUNDS: usize = 4;

impl SqlRepository {
    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
            wake: db.wake.clone(),
            events: false,
            numbers: std::sync::Arc::default(),
        }
    }

    /// A fresh droplet or action number.
    async fn next_number(&self) -> Result<i64> {
        let mut block = self.numbers.block.lock().await;
        if block.0 >= block.1 {
            let end = retry(|| async {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "UPDATE id_numbers SET next_number = next_number + ? WHERE kind = 'object'",
                )
                .bind(NUMBER_BLOCK)
                .execute(&mut *tx)
                .await?;
                let end: i64 =
                    sqlx::query("SELECT next_number FROM id_numbers WHERE kind = 'object'")
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get(0)?;
                tx.commit().await?;
                Ok(end)
            })
            .await?;
            *block = (end - NUMBER_BLOCK, end);
        }
        let n = block.0;
        block.0 += 1;
        Ok(n)
    }

    /// Numbers the droplets and actions stored before numbers existed;
    /// returns how many. Safe to run from several replicas at once.
    pub async fn number_old_rows(&self) -> Result<u64> {
        let mut done = 0;
        for table in ["droplets", "droplet_actions"] {
            let since = if table == "droplets" {
                "created_at"
            } else {
                "started_at"
            };
            let ids: Vec<String> = sqlx::query(&format!(
                "SELECT id FROM {table} WHERE number IS NULL ORDER BY {since}, id"
            ))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
            for id in ids {
                let n = self.next_number().await?;
                // Droplets come first, so an action finds its droplet's.
                let droplet_number = if table == "droplet_actions" {
                    ", droplet_number = (SELECT d.number FROM droplets d \
                     WHERE d.id = droplet_actions.droplet_id)"
                } else {
                    ""
                };
                done += sqlx::query(&format!(
                    "UPDATE {table} SET number = ?{droplet_number} WHERE id = ? AND number IS NULL"
                ))
                .bind(n)
                .bind(id.as_str())
                .execute(&self.pool)
                .await?
                .rows_affected();
            }
        }
        Ok(done)
    }

    /// Records every tag droplets carry as a tag, for droplets stored
    /// before tags were objects; returns how many were new.
    pub async fn register_old_tags(&self, now: i64) -> Result<u64> {
        let mut seen = HashSet::new();
        for row in &sqlx::query("SELECT DISTINCT tags FROM droplets WHERE tags <> ''")
            .fetch_all(&self.pool)
            .await?
        {
            for tag in Tags::from_column(&row.try_get::<String, _>(0)?).as_slice() {
                seen.insert(tag.clone());
            }
        }
        let mut added = 0;
        for tag in seen {
            let mut tx = self.pool.begin().await?;
            if sqlx::query("SELECT 1 FROM tags WHERE name = ?")
                .bind(tag.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_none()
            {
                Self::ensure_tag(&mut tx, &tag, now).await?;
                added += 1;
            }
            tx.commit().await?;
        }
        Ok(added)
    }

    /// The id of the droplet (or action) numbered `number`.
    async fn id_of_number(&self, table: &str, what: &'static str, number: i64) -> Result<String> {
        Ok(
            sqlx::query(&format!("SELECT id FROM {table} WHERE number = ?"))
                .bind(number)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| Error::not_found(what, number.to_string()))?
                .try_get(0)?,
        )
    }

    /// The same database with its own block of numbers, as another
    /// replica would have.
    #[must_use]
    pub fn clone_fresh(&self) -> Self {
        Self {
            numbers: std::sync::Arc::default(),
            ..self.clone()
        }
    }

    /// Announces droplet changes through the outbox.
    #[must_use]
    pub fn announcing(mut self, on: bool) -> Self {
        self.events = on;
        self
    }

    /// Lets this process's relay publish what was just committed.
    fn wake(&self) {
        if self.events {
            self.wake.wake();
        }
    }

    /// Writes a `DropletEvent` about the droplet as it stands inside `tx`
    /// to the outbox, so it is published if and only if `tx` commits.
    async fn announce(
        &self,
        tx: &mut Transaction<'static, Any>,
        kind: Kind,
        droplet_id: &str,
        action_id: Option<&str>,
        fault: Option<&Fault>,
        now: i64,
    ) -> Result<()> {
        if !self.events {
            return Ok(());
        }
        let droplet = droplet_from(
            &sqlx::query(&format!(
                "SELECT {DROPLET_COLUMNS} FROM droplets d WHERE d.id = ?"
            ))
            .bind(droplet_id)
            .fetch_one(&mut **tx)
            .await?,
        )?;
        let action = match action_id {
            Some(id) => Some(action_from(
                &sqlx::query(&format!(
                    "SELECT {ACTION_COLUMNS} FROM droplet_actions WHERE id = ?"
                ))
                .bind(id)
                .fetch_one(&mut **tx)
                .await?,
            )?),
            None => None,
        };
        let key = droplet.cluster_id.clone();
        if let Some(entry) = events::activity(kind, &droplet, action.as_ref(), fault, now) {
            outbox::enqueue(tx, entry.event()).await?;
        }
        let event = events::droplet_event(kind, droplet, action, fault.cloned(), now);
        outbox::enqueue(tx, topics::DROPLETS_EVENTS.event(&key, &event)).await?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    async fn costs(&self, cluster_ids: &[String]) -> Result<HashMap<String, Cost>> {
        let mut out: HashMap<String, Cost> = HashMap::new();
        if cluster_ids.is_empty() {
            return Ok(out);
        }
        let placeholders = vec!["?"; cluster_ids.len()].join(",");
        let sql = format!(
            "SELECT cluster_id, size, COUNT(*) AS n FROM droplets \
             WHERE cluster_id IN ({placeholders}) AND live_slot IS NOT NULL \
             GROUP BY cluster_id, size"
        );
        let mut q = sqlx::query(&sql);
        for id in cluster_ids {
            q = q.bind(id.as_str());
        }
        for row in q.fetch_all(&self.pool).await? {
            let cluster: String = row.try_get("cluster_id")?;
            let size: String = row.try_get("size")?;
            let n: i64 = row.try_get("n")?;
            let cost = out.entry(cluster).or_insert(Cost {
                monthly_cents: 0,
                hourly_micros: 0,
            });
            if let Some(s) = catalog::size_by_slug(&size) {
                cost.monthly_cents += s.price_monthly_cents * n;
                cost.hourly_micros += s.price_hourly_micros * n;
            }
        }
        Ok(out)
    }

    async fn with_costs(&self, mut clusters: Vec<Cluster>) -> Result<Vec<Cluster>> {
        let ids: Vec<String> = clusters.iter().map(|c| c.id.clone()).collect();
        let costs = self.costs(&ids).await?;
        for c in &mut clusters {
            if let Some(cost) = costs.get(&c.id) {
                c.cost = cost.clone();
            }
        }
        Ok(clusters)
    }

    /// Claims `idem` inside `tx`. On a duplicate key the transaction is
    /// abandoned and the earlier answer (or a mismatch) is returned instead.
    async fn claim(
        tx: &mut Transaction<'static, Any>,
        scope: &str,
        idem: Option<&Idempotency>,
        resource_id: &str,
        now: i64,
    ) -> Result<Option<Remembered>> {
        let Some(idem) = idem else { return Ok(None) };
        let res = sqlx::query(
            "INSERT INTO idempotency_keys (scope, request_id, fingerprint, resource_id, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(scope)
        .bind(idem.request_id.as_str())
        .bind(idem.fingerprint.as_str())
        .bind(resource_id)
        .bind(now)
        .execute(&mut **tx)
        .await;
        match res {
            Ok(_) => Ok(None),
            Err(e) if is_unique_violation(&e) => {
                let row = sqlx::query(
                    "SELECT fingerprint, resource_id FROM idempotency_keys \
                     WHERE scope = ? AND request_id = ?",
                )
                .bind(scope)
                .bind(idem.request_id.as_str())
                .fetch_one(&mut **tx)
                .await?;
                Ok(Some(Remembered {
                    fingerprint: row.try_get("fingerprint")?,
                    resource_id: row.try_get("resource_id")?,
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn replay<T>(idem: Option<&Idempotency>, earlier: Remembered) -> Result<Created<T>> {
        let idem = idem.ok_or(Error::Contention)?;
        if earlier.fingerprint == idem.fingerprint {
            Ok(Created::Replayed(earlier.resource_id))
        } else {
            Err(Error::IdempotencyMismatch(idem.request_id.clone()))
        }
    }

    async fn insert_droplet(
        tx: &mut Transaction<'static, Any>,
        new: &NewDroplet,
        (region, cluster_name, number): (&str, &str, i64),
        slot: u32,
        placement: &dyn Placement,
    ) -> std::result::Result<(String, String), sqlx::Error> {
        let (public, private) = placement.addresses(region, slot);
        sqlx::query(
            "INSERT INTO droplets (id, number, cluster_id, cluster_name, name, live_name, region, \
             size, image, status, slot, live_slot, public_ipv4, private_ipv4, tags, locked_by, \
             boot_at, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
        )
        .bind(new.id.as_str())
        .bind(number)
        .bind(new.cluster_id.as_str())
        .bind(cluster_name)
        .bind(new.name.as_str())
        .bind(new.name.as_str())
        .bind(region)
        .bind(new.size)
        .bind(new.image)
        .bind(i64::from(slot))
        .bind(i64::from(slot))
        .bind(public.as_str())
        .bind(private.as_str())
        .bind(new.tags.to_column())
        .bind(new.boot_at)
        .bind(new.now)
        .bind(new.now)
        .execute(&mut **tx)
        .await
        .map(|_| (public, private))
    }

    /// Allocates a free address slot by inserting the droplet on it; the
    /// unique (region, live_slot) index settles races between replicas.
    async fn place_droplet(
        tx: &mut Transaction<'static, Any>,
        new: &NewDroplet,
        (region, cluster_name, number): (&str, &str, i64),
        placement: &dyn Placement,
    ) -> Result<(String, String)> {
        let capacity = placement.capacity(region);
        for _ in 0..SLOT_ROUNDS {
            let mut candidates: Vec<u32> = {
                let mut rng = rand::rng();
                (0..RANDOM_SLOT_TRIES)
                    .map(|_| rng.random_range(0..capacity))
                    .collect()
            };
            let mut scanned = false;
            loop {
                let Some(slot) = candidates.pop() else {
                    if scanned {
                        break;
                    }
                    scanned = true;
                    let used: HashSet<u32> = sqlx::query(
                        "SELECT live_slot FROM droplets WHERE region = ? AND live_slot IS NOT NULL",
                    )
                    .bind(region)
                    .fetch_all(&mut **tx)
                    .await?
                    .iter()
                    .filter_map(|r| r.try_get::<i64, _>(0).ok())
                    .filter_map(|s| u32::try_from(s).ok())
                    .collect();
                    let free: Vec<u32> = (0..capacity).filter(|s| !used.contains(s)).collect();
                    if free.is_empty() {
                        return Err(crate::error::capacity_exhausted(region, capacity));
                    }
                    let mut rng = rand::rng();
                    candidates = (0..RANDOM_SLOT_TRIES.min(free.len()))
                        .map(|_| free[rng.random_range(0..free.len())])
                        .collect();
                    continue;
                };
                match Self::insert_droplet(tx, new, (region, cluster_name, number), slot, placement)
                    .await
                {
                    Ok(addresses) => return Ok(addresses),
                    Err(e) if is_unique_violation(&e) && e.to_string().contains("live_slot") => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(Error::AlreadyExists(format!(
                            "a droplet named {:?} already exists in this cluster",
                            new.name.as_str()
                        )));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Err(Error::Contention)
    }

    async fn droplet_state(
        tx: &mut Transaction<'static, Any>,
        id: &str,
    ) -> Result<(DropletStatus, Option<String>)> {
        let row = sqlx::query("SELECT status, locked_by FROM droplets WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| Error::not_found("droplet", id))?;
        Ok((
            DropletStatus::from_column(&row.try_get::<String, _>("status")?),
            row.try_get("locked_by")?,
        ))
    }

    /// One attempt at finishing an action.
    async fn finish_once(&self, id: &str, outcome: &Outcome, now: i64) -> Result<Finish> {
        let (status, error, effect) = match outcome {
            Outcome::Completed(effect) => (ActionStatus::Completed, String::new(), effect.clone()),
            Outcome::Errored(e) => (ActionStatus::Errored, e.clone(), Effect::None),
        };
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE droplet_actions SET status = ?, error = ?, completed_at = ? \
             WHERE id = ? AND status = 'in-progress'",
        )
        .bind(status.as_str())
        .bind(error.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(Finish::Done(false));
        }
        let droplet_id: String = sqlx::query("SELECT droplet_id FROM droplet_actions WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let (before, _) = Self::droplet_state(&mut tx, &droplet_id).await?;
        let (set, arg): (&str, Option<String>) = match &effect {
            Effect::None => ("", None),
            Effect::Status(s) => ("status = ?, ", Some(s.as_str().to_string())),
            Effect::Resize(size) => ("size = ?, ", Some(size.clone())),
            Effect::Rename(name) => ("name = ?, live_name = ?, ", Some(name.clone())),
            // The snapshot's image number is its action's. The droplet is
            // locked by this action, so nothing else changes the list.
            Effect::Snapshot => {
                let number: Option<i64> =
                    sqlx::query("SELECT number FROM droplet_actions WHERE id = ?")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get(0)?;
                let mut list: String = sqlx::query("SELECT snapshots FROM droplets WHERE id = ?")
                    .bind(droplet_id.as_str())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                if let Some(n) = number {
                    if !list.is_empty() {
                        list.push(',');
                    }
                    list.push_str(&n.to_string());
                }
                // The column holds the newest ~250; older ones drop out.
                while list.len() > SNAPSHOTS_MAX_CHARS {
                    list = list
                        .split_once(',')
                        .map_or_else(String::new, |(_, rest)| rest.to_string());
                }
                ("snapshots = ?, ", Some(list))
            }
            Effect::Destroy => (
                "status = 'archive', live_name = NULL, live_slot = NULL, ",
                None,
            ),
        };
        let sql = format!(
            "UPDATE droplets SET {set}locked_by = NULL, updated_at = ? WHERE id = ? AND locked_by = ?"
        );
        let mut q = sqlx::query(&sql);
        if let Some(arg) = &arg {
            q = q.bind(arg.as_str());
            if matches!(effect, Effect::Rename(_)) {
                q = q.bind(arg.as_str());
            }
        }
        match q
            .bind(now)
            .bind(droplet_id.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
        {
            // The droplet no longer holds this action's lock: it was destroyed
            // (with its cluster) while the action ran, so nothing took effect.
            Ok(r) if r.rows_affected() == 0 && status == ActionStatus::Completed => {
                tx.rollback().await?;
                return Ok(Finish::DropletGone);
            }
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return Ok(Finish::NameTaken);
            }
            Err(e) => return Err(e.into()),
        }
        if effect == Effect::Destroy {
            sqlx::query(
                "UPDATE clusters SET live_droplets = live_droplets - 1, updated_at = ? \
                 WHERE id = (SELECT cluster_id FROM droplets WHERE id = ?)",
            )
            .bind(now)
            .bind(droplet_id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        if self.events {
            let (after, _) = Self::droplet_state(&mut tx, &droplet_id).await?;
            let changed = match &effect {
                Effect::Resize(_) => Some(Kind::Resized),
                Effect::Rename(_) => Some(Kind::Renamed),
                _ => events::status_change(before, after),
            };
            let done = if status == ActionStatus::Completed {
                Kind::ActionCompleted
            } else {
                Kind::ActionErrored
            };
            for kind in changed.into_iter().chain([done]) {
                self.announce(&mut tx, kind, &droplet_id, Some(id), None, now)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(Finish::Done(true))
    }
}

const CLUSTER_COLUMNS: &str = "id, name, description, region, status, tags, live_droplets, \
     health, health_at, created_at, updated_at";
/// A judgement older than this (no check reported: all deleted or
/// disabled, or monitoring away) reads as unknown.
const HEALTH_STALE_MS: i64 = 10 * 60 * 1000;
const DROPLET_COLUMNS: &str = "d.id, d.number, d.name, d.cluster_id, d.cluster_name, d.region, \
     d.size, d.image, d.status, d.public_ipv4, d.private_ipv4, d.tags, d.snapshots, d.locked_by, \
     d.boot_at, d.created_at, d.updated_at";
const ACTION_COLUMNS: &str = "id, number, droplet_id, droplet_number, cluster_id, region, type, \
     status, param, error, started_at, due_at, completed_at";

fn cluster_from(row: &AnyRow) -> Result<Cluster> {
    Ok(Cluster {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        region: row.try_get("region")?,
        status: ClusterStatus::from_column(&row.try_get::<String, _>("status")?),
        tags: Tags::from_column(&row.try_get::<String, _>("tags")?)
            .as_slice()
            .to_vec(),
        droplet_count: row.try_get("live_droplets")?,
        cost: Cost {
            monthly_cents: 0,
            hourly_micros: 0,
        },
        health: if row.try_get::<i64, _>("health_at")?
            < cg_runtime::time::now_millis() - HEALTH_STALE_MS
        {
            ClusterHealth::Unknown
        } else {
            ClusterHealth::from_column(&row.try_get::<String, _>("health")?)
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn droplet_from(row: &AnyRow) -> Result<Droplet> {
    Ok(Droplet {
        id: row.try_get("id")?,
        number: row.try_get::<Option<i64>, _>("number")?.unwrap_or_default(),
        snapshot_ids: row
            .try_get::<String, _>("snapshots")?
            .split(',')
            .filter_map(|n| n.parse().ok())
            .collect(),
        name: row.try_get("name")?,
        cluster_id: row.try_get("cluster_id")?,
        cluster_name: row.try_get("cluster_name")?,
        region: row.try_get("region")?,
        size: row.try_get("size")?,
        image: row.try_get("image")?,
        status: DropletStatus::from_column(&row.try_get::<String, _>("status")?),
        public_ipv4: row.try_get("public_ipv4")?,
        private_ipv4: row.try_get("private_ipv4")?,
        tags: Tags::from_column(&row.try_get::<String, _>("tags")?)
            .as_slice()
            .to_vec(),
        locked_by: row.try_get("locked_by")?,
        boot_at: row.try_get("boot_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn action_from(row: &AnyRow) -> Result<Action> {
    let kind: String = row.try_get("type")?;
    Ok(Action {
        id: row.try_get("id")?,
        number: row.try_get::<Option<i64>, _>("number")?.unwrap_or_default(),
        droplet_id: row.try_get("droplet_id")?,
        droplet_number: row
            .try_get::<Option<i64>, _>("droplet_number")?
            .unwrap_or_default(),
        cluster_id: row.try_get("cluster_id")?,
        region: row.try_get("region")?,
        kind: ActionType::from_column(&kind).ok_or_else(|| {
            Error::Storage(sqlx::Error::Decode(
                format!("unknown action type {kind}").into(),
            ))
        })?,
        status: ActionStatus::from_column(&row.try_get::<String, _>("status")?),
        param: row.try_get("param")?,
        error: row.try_get("error")?,
        started_at: row.try_get("started_at")?,
        due_at: row.try_get("due_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

/// Builds `WHERE` clauses and their string arguments together so they
/// cannot drift apart.
#[derive(Default)]
struct Where {
    clauses: Vec<&'static str>,
    args: Vec<String>,
}

impl Where {
    fn and(&mut self, clause: &'static str, arg: impl Into<String>) {
        self.clauses.push(clause);
        self.args.push(arg.into());
    }

    fn and_plain(&mut self, clause: &'static str) {
        self.clauses.push(clause);
    }

    async fn count(&self, pool: &AnyPool, select: &str) -> Result<i64> {
        let sql = format!("{select} {}", self.sql());
        let mut q = sqlx::query(&sql);
        for a in &self.args {
            q = q.bind(a.as_str());
        }
        Ok(q.fetch_one(pool).await?.try_get(0)?)
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// One keyset page: `size` rows of `select` under these clauses, plus
    /// one more row to learn whether another page follows.
    async fn page<T>(
        &self,
        pool: &AnyPool,
        select: &str,
        order: &str,
        size: u32,
        map: fn(&AnyRow) -> Result<T>,
        key: fn(&T) -> String,
    ) -> Result<PageOf<T>> {
        self.page_skipping(pool, select, order, (0, size), map, key)
            .await
    }

    /// [`Self::page`], passing over the first `skip` matching rows.
    async fn page_skipping<T>(
        &self,
        pool: &AnyPool,
        select: &str,
        order: &str,
        (skip, size): (u32, u32),
        map: fn(&AnyRow) -> Result<T>,
        key: fn(&T) -> String,
    ) -> Result<PageOf<T>> {
        let sql = format!(
            "{select} {} ORDER BY {order} LIMIT {} OFFSET {skip}",
            self.sql(),
            size + 1
        );
        let mut q = sqlx::query(&sql);
        for a in &self.args {
            q = q.bind(a.as_str());
        }
        let rows = q.fetch_all(pool).await?;
        let items = rows.iter().map(map).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, size, key))
    }
}

fn page_of<T>(mut items: Vec<T>, size: u32, key: impl Fn(&T) -> String) -> PageOf<T> {
    let more = items.len() > size as usize;
    items.truncate(size as usize);
    let next_after = if more { items.last().map(key) } else { None };
    PageOf { items, next_after }
}

/// Statements, one attempt each; the trait impl below retries the
/// transactional ones when the database gives up on a deadlock.
impl SqlRepository {
    async fn remembered(&self, scope: &str, request_id: &str) -> Result<Option<Remembered>> {
        let row = sqlx::query(
            "SELECT fingerprint, resource_id FROM idempotency_keys WHERE scope = ? AND request_id = ?",
        )
        .bind(scope)
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Remembered {
                fingerprint: r.try_get("fingerprint")?,
                resource_id: r.try_get("resource_id")?,
            })
        })
        .transpose()
    }

    async fn create_cluster_once(
        &self,
        new: NewCluster,
        idem: Option<Idempotency>,
    ) -> Result<Created> {
        let mut tx = self.pool.begin().await?;
        if let Some(earlier) =
            Self::claim(&mut tx, "cluster", idem.as_ref(), &new.id, new.now).await?
        {
            tx.rollback().await?;
            return Self::replay(idem.as_ref(), earlier);
        }
        let res = sqlx::query(
            "INSERT INTO clusters (id, name, description, region, status, tags, live_droplets, \
             created_at, updated_at) VALUES (?, ?, ?, ?, 'active', ?, 0, ?, ?)",
        )
        .bind(new.id.as_str())
        .bind(new.name.as_str())
        .bind(new.description.as_str())
        .bind(new.region)
        .bind(new.tags.to_column())
        .bind(new.now)
        .bind(new.now)
        .execute(&mut *tx)
        .await;
        unique(res, || {
            Error::AlreadyExists(format!(
                "a cluster named {:?} already exists",
                new.name.as_str()
            ))
        })?;
        tx.commit().await?;
        Ok(Created::New(new.id))
    }

    async fn get_cluster(&self, id: &str) -> Result<Cluster> {
        let row = sqlx::query(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::not_found("cluster", id))?;
        let cluster = cluster_from(&row)?;
        Ok(self.with_costs(vec![cluster]).await?.remove(0))
    }

    async fn list_clusters(
        &self,
        filter: &ClusterFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Cluster>> {
        let mut w = Where::default();
        if let Some(region) = &filter.region {
            w.and("region = ?", region.as_str());
        }
        if let Some(status) = filter.status {
            w.and("status = ?", status.as_str());
        }
        if let Some(tag) = &filter.tag {
            w.and("INSTR(tags, ?) > 0", format!(",{tag},"));
        }
        if let Some(name) = &filter.name {
            w.and("name = ?", name.as_str());
        }
        if let Some(after) = &page.after {
            w.and("id > ?", after.as_str());
        }
        let page = w
            .page(
                &self.pool,
                &format!("SELECT {CLUSTER_COLUMNS} FROM clusters"),
                "id",
                page.size,
                cluster_from,
                |c| c.id.clone(),
            )
            .await?;
        Ok(PageOf {
            items: self.with_costs(page.items).await?,
            next_after: page.next_after,
        })
    }

    async fn update_cluster_once(
        &self,
        id: &str,
        patch: ClusterPatch,
        now: i64,
    ) -> Result<Cluster> {
        let mut sets = vec!["updated_at = ?"];
        let mut args = vec![];
        if let Some(name) = &patch.name {
            sets.push("name = ?");
            args.push(name.as_str().to_string());
        }
        if let Some(d) = &patch.description {
            sets.push("description = ?");
            args.push(d.as_str().to_string());
        }
        if let Some(t) = &patch.tags {
            sets.push("tags = ?");
            args.push(t.to_column());
        }
        let sql = format!("UPDATE clusters SET {} WHERE id = ?", sets.join(", "));
        let mut q = sqlx::query(&sql).bind(now);
        for a in &args {
            q = q.bind(a.as_str());
        }
        let mut tx = self.pool.begin().await?;
        unique(q.bind(id).execute(&mut *tx).await, || {
            Error::AlreadyExists(format!(
                "a cluster named {:?} already exists",
                patch.name.as_ref().map(|n| n.as_str()).unwrap_or_default()
            ))
        })?;
        if let Some(name) = &patch.name {
            // Droplets carry their cluster's name (it outlives a deleted cluster).
            sqlx::query("UPDATE droplets SET cluster_name = ? WHERE cluster_id = ?")
                .bind(name.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        // A missing cluster is NOT_FOUND here; MySQL's changed-rows count
        // cannot tell "missing" from "unchanged".
        self.get_cluster(id).await
    }

    async fn delete_cluster_once(&self, id: &str, force: bool, now: i64) -> Result<u32> {
        let mut tx = self.pool.begin().await?;
        if !force {
            let deleted = sqlx::query("DELETE FROM clusters WHERE id = ? AND live_droplets = 0")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                let row = sqlx::query("SELECT live_droplets FROM clusters WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| Error::not_found("cluster", id))?;
                let n: i64 = row.try_get(0)?;
                return Err(Error::FailedPrecondition(format!(
                    "cluster still has {n} droplet(s); destroy them or delete with force"
                )));
            }
            tx.commit().await?;
            return Ok(0);
        }
        let marked =
            sqlx::query("UPDATE clusters SET status = 'deleting', updated_at = ? WHERE id = ?")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if marked == 0 {
            return Err(Error::not_found("cluster", id));
        }
        let doomed: Vec<String> = if self.events {
            sqlx::query("SELECT id FROM droplets WHERE cluster_id = ? AND status <> 'archive'")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?
        } else {
            Vec::new()
        };
        // Droplets first: archiving locks their rows, so an action that was
        // starting meanwhile has committed and is errored just below.
        let destroyed = sqlx::query(
            "UPDATE droplets SET status = 'archive', live_name = NULL, live_slot = NULL, \
             locked_by = NULL, updated_at = ? WHERE cluster_id = ? AND status <> 'archive'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE droplet_actions SET status = 'errored', \
             error = 'droplet destroyed with its cluster', completed_at = ? \
             WHERE cluster_id = ? AND status = 'in-progress'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        for droplet in &doomed {
            self.announce(&mut tx, Kind::Destroyed, droplet, None, None, now)
                .await?;
        }
        sqlx::query("DELETE FROM clusters WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(u32::try_from(destroyed).unwrap_or(u32::MAX))
    }

    async fn create_droplet_once(
        &self,
        new: NewDroplet,
        placement: &dyn Placement,
        idem: Option<Idempotency>,
    ) -> Result<Created<Droplet>> {
        // Before the transaction: on SQLite the block's own write would wait
        // for this one.
        let (number, create_number) = (self.next_number().await?, self.next_number().await?);
        let mut tx = self.pool.begin().await?;
        if let Some(earlier) =
            Self::claim(&mut tx, "droplet", idem.as_ref(), &new.id, new.now).await?
        {
            tx.rollback().await?;
            return Self::replay(idem.as_ref(), earlier);
        }
        let row = sqlx::query("SELECT region, name FROM clusters WHERE id = ?")
            .bind(new.cluster_id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::not_found("cluster", new.cluster_id.as_str()))?;
        let region: String = row.try_get("region")?;
        let cluster_name: String = row.try_get("name")?;
        if !placement.offers(&region, new.size) {
            return Err(Error::invalid(
                "size",
                format!("size {} is not offered in {region}", new.size),
            ));
        }
        let (public_ipv4, private_ipv4) =
            Self::place_droplet(&mut tx, &new, (&region, &cluster_name, number), placement).await?;
        // DigitalOcean answers a create with its `create` action; it
        // completes when the droplet is active. It does not lock the droplet.
        sqlx::query(&format!(
            "INSERT INTO droplet_actions ({ACTION_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, 'create', 'in-progress', '', '', ?, ?, NULL)"
        ))
        .bind(cg_runtime::new_id())
        .bind(create_number)
        .bind(new.id.as_str())
        .bind(number)
        .bind(new.cluster_id.as_str())
        .bind(region.as_str())
        .bind(new.now)
        .bind(new.boot_at)
        .execute(&mut *tx)
        .await?;
        for tag in new.tags.as_slice() {
            Self::ensure_tag(&mut tx, tag, new.now).await?;
        }
        // Last, so the cluster row stays locked only until commit; zero rows
        // means it was deleted (or is being deleted) meanwhile.
        let counted = sqlx::query(
            "UPDATE clusters SET live_droplets = live_droplets + 1, updated_at = ? \
             WHERE id = ? AND status = 'active'",
        )
        .bind(new.now)
        .bind(new.cluster_id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if counted == 0 {
            return Err(Error::FailedPrecondition(format!(
                "cluster {} is being deleted",
                new.cluster_id
            )));
        }
        self.announce(&mut tx, Kind::Created, &new.id, None, None, new.now)
            .await?;
        tx.commit().await?;
        Ok(Created::New(Droplet {
            id: new.id,
            number,
            snapshot_ids: Vec::new(),
            name: new.name.as_str().to_string(),
            cluster_id: new.cluster_id,
            cluster_name,
            region,
            size: new.size.to_string(),
            image: new.image.to_string(),
            status: DropletStatus::New,
            public_ipv4,
            private_ipv4,
            tags: new.tags.as_slice().to_vec(),
            locked_by: None,
            boot_at: new.boot_at,
            created_at: new.now,
            updated_at: new.now,
        }))
    }

    async fn get_droplet(&self, id: &str) -> Result<Droplet> {
        let row = sqlx::query(&format!(
            "SELECT {DROPLET_COLUMNS} FROM droplets d WHERE d.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::not_found("droplet", id))?;
        droplet_from(&row)
    }

    async fn list_droplets(
        &self,
        filter: &DropletFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Droplet>> {
        let mut w = Self::droplets_where(filter);
        if let Some(after) = &page.after {
            w.and("d.id > ?", after.as_str());
        }
        w.page_skipping(
            &self.pool,
            &format!("SELECT {DROPLET_COLUMNS} FROM droplets d"),
            "d.id",
            (filter.skip, page.size),
            droplet_from,
            |d| d.id.clone(),
        )
        .await
    }

    async fn count_droplets(&self, filter: &DropletFilter) -> Result<i64> {
        Self::droplets_where(filter)
            .count(&self.pool, "SELECT COUNT(*) FROM droplets d")
            .await
    }

    fn droplets_where(filter: &DropletFilter) -> Where {
        let mut w = Where::default();
        if let Some(cluster) = &filter.cluster_id {
            w.and("d.cluster_id = ?", cluster.as_str());
        }
        match filter.status {
            Some(status) => w.and("d.status = ?", status.as_str()),
            None if !filter.include_archived => w.and_plain("d.status <> 'archive'"),
            None => {}
        }
        if let Some(region) = &filter.region {
            w.and("d.region = ?", region.as_str());
        }
        if let Some(tag) = &filter.tag {
            w.and("INSTR(d.tags, ?) > 0", format!(",{tag},"));
        }
        if let Some(name) = &filter.name {
            w.and("d.live_name = ?", name.as_str());
        }
        w
    }

    async fn activate_droplet_once(&self, id: &str, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE droplets SET status = 'active', updated_at = ? WHERE id = ? AND status = 'new'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            sqlx::query(
                "UPDATE droplet_actions SET status = 'completed', completed_at = ? \
                 WHERE droplet_id = ? AND type = 'create' AND status = 'in-progress'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            self.announce(&mut tx, Kind::Active, id, None, None, now)
                .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn destroy_droplet_once(&self, id: &str, now: i64) -> Result<Droplet> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE droplets SET status = 'archive', live_name = NULL, live_slot = NULL, \
             updated_at = ? WHERE id = ? AND locked_by IS NULL AND status <> 'archive'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            let (status, locked_by) = Self::droplet_state(&mut tx, id).await?;
            if status != DropletStatus::Archive {
                return Err(Error::FailedPrecondition(format!(
                    "droplet is locked by action {}",
                    locked_by.unwrap_or_default()
                )));
            }
        } else {
            sqlx::query(
                "UPDATE clusters SET live_droplets = live_droplets - 1, updated_at = ? \
                 WHERE id = (SELECT cluster_id FROM droplets WHERE id = ?)",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE droplet_actions SET status = 'errored', \
                 error = 'destroyed before it was active', completed_at = ? \
                 WHERE droplet_id = ? AND type = 'create' AND status = 'in-progress'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            self.announce(&mut tx, Kind::Destroyed, id, None, None, now)
                .await?;
        }
        tx.commit().await?;
        self.get_droplet(id).await
    }

    async fn begin_action_once(
        &self,
        new: NewAction,
        from: DropletStatus,
        idem: Option<Idempotency>,
    ) -> Result<Created> {
        let number = self.next_number().await?;
        let mut tx = self.pool.begin().await?;
        if let Some(earlier) =
            Self::claim(&mut tx, "action", idem.as_ref(), &new.id, new.now).await?
        {
            tx.rollback().await?;
            return Self::replay(idem.as_ref(), earlier);
        }
        let locked = sqlx::query(
            "UPDATE droplets SET locked_by = ?, updated_at = ? \
             WHERE id = ? AND locked_by IS NULL AND status = ?",
        )
        .bind(new.id.as_str())
        .bind(new.now)
        .bind(new.droplet_id.as_str())
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if locked == 0 {
            let (status, locked_by) = Self::droplet_state(&mut tx, &new.droplet_id).await?;
            return Err(Error::FailedPrecondition(match locked_by {
                Some(action) => format!("droplet is locked by action {action} in progress"),
                None => format!("droplet changed to {} meanwhile", status.as_str()),
            }));
        }
        sqlx::query(&format!(
            "INSERT INTO droplet_actions ({ACTION_COLUMNS}) \
             SELECT ?, ?, id, number, cluster_id, region, ?, 'in-progress', ?, '', ?, ?, NULL \
             FROM droplets WHERE id = ?"
        ))
        .bind(new.id.as_str())
        .bind(number)
        .bind(new.kind.as_str())
        .bind(new.param.as_str())
        .bind(new.now)
        .bind(new.due_at)
        .bind(new.droplet_id.as_str())
        .execute(&mut *tx)
        .await?;
        self.announce(
            &mut tx,
            Kind::ActionStarted,
            &new.droplet_id,
            Some(&new.id),
            None,
            new.now,
        )
        .await?;
        tx.commit().await?;
        Ok(Created::New(new.id))
    }

    async fn finish_action_once(&self, id: &str, outcome: Outcome, now: i64) -> Result<bool> {
        let fallback = match self.finish_once(id, &outcome, now).await? {
            Finish::Done(done) => return Ok(done),
            Finish::NameTaken => "the new name was taken meanwhile",
            Finish::DropletGone => "the droplet was destroyed while the action ran",
        };
        match self
            .finish_once(id, &Outcome::Errored(fallback.into()), now)
            .await?
        {
            Finish::Done(done) => Ok(done),
            _ => Err(Error::Contention),
        }
    }

    async fn get_action(&self, id: &str) -> Result<Action> {
        let row = sqlx::query(&format!(
            "SELECT {ACTION_COLUMNS} FROM droplet_actions WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::not_found("action", id))?;
        action_from(&row)
    }

    async fn list_actions(
        &self,
        filter: &ActionFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Action>> {
        let mut w = Self::actions_where(filter);
        if let Some(after) = &page.after {
            w.and("id < ?", after.as_str());
        }
        w.page_skipping(
            &self.pool,
            &format!("SELECT {ACTION_COLUMNS} FROM droplet_actions"),
            "id DESC",
            (filter.skip, page.size),
            action_from,
            |a| a.id.clone(),
        )
        .await
    }

    async fn count_actions(&self, filter: &ActionFilter) -> Result<i64> {
        Self::actions_where(filter)
            .count(&self.pool, "SELECT COUNT(*) FROM droplet_actions")
            .await
    }

    fn actions_where(filter: &ActionFilter) -> Where {
        let mut w = Where::default();
        if let Some(d) = &filter.droplet_id {
            w.and("droplet_id = ?", d.as_str());
        }
        if let Some(s) = filter.status {
            w.and("status = ?", s.as_str());
        }
        w
    }

    async fn pending(&self) -> Result<Vec<Pending>> {
        let mut out = Vec::new();
        for row in sqlx::query("SELECT id, boot_at FROM droplets WHERE status = 'new'")
            .fetch_all(&self.pool)
            .await?
        {
            out.push(Pending::Boot {
                droplet_id: row.try_get(0)?,
                at: row.try_get(1)?,
            });
        }
        for row in
            // A create action completes with its droplet's boot (above).
            sqlx::query(
                "SELECT id, due_at FROM droplet_actions \
                 WHERE status = 'in-progress' AND type <> 'create'",
            )
            .fetch_all(&self.pool)
            .await?
        {
            out.push(Pending::Action {
                action_id: row.try_get(0)?,
                at: row.try_get(1)?,
            });
        }
        Ok(out)
    }
}

/// Tags.
impl SqlRepository {
    /// Records tag `name` as existing (first use creates it).
    async fn ensure_tag(tx: &mut Transaction<'static, Any>, name: &str, now: i64) -> Result<()> {
        let exists = sqlx::query("SELECT 1 FROM tags WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?
            .is_some();
        if !exists {
            match sqlx::query("INSERT INTO tags (name, created_at) VALUES (?, ?)")
                .bind(name)
                .bind(now)
                .execute(&mut **tx)
                .await
            {
                // Created meanwhile: that is the outcome wanted.
                Err(e) if is_unique_violation(&e) => {}
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }

    async fn tag_info(&self, name: &str, created_at: i64) -> Result<TagInfo> {
        let droplets: i64 = sqlx::query(
            "SELECT COUNT(*) FROM droplets WHERE status <> 'archive' AND INSTR(tags, ?) > 0",
        )
        .bind(format!(",{name},"))
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        Ok(TagInfo {
            name: name.to_string(),
            droplets,
            created_at,
        })
    }

    async fn create_tag_once(&self, name: &str, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        Self::ensure_tag(&mut tx, name, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_tag(&self, name: &str) -> Result<TagInfo> {
        let created = sqlx::query("SELECT created_at FROM tags WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let info = self
            .tag_info(
                name,
                match &created {
                    Some(row) => row.try_get(0)?,
                    None => 0,
                },
            )
            .await?;
        if created.is_none() && info.droplets == 0 {
            return Err(Error::not_found("tag", name));
        }
        Ok(info)
    }

    async fn list_tags(&self, skip: u32, page: &PageRequest) -> Result<PageOf<TagInfo>> {
        let mut w = Where::default();
        if let Some(after) = &page.after {
            w.and("name > ?", after.as_str());
        }
        let names = w
            .page_skipping(
                &self.pool,
                "SELECT name, created_at FROM tags",
                "name",
                (skip, page.size),
                |r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)),
                |(name, _)| name.clone(),
            )
            .await?;
        // One pass over the live droplets counts the whole page.
        let mut counts: HashMap<&str, i64> =
            names.items.iter().map(|(n, _)| (n.as_str(), 0)).collect();
        if !counts.is_empty() {
            let rows =
                sqlx::query("SELECT tags FROM droplets WHERE status <> 'archive' AND tags <> ''")
                    .fetch_all(&self.pool)
                    .await?;
            for row in &rows {
                for tag in Tags::from_column(&row.try_get::<String, _>(0)?).as_slice() {
                    if let Some(n) = counts.get_mut(tag.as_str()) {
                        *n += 1;
                    }
                }
            }
        }
        let items = names
            .items
            .iter()
            .map(|(name, created_at)| TagInfo {
                name: name.clone(),
                droplets: counts.get(name.as_str()).copied().unwrap_or_default(),
                created_at: *created_at,
            })
            .collect();
        Ok(PageOf {
            items,
            next_after: names.next_after,
        })
    }

    /// Sets droplet `id`'s tags to `change(tags)` inside `tx`; false when it
    /// is not a live droplet.
    async fn change_tags(
        tx: &mut Transaction<'static, Any>,
        id: &str,
        change: impl Fn(&mut Vec<String>),
        now: i64,
    ) -> Result<bool> {
        // Compare-and-set on the column: a replica tagging the droplet at the
        // same time makes this one read again instead of losing its tag.
        for _ in 0..TAG_ROUNDS {
            let Some(row) =
                sqlx::query("SELECT tags FROM droplets WHERE id = ? AND status <> 'archive'")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
            else {
                return Ok(false);
            };
            let before: String = row.try_get(0)?;
            let mut tags = Tags::from_column(&before).as_slice().to_vec();
            change(&mut tags);
            let after = Tags::parse(&tags)
                .map_err(|e| Error::invalid("droplet_ids", e))?
                .to_column();
            // MariaDB counts changed rows: an unchanged list is not written.
            if after == before {
                return Ok(true);
            }
            let set = sqlx::query(
                "UPDATE droplets SET tags = ?, updated_at = ? WHERE id = ? AND tags = ?",
            )
            .bind(after.as_str())
            .bind(now)
            .bind(id)
            .bind(before.as_str())
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if set == 1 {
                return Ok(true);
            }
        }
        Err(Error::Contention)
    }

    async fn retag_once(&self, name: &str, ids: &[String], on: bool, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if on {
            Self::ensure_tag(&mut tx, name, now).await?;
        }
        for id in ids {
            let found = Self::change_tags(
                &mut tx,
                id,
                |tags| {
                    tags.retain(|t| t != name);
                    if on {
                        tags.push(name.to_string());
                    }
                },
                now,
            )
            .await?;
            if !found {
                return Err(Error::not_found("droplet", id.as_str()));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_tag_once(&self, name: &str, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM tags WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let carriers: Vec<String> =
            sqlx::query("SELECT id FROM droplets WHERE status <> 'archive' AND INSTR(tags, ?) > 0")
                .bind(format!(",{name},"))
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
        if deleted == 0 && carriers.is_empty() {
            return Err(Error::not_found("tag", name));
        }
        for id in &carriers {
            Self::change_tags(&mut tx, id, |tags| tags.retain(|t| t != name), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl ProvisioningRepository for SqlRepository {
    async fn create_tag(&self, name: &str, now: i64) -> Result<TagInfo> {
        retry(|| self.create_tag_once(name, now)).await?;
        SqlRepository::get_tag(self, name).await
    }

    async fn get_tag(&self, name: &str) -> Result<TagInfo> {
        SqlRepository::get_tag(self, name).await
    }

    async fn list_tags(&self, skip: u32, page: &PageRequest) -> Result<PageOf<TagInfo>> {
        SqlRepository::list_tags(self, skip, page).await
    }

    async fn count_tags(&self) -> Result<i64> {
        Where::default()
            .count(&self.pool, "SELECT COUNT(*) FROM tags")
            .await
    }

    async fn delete_tag(&self, name: &str, now: i64) -> Result<()> {
        retry(|| self.delete_tag_once(name, now)).await
    }

    async fn retag(&self, name: &str, ids: &[String], on: bool, now: i64) -> Result<()> {
        retry(|| self.retag_once(name, ids, on, now)).await
    }

    async fn remembered(&self, scope: &str, request_id: &str) -> Result<Option<Remembered>> {
        SqlRepository::remembered(self, scope, request_id).await
    }

    async fn create_cluster(&self, new: NewCluster, idem: Option<Idempotency>) -> Result<Created> {
        retry(|| self.create_cluster_once(new.clone(), idem.clone())).await
    }

    async fn get_cluster(&self, id: &str) -> Result<Cluster> {
        SqlRepository::get_cluster(self, id).await
    }

    async fn list_clusters(
        &self,
        filter: &ClusterFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Cluster>> {
        SqlRepository::list_clusters(self, filter, page).await
    }

    async fn update_cluster(&self, id: &str, patch: ClusterPatch, now: i64) -> Result<Cluster> {
        retry(|| self.update_cluster_once(id, patch.clone(), now)).await
    }

    async fn delete_cluster(&self, id: &str, force: bool, now: i64) -> Result<u32> {
        let n = retry(|| self.delete_cluster_once(id, force, now)).await?;
        self.wake();
        Ok(n)
    }

    async fn create_droplet(
        &self,
        new: NewDroplet,
        placement: &dyn Placement,
        idem: Option<Idempotency>,
    ) -> Result<Created<Droplet>> {
        let created =
            retry(|| self.create_droplet_once(new.clone(), placement, idem.clone())).await?;
        self.wake();
        Ok(created)
    }

    async fn get_droplet(&self, id: &str) -> Result<Droplet> {
        SqlRepository::get_droplet(self, id).await
    }

    async fn list_droplets(
        &self,
        filter: &DropletFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Droplet>> {
        SqlRepository::list_droplets(self, filter, page).await
    }

    async fn activate_droplet(&self, id: &str, now: i64) -> Result<bool> {
        let done = retry(|| self.activate_droplet_once(id, now)).await?;
        self.wake();
        Ok(done)
    }

    async fn destroy_droplet(&self, id: &str, now: i64) -> Result<Droplet> {
        let droplet = retry(|| self.destroy_droplet_once(id, now)).await?;
        self.wake();
        Ok(droplet)
    }

    async fn begin_action(
        &self,
        new: NewAction,
        from: DropletStatus,
        idem: Option<Idempotency>,
    ) -> Result<Created> {
        let created = retry(|| self.begin_action_once(new.clone(), from, idem.clone())).await?;
        self.wake();
        Ok(created)
    }

    async fn finish_action(&self, id: &str, outcome: Outcome, now: i64) -> Result<bool> {
        let done = retry(|| self.finish_action_once(id, outcome.clone(), now)).await?;
        self.wake();
        Ok(done)
    }

    async fn get_action(&self, id: &str) -> Result<Action> {
        SqlRepository::get_action(self, id).await
    }

    async fn list_actions(
        &self,
        filter: &ActionFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Action>> {
        SqlRepository::list_actions(self, filter, page).await
    }

    async fn count_actions(&self, filter: &ActionFilter) -> Result<i64> {
        SqlRepository::count_actions(self, filter).await
    }

    async fn count_droplets(&self, filter: &DropletFilter) -> Result<i64> {
        SqlRepository::count_droplets(self, filter).await
    }

    async fn droplet_id_by_number(&self, number: i64) -> Result<String> {
        self.id_of_number("droplets", "droplet", number).await
    }

    async fn action_id_by_number(&self, number: i64) -> Result<String> {
        self.id_of_number("droplet_actions", "action", number).await
    }

    async fn pending(&self) -> Result<Vec<Pending>> {
        SqlRepository::pending(self).await
    }

    async fn inject_fault(
        &self,
        new: NewFault,
        idem: Option<Idempotency>,
    ) -> Result<Created<Fault>> {
        let created = retry(|| self.inject_fault_once(new.clone(), idem.clone())).await?;
        self.wake();
        Ok(created)
    }

    async fn get_fault(&self, id: &str) -> Result<Fault> {
        SqlRepository::get_fault(self, id).await
    }

    async fn list_faults(&self, filter: &FaultFilter, page: &PageRequest) -> Result<PageOf<Fault>> {
        SqlRepository::list_faults(self, filter, page).await
    }

    async fn clear_fault(&self, id: &str, now: i64) -> Result<Fault> {
        retry(|| self.clear_fault_once(id, now)).await?;
        self.wake();
        self.get_fault(id).await
    }

    async fn end_due_faults(&self, now: i64) -> Result<u32> {
        let due: Vec<String> = sqlx::query(
            "SELECT id FROM faults WHERE ended = 0 AND end_at <= ? ORDER BY end_at LIMIT 500",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
        let mut ended = 0;
        for id in &due {
            // Another replica may end it first; the conditional update
            // lets exactly one of them apply and announce the end.
            if retry(|| self.clear_fault_once(id, now)).await? {
                ended += 1;
            }
        }
        self.wake();
        Ok(ended)
    }

    async fn fleet(&self, now: i64) -> Result<(Vec<LiveDroplet>, Vec<Fault>)> {
        let droplets = sqlx::query(
            "SELECT id, cluster_id, size, created_at FROM droplets WHERE status = 'active'",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(LiveDroplet {
                id: r.try_get("id")?,
                cluster_id: r.try_get("cluster_id")?,
                size: r.try_get("size")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let faults = sqlx::query(&format!(
            "SELECT {FAULT_COLUMNS} FROM faults WHERE ended = 0 AND start_at <= ? AND end_at > ?"
        ))
        .bind(now)
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(fault_from)
        .collect::<Result<Vec<_>>>()?;
        Ok((droplets, faults))
    }

    async fn record_cluster_health(
        &self,
        cluster_id: &str,
        health: ClusterHealth,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE clusters SET health = ?, health_at = ? WHERE id = ? AND health_at <= ?",
        )
        .bind(health.as_str())
        .bind(at)
        .bind(cluster_id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn lease(&self, name: &str, holder: &str, until: i64, now: i64) -> Result<bool> {
        let renewed = sqlx::query(
            "UPDATE leases SET holder = ?, expires_at = ? \
             WHERE name = ? AND (holder = ? OR expires_at < ?)",
        )
        .bind(holder)
        .bind(until)
        .bind(name)
        .bind(holder)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if renewed == 1 {
            return Ok(true);
        }
        match sqlx::query("INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)")
            .bind(name)
            .bind(holder)
            .bind(until)
            .execute(&self.pool)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => {
                // MySQL counts unchanged rows as unaffected, so a renewal
                // within the same millisecond lands here: ask who holds it.
                let current: String = sqlx::query("SELECT holder FROM leases WHERE name = ?")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                Ok(current == holder)
            }
            Err(e) => Err(e.into()),
        }
    }
}

const FAULT_COLUMNS: &str = "id, droplet_id, cluster_id, kind, start_at, end_at";

fn fault_from(row: &AnyRow) -> Result<Fault> {
    let kind: String = row.try_get("kind")?;
    Ok(Fault {
        id: row.try_get("id")?,
        droplet_id: row.try_get("droplet_id")?,
        cluster_id: row.try_get("cluster_id")?,
        kind: FaultKind::from_column(&kind).ok_or_else(|| {
            Error::Storage(sqlx::Error::Decode(
                format!("unknown fault kind {kind}").into(),
            ))
        })?,
        start_at: row.try_get("start_at")?,
        end_at: row.try_get("end_at")?,
    })
}

/// Faults, one attempt each (retried by the trait impl).
impl SqlRepository {
    async fn inject_fault_once(
        &self,
        new: NewFault,
        idem: Option<Idempotency>,
    ) -> Result<Created<Fault>> {
        let now = new.start_at;
        let mut tx = self.pool.begin().await?;
        if let Some(earlier) = Self::claim(&mut tx, "fault", idem.as_ref(), &new.id, now).await? {
            tx.rollback().await?;
            return Self::replay(idem.as_ref(), earlier);
        }
        let row = sqlx::query("SELECT cluster_id, status, locked_by FROM droplets WHERE id = ?")
            .bind(new.droplet_id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::not_found("droplet", new.droplet_id.as_str()))?;
        let cluster_id: String = row.try_get("cluster_id")?;
        let status = DropletStatus::from_column(&row.try_get::<String, _>("status")?);
        let locked_by: Option<String> = row.try_get("locked_by")?;
        if status == DropletStatus::Archive {
            return Err(Error::FailedPrecondition("the droplet is destroyed".into()));
        }
        if new.kind == FaultKind::Crash {
            if let Some(action) = locked_by {
                return Err(Error::FailedPrecondition(format!(
                    "droplet is locked by action {action} in progress"
                )));
            }
            if status != DropletStatus::Active {
                return Err(Error::FailedPrecondition(format!(
                    "only an active droplet can crash; this one is {}",
                    status.as_str()
                )));
            }
        }
        // A fault whose time is up but whose end no sweep has applied yet
        // still holds its slot in the unique index: end it here first.
        let stale: Option<String> = sqlx::query(
            "SELECT id FROM faults WHERE droplet_id = ? AND live_kind = ? AND end_at <= ?",
        )
        .bind(new.droplet_id.as_str())
        .bind(new.kind.as_str())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        if let Some(stale) = stale {
            self.end_fault_in(&mut tx, &stale, now).await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO faults (id, droplet_id, cluster_id, kind, live_kind, start_at, end_at, \
             ended) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
        )
        .bind(new.id.as_str())
        .bind(new.droplet_id.as_str())
        .bind(cluster_id.as_str())
        .bind(new.kind.as_str())
        .bind(new.kind.as_str())
        .bind(new.start_at)
        .bind(new.end_at)
        .execute(&mut *tx)
        .await;
        unique(inserted, || {
            Error::AlreadyExists(format!(
                "the droplet already has an open {} fault; clear it first",
                new.kind.as_str()
            ))
        })?;
        if new.kind == FaultKind::Crash {
            let crashed = sqlx::query(
                "UPDATE droplets SET status = 'off', updated_at = ? \
                 WHERE id = ? AND status = 'active' AND locked_by IS NULL",
            )
            .bind(now)
            .bind(new.droplet_id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if crashed == 0 {
                return Err(Error::FailedPrecondition(
                    "the droplet changed meanwhile; try again".into(),
                ));
            }
        }
        let fault = Fault {
            id: new.id,
            droplet_id: new.droplet_id,
            cluster_id,
            kind: new.kind,
            start_at: new.start_at,
            end_at: new.end_at,
        };
        self.announce(
            &mut tx,
            Kind::FaultStarted,
            &fault.droplet_id,
            None,
            Some(&fault),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Created::New(fault))
    }

    async fn get_fault(&self, id: &str) -> Result<Fault> {
        let row = sqlx::query(&format!("SELECT {FAULT_COLUMNS} FROM faults WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::not_found("fault", id))?;
        fault_from(&row)
    }

    async fn list_faults(&self, filter: &FaultFilter, page: &PageRequest) -> Result<PageOf<Fault>> {
        let mut w = Where::default();
        if let Some(cluster) = &filter.cluster_id {
            w.and("cluster_id = ?", cluster.as_str());
        }
        if let Some(droplet) = &filter.droplet_id {
            w.and("droplet_id = ?", droplet.as_str());
        }
        if !filter.include_ended {
            w.and("end_at > ?", filter.now.to_string());
        }
        if let Some(after) = &page.after {
            w.and("id > ?", after.as_str());
        }
        w.page(
            &self.pool,
            &format!("SELECT {FAULT_COLUMNS} FROM faults"),
            "id",
            page.size,
            fault_from,
            |f| f.id.clone(),
        )
        .await
    }

    /// Ends `id` at `now` at the latest, in its own transaction. False when
    /// its end had already been applied.
    async fn clear_fault_once(&self, id: &str, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let ended = self.end_fault_in(&mut tx, id, now).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Applies a fault's end inside `tx`: frees its slot, restarts a crashed
    /// droplet that is still down, and announces FAULT_ENDED.
    async fn end_fault_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
        now: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE faults SET live_kind = NULL, ended = 1, \
             end_at = CASE WHEN end_at > ? THEN ? ELSE end_at END \
             WHERE id = ? AND ended = 0",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        let fault = fault_from(
            &sqlx::query(&format!("SELECT {FAULT_COLUMNS} FROM faults WHERE id = ?"))
                .bind(id)
                .fetch_one(&mut **tx)
                .await?,
        )?;
        if fault.kind == FaultKind::Crash {
            // Only if nobody powered it on (or destroyed it) meanwhile.
            sqlx::query(
                "UPDATE droplets SET status = 'active', updated_at = ? \
                 WHERE id = ? AND status = 'off' AND locked_by IS NULL",
            )
            .bind(now)
            .bind(fault.droplet_id.as_str())
            .execute(&mut **tx)
            .await?;
        }
        self.announce(
            tx,
            Kind::FaultEnded,
            &fault.droplet_id,
            None,
            Some(&fault),
            now,
        )
        .await?;
        Ok(true)
    }
}
