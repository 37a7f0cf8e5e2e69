//! Fresh databases for tests: one per test, dropped with its guard (also
//! when the test panics).

use cg_runtime::config::DatabaseConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    MySql,
    Sqlite,
}

/// A fresh database; dropping it drops the database (MariaDB) or deletes
/// its file (SQLite).
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    admin: Option<String>,
    name: String,
}

pub fn mysql_admin_url() -> String {
    std::env::var("CLUSTERGENIE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let name = format!("cgt_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        match backend {
            Backend::MySql => {
                let admin = mysql_admin_url();
                Self {
                    url: format!("{admin}/{name}"),
                    backend,
                    _dir: None,
                    admin: Some(admin),
                    name,
                }
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
                Self {
                    url,
                    backend,
                    _dir: Some(dir),
                    admin: None,
                    name,
                }
            }
        }
    }

    pub fn config(&self) -> DatabaseConfig {
        DatabaseConfig::new(self.url.clone())
    }

    /// A pool on this database, for tests that read rows directly.
    pub async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin) = self.admin.clone() else {
            return;
        };
        let name = self.name.clone();
        // Drop runs inside the test's runtime (or while it unwinds), where
        // blocking on async work is not allowed: a thread of its own does it.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                use sqlx::Connection as _;
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<(), String>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("test database {} was not dropped: {e}", self.name);
        }
    }
}
