//! Test support shared by the services' test suites: real databases
//! (MariaDB on this machine, SQLite files) and a real Kafka-protocol broker
//! (tansu) started on a free port for the test that needs it.

pub mod cpu;
mod db;
mod eventually;
pub mod fake_llm;
pub mod group;
pub mod grpcurl;
pub mod jobs;
pub mod monitoring;
pub mod otlp;
pub mod provisioning;
pub mod proxy;
mod tap;

pub use db::{Backend, TestDb, mysql_admin_url};
pub use eventually::{check, eventually, eventually_blocking};
pub use proxy::Proxy;
pub use tap::{OffsetWatch, Tap, committed_offsets, read_to_end, topic_exists};

use cg_runtime::{
    kafka::KafkaConfig,
    kit::{Running, Service, ServiceConfig as _},
};

/// `S`'s default configuration made for a test: port 0 on loopback, `db`
/// (if given) as its database, `broker` (if given) as its Kafka, a short
/// grace period.
pub fn config_for<S: Service>(db: Option<&TestDb>, broker: Option<&Broker>) -> S::Config {
    let mut config = cg_runtime::kit::default_config::<S>();
    let common = config.common_mut();
    common.server.listen_addr = ([127, 0, 0, 1], 0).into();
    common.server.shutdown_grace = Duration::from_secs(5);
    if let Some(db) = db {
        common.database = db.config();
    }
    common.kafka = broker.map(Broker::kafka);
    config
}

/// A channel to `endpoint` (`http://host:port`).
pub async fn channel(endpoint: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(endpoint.to_string())
        .expect("an endpoint URL")
        .connect()
        .await
        .expect("connect")
}

/// Starts `S` with `config` in this process, as its binary would.
pub async fn start<S: Service>(config: &S::Config) -> Running<S> {
    cg_runtime::telemetry::init_for_tests();
    cg_runtime::kit::spawn::<S>(config)
        .await
        .unwrap_or_else(|e| panic!("{} does not start: {e}", S::NAME))
}

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
    time::Duration,
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
                "TANSU is not set: run tests through `just test`, which builds the broker \
             (deploy/dev/tansu.sh) and points TANSU at it"
            )
        })
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where a process a test starts writes: `$CG_TEST_LOGS/<name>.log` when
/// `CG_TEST_LOGS` names a directory (to read after a run that failed),
/// else nowhere. Returns stdout and stderr, both into the same file.
pub fn output(name: &str) -> (Stdio, Stdio) {
    let Some(dir) = std::env::var_os("CG_TEST_LOGS") else {
        return (Stdio::null(), Stdio::null());
    };
    let path = PathBuf::from(dir).join(format!("{name}.log"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|f| Ok((f.try_clone()?, f)));
    match file {
        Ok((out, err)) => (out.into(), err.into()),
        Err(e) => panic!("CG_TEST_LOGS: cannot open {}: {e}", path.display()),
    }
}

/// Sends `signal` (`-TERM`, `-STOP`, …) to process `pid` with kill(1);
/// whether it was delivered.
pub fn signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether [`output`] keeps what processes write.
pub fn keeps_output() -> bool {
    std::env::var_os("CG_TEST_LOGS").is_some()
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
        let (out, err) = output(&format!("broker-{}", self.port));
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
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let port = self.port;
        eventually_blocking(Duration::from_secs(20), "tansu to listen", || {
            TcpStream::connect(("127.0.0.1", port)).map(drop)
        });
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A configuration for this broker with test-friendly timings: two
    /// partitions per topic, retries that start at 10 ms.
    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig {
            brokers: self.bootstrap(),
            partitions: 2,
            retry_base: Duration::from_millis(10),
            ..KafkaConfig::default()
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the broker (SIGSTOP): connections stay open and nothing is
    /// answered, as with a broker that hangs. [`Self::thaw`] lets it go on.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// The broker process, while it runs (benchmarks read its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            assert!(signal(child.id(), sig), "kill {sig} the broker");
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
