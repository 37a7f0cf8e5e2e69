//! Storage pools. One code path serves MySQL/MariaDB (compose, CI) and SQLite
//! (embedded mode) through sqlx's `Any` driver: the SQL we write is the
//! common subset both accept (`?` placeholders, no vendor upserts), so one
//! repository implementation and one test suite cover both backends.

use std::{path::Path, str::FromStr};

use secrecy::ExposeSecret;
use sqlx::{
    AnyPool, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::{MigrateDatabase, Migrator},
};

use crate::{Error, config::DatabaseConfig};

/// The runtime's own tables (the outbox), which every service with a
/// database gets beside its own (`database/migrations/runtime`, versions
/// 100000 and up).
pub static RUNTIME_MIGRATIONS: Migrator = sqlx::migrate!("../../database/migrations/runtime");

/// `own` with the runtime's migrations added, in version order.
pub fn with_runtime(own: &Migrator) -> Migrator {
    let mut all: Vec<_> = RUNTIME_MIGRATIONS
        .iter()
        .chain(own.iter())
        .cloned()
        .collect();
    all.sort_by_key(|m| m.version);
    Migrator {
        migrations: all.into(),
        ..Migrator::DEFAULT
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    MySql,
    Sqlite,
}

impl Backend {
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("mysql://") {
            Some(Self::MySql)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

/// A migrated pool and the backend behind it.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Wakes this database's outbox relay after a commit.
    pub wake: crate::outbox::Wake,
}

/// Opens (creating when missing) the database at `config.url` and applies
/// `migrator`. Errors name the URL with its password redacted, because
/// "pool timed out" alone does not say which database is down.
pub async fn connect(config: &DatabaseConfig, migrator: &Migrator) -> Result<Db, Error> {
    sqlx::any::install_default_drivers();
    let url = config.url.expose_secret();
    let backend = Backend::of(url)
        .ok_or_else(|| Error::Config(format!("unsupported database url {}", redact(url))))?;
    let db_err = |source| Error::Database {
        url: redact(url),
        source,
    };
    if sqlite_path(url).is_some_and(|p| p.to_string_lossy().starts_with(":memory:")) {
        // SQLite would make a file of that name in the working directory.
        return Err(Error::Config(format!(
            "database url {}: an in-memory database is `sqlite::memory:` exactly",
            redact(url)
        )));
    }
    if backend == Backend::Sqlite
        && let Some(parent) = sqlite_path(url).and_then(Path::parent)
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    create_database(url, backend).await.map_err(db_err)?;
    let options = AnyConnectOptions::from_str(url).map_err(db_err)?;
    // SQLite allows one writer at a time; a single connection serialises
    // writes in the pool instead of failing them with SQLITE_BUSY.
    let max = match backend {
        Backend::MySql => config.max_connections,
        Backend::Sqlite => 1,
    };
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(config.acquire_timeout)
        // A ping before every checkout doubles the round trips of a simple
        // read; a dead connection surfaces on use instead, and idle or old
        // connections are recycled by the pool's idle timeout and lifetime.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                match backend {
                    // Repeatable-read snapshots would hide rows committed by
                    // the transaction we waited on after a duplicate key.
                    Backend::MySql => {
                        conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                            .await?;
                    }
                    // WAL with NORMAL sync stays durable across process
                    // restarts and makes commits far cheaper.
                    Backend::Sqlite => {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(db_err)?;
    migrator.run(&pool).await.map_err(|e| match e {
        // Rewritten or removed migrations: the file predates a baseline.
        sqlx::migrate::MigrateError::VersionMismatch(_)
        | sqlx::migrate::MigrateError::VersionMissing(_) => Error::Config(format!(
            "database {} was created by an incompatible pre-release ({e}); \
             move it away (embedded mode: the data directory) and start again",
            redact(url)
        )),
        other => Error::Migrate(other),
    })?;
    Ok(Db {
        pool,
        backend,
        wake: crate::outbox::Wake::default(),
    })
}

async fn create_database(url: &str, backend: Backend) -> Result<(), sqlx::Error> {
    match backend {
        Backend::Sqlite => {
            if !sqlx::Any::database_exists(url).await? {
                sqlx::Any::create_database(url).await?;
            }
            Ok(())
        }
        Backend::MySql => {
            use sqlx::{ConnectOptions as _, mysql::MySqlConnectOptions};
            let (server, name) = split_mysql_url(url).ok_or_else(|| {
                sqlx::Error::Configuration("the MySQL URL names no database".into())
            })?;
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(sqlx::Error::Configuration(
                    format!("database name {name:?} may use only letters, digits and '_'").into(),
                ));
            }
            let mut conn = MySqlConnectOptions::from_str(&server)?.connect().await?;
            conn.execute(
                format!(
                    "CREATE DATABASE IF NOT EXISTS `{name}` \
                     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )
                .as_str(),
            )
            .await?;
            Ok(())
        }
    }
}

/// `mysql://u:p@h:3306/db?x=y` → (`mysql://u:p@h:3306?x=y`, `db`).
fn split_mysql_url(url: &str) -> Option<(String, String)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let rest = base.strip_prefix("mysql://")?;
    let (authority, name) = rest.split_once('/')?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let server = match query {
        Some(q) => format!("mysql://{authority}?{q}"),
        None => format!("mysql://{authority}"),
    };
    Some((server, name.to_string()))
}

fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// The URL with any password replaced, for logs and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

/// An argument of a [`Where`] clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Text(String),
}

/// A `WHERE` built from the filters a request sets, with its arguments in
/// the order the SQL names them: repositories list with it instead of
/// assembling clauses and binds by hand.
#[derive(Debug, Default)]
pub struct Where {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    pub fn new() -> Self {
        Self::default()
    }

    /// `clause` (with one `?`) when `value` is set.
    pub fn text(&mut self, clause: &str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(v) = value {
            self.clauses.push(clause.to_string());
            self.args.push(Arg::Text(v.into()));
        }
        self
    }

    /// `clause` (with one `?`) when `value` is set.
    pub fn int(&mut self, clause: &str, value: Option<i64>) -> &mut Self {
        if let Some(v) = value {
            self.clauses.push(clause.to_string());
            self.args.push(Arg::Int(v));
        }
        self
    }

    /// `clause` with as many `?` as `args`.
    pub fn with(&mut self, clause: &str, args: Vec<Arg>) -> &mut Self {
        self.clauses.push(clause.to_string());
        self.args.extend(args);
        self
    }

    /// `WHERE …`, or nothing without a clause.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// `q` with this clause's arguments bound, in order.
    pub fn bind<'q>(
        &'q self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for a in &self.args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_str()),
            };
        }
        q
    }
}

/// After an insert hit a unique key: the row stored earlier under
/// `request_id`, when the idempotency key is what collided. With the same
/// `fingerprint` (the same body) that row is the answer to replay; with
/// another it is `IdempotencyMismatch`. `None` without a key, or when no
/// row carries it (another unique key collided: the caller's conflict).
/// `select` reads the row's columns and `fingerprint` `WHERE request_id = ?`.
pub async fn replay<T>(
    pool: &AnyPool,
    select: &str,
    request_id: Option<&str>,
    fingerprint: &str,
    read: impl Fn(&sqlx::any::AnyRow) -> Result<T, crate::ApiError>,
) -> Result<Option<T>, crate::ApiError> {
    let Some(request_id) = request_id else {
        return Ok(None);
    };
    let Some(row) = sqlx::query(select)
        .bind(request_id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let stored: String = sqlx::Row::try_get(&row, "fingerprint")?;
    if stored == fingerprint {
        read(&row).map(Some)
    } else {
        Err(crate::ApiError::IdempotencyMismatch(request_id.to_string()))
    }
}

/// Which way a page of rows ordered by `id` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// One keyset page of `SELECT columns FROM table`, filtered by `w` and
/// ordered by `id` (time-ordered UUIDs), continuing after `page.after`;
/// each row read with `read`.
#[allow(clippy::too_many_arguments)]
pub async fn page_by_id<T, E: From<sqlx::Error>>(
    pool: &AnyPool,
    columns: &str,
    table: &str,
    mut w: Where,
    order: Order,
    page: &crate::page::PageRequest,
    read: impl Fn(&sqlx::any::AnyRow) -> Result<T, E>,
    id: impl Fn(&T) -> String,
) -> Result<crate::page::PageOf<T>, E> {
    let (after, direction) = match order {
        Order::OldestFirst => ("id > ?", "ASC"),
        Order::NewestFirst => ("id < ?", "DESC"),
    };
    w.text(after, page.after.as_deref());
    let sql = format!(
        "SELECT {columns} FROM {table} {} ORDER BY id {direction} LIMIT {}",
        w.sql(),
        page.size + 1
    );
    let rows = w
        .bind(sqlx::query(&sql))
        .fetch_all(pool)
        .await?
        .iter()
        .map(read)
        .collect::<Result<Vec<_>, E>>()?;
    Ok(crate::page::PageOf::from_rows(rows, page.size, id))
}

/// True when `err` is a unique-key violation (duplicate name, idempotency key, address).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// True when waiting can fix it: the database cannot be reached (pool
/// timeout, connection refused or lost, server shutting down) or gave up on
/// a transaction that may succeed if run again.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                // Too many connections, server shutdown, gone away, lost.
                if matches!(mysql.number(), 1040 | 1053 | 2006 | 2013) {
                    return true;
                }
            }
            is_retryable(err)
        }
        _ => false,
    }
}

/// True when the database gave up on a transaction that may succeed if run
/// again: an InnoDB deadlock (1213) or lock wait timeout (1205), or a busy
/// SQLite file.
pub fn is_retryable(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return matches!(mysql.number(), 1205 | 1213);
    }
    matches!(db.code().as_deref(), Some("5" | "6" | "517"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("mysql://root:hunter2@db:3306/x"),
            "mysql://root:***@db:3306/x"
        );
        assert_eq!(redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    fn mysql_urls_split_into_server_and_database() {
        assert_eq!(
            split_mysql_url("mysql://u:p@h:3306/prov?ssl-mode=disabled"),
            Some(("mysql://u:p@h:3306?ssl-mode=disabled".into(), "prov".into()))
        );
        assert_eq!(split_mysql_url("mysql://h:3306"), None);
        assert_eq!(split_mysql_url("mysql://h:3306/"), None);
    }

    #[test]
    fn sqlite_paths_are_read_from_urls() {
        assert_eq!(
            sqlite_path("sqlite://data/p.db?mode=rwc"),
            Some(Path::new("data/p.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(
            sqlite_path("sqlite::memory:jobs"),
            Some(Path::new(":memory:jobs"))
        );
    }

    #[tokio::test]
    async fn a_named_memory_url_is_refused_instead_of_becoming_a_file() {
        let config = DatabaseConfig::new("sqlite::memory:stray".to_string());
        let err = connect(&config, &Migrator::DEFAULT).await.err().unwrap();
        assert!(matches!(err, Error::Config(m) if m.contains("sqlite::memory:")));
        assert!(!Path::new(":memory:stray").exists());
    }

    #[test]
    fn runtime_migrations_are_added_in_version_order() {
        let own = Migrator {
            migrations: std::borrow::Cow::Owned(vec![]),
            ..Migrator::DEFAULT
        };
        let all = with_runtime(&own);
        assert!(all.iter().any(|m| m.description.contains("outbox")));
        let versions: Vec<i64> = all.iter().map(|m| m.version).collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        assert_eq!(versions, sorted);
    }

    #[test]
    fn unset_filters_leave_no_where_clause() {
        let mut w = Where::new();
        w.text("a = ?", None::<String>).int("b < ?", None);
        assert_eq!(w.sql(), "");
        w.text("a = ?", Some("x")).int("b < ?", Some(3));
        assert_eq!(w.sql(), "WHERE a = ? AND b < ?");
        assert_eq!(w.args, [Arg::Text("x".into()), Arg::Int(3)]);
    }

    #[test]
    fn backend_is_chosen_by_url_scheme() {
        assert_eq!(Backend::of("mysql://h/db"), Some(Backend::MySql));
        assert_eq!(Backend::of("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of("postgres://h/db"), None);
    }
}
