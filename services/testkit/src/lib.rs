//! Test support shared by the services' test suites: real databases
//! (MariaDB on this machine, SQLite files) and a real Kafka-protocol broker
//! (tansu) started on a free port for the test that needs it.

mod db;
pub mod jobs;
mod tap;

pub use db::{Backend, TestDb, mysql_admin_url};
pub use tap::Tap;

/// Runs async test bodies `fn(Backend)` once on MariaDB and once on SQLite.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::MySql).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await;
                }
            )*
        }
    };
}

use std::{
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A tansu broker running for one test; stopped when dropped.
pub struct Broker {
    child: Option<Child>,
    port: u16,
    storage: Storage,
    _dir: tempfile::TempDir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Fast; nothing survives a broker restart.
    Memory,
    /// Records and committed offsets survive [`Broker::restart`].
    Sqlite,
}

fn tansu() -> PathBuf {
    std::env::var_os("TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "TANSU is not set: run tests through `just test`, which installs tansu \
             (deploy/dev/tansu.sh) and points TANSU at it"
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Broker {
    pub fn start(storage: Storage) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut broker = Self {
            child: None,
            port: free_port(),
            storage,
            _dir: dir,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let engine = match self.storage {
            Storage::Memory => "memory://tansu/".to_string(),
            // tansu takes a path relative to its working directory.
            Storage::Sqlite => "sqlite://tansu.db".to_string(),
        };
        let child = Command::new(tansu())
            .current_dir(self._dir.path())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                &engine,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts the broker on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
