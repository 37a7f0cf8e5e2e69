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
    if backend == Backend::Sqlite
        && let Some(parent) = sqlite_path(url).and_then(Path::parent)
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    if !sqlx::Any::database_exists(url).await.map_err(db_err)? {
        create_database(url, backend).await.map_err(db_err)?;
    }
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
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::MySql {
                    // Repeatable-read snapshots would hide rows committed by
                    // the transaction we waited on after a duplicate key.
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(db_err)?;
    migrator.run(&pool).await?;
    Ok(Db { pool, backend })
}

async fn create_database(url: &str, backend: Backend) -> Result<(), sqlx::Error> {
    match sqlx::Any::create_database(url).await {
        Ok(()) => Ok(()),
        // Two replicas starting together may race to create it.
        Err(e) if backend == Backend::MySql && sqlx::Any::database_exists(url).await? => {
            tracing::debug!(error = %e, "database created concurrently");
            Ok(())
        }
        Err(e) => Err(e),
    }
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

/// True when `err` is a unique-key violation (duplicate name, idempotency key, address).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
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
    fn sqlite_paths_are_read_from_urls() {
        assert_eq!(
            sqlite_path("sqlite://data/p.db?mode=rwc"),
            Some(Path::new("data/p.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[test]
    fn backend_is_chosen_by_url_scheme() {
        assert_eq!(Backend::of("mysql://h/db"), Some(Backend::MySql));
        assert_eq!(Backend::of("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of("postgres://h/db"), None);
    }
}
