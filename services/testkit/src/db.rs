//! Fresh databases for tests: one per test, dropped by [`TestDb::drop_db`].

use cg_runtime::config::DatabaseConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    MySql,
    Sqlite,
}

/// A fresh database, dropped again by [`TestDb::drop_db`].
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

    pub async fn drop_db(self) {
        if let Some(admin) = &self.admin {
            use sqlx::Connection as _;
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(admin)
                .await
                .expect("mysql admin");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {}", self.name))
                .execute(&mut conn)
                .await
                .expect("drop test database");
        }
    }
}
