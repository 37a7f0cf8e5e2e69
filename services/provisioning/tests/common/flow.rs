//! Provisioning (with its job executor) and the jobs service wired through
//! one tansu broker, on MariaDB: the event chain for end-to-end tests.

use std::time::Duration;

use cg_runtime::{config::DatabaseConfig, kafka::KafkaConfig};
use cg_testkit::{Backend, Broker, Storage, TestDb};
use clustergenie_proto::jobs::v1 as jpb;
use tokio_util::sync::CancellationToken;

use super::{Server, config};

pub type JobsClient = jpb::job_service_client::JobServiceClient<tonic::transport::Channel>;

/// Provisioning (with its executor) and jobs, on MariaDB and one tansu broker.
pub struct Flow {
    pub kafka: KafkaConfig,
    pub prov_config: provisioning::Config,
    pub prov: Server,
    pub jobs_client: JobsClient,
    pub jobs_addr: std::net::SocketAddr,
    stop: CancellationToken,
    jobs_server: tokio::task::JoinHandle<Result<(), cg_runtime::Error>>,
    dbs: Vec<TestDb>,
    pub broker: Broker,
}

impl Flow {
    pub async fn start(
        cloud: provisioning::cloud::CloudConfig,
        executor: provisioning::executor::ExecutorConfig,
    ) -> Self {
        Self::start_on(Storage::Memory, cloud, executor).await
    }

    /// With [`Storage::Sqlite`] the broker keeps its records and offsets
    /// across [`Broker::restart`].
    pub async fn start_on(
        storage: Storage,
        cloud: provisioning::cloud::CloudConfig,
        executor: provisioning::executor::ExecutorConfig,
    ) -> Self {
        Self::start_with(
            storage,
            KafkaConfig {
                partitions: 2,
                ..KafkaConfig::default()
            },
            cloud,
            executor,
        )
        .await
    }

    /// With `kafka`'s partitions per topic (each consumer's parallelism) and
    /// fetch wait; its broker address is the test broker's.
    pub async fn start_with(
        storage: Storage,
        kafka: KafkaConfig,
        cloud: provisioning::cloud::CloudConfig,
        executor: provisioning::executor::ExecutorConfig,
    ) -> Self {
        let broker = Broker::start(storage);
        let kafka = KafkaConfig {
            brokers: broker.bootstrap(),
            partitions: kafka.partitions,
            fetch_wait: kafka.fetch_wait,
            retry_base: Duration::from_millis(10),
            ..KafkaConfig::default()
        };
        let prov_db = TestDb::new(Backend::MySql).await;
        let jobs_db = TestDb::new(Backend::MySql).await;
        let mut prov_config = config(&prov_db, cloud);
        prov_config.kafka = Some(kafka.clone());
        prov_config.executor = executor;
        let prov = Server::start(&prov_config).await;
        let jobs_app = jobs::App::build(&jobs::Config {
            database: DatabaseConfig::new(jobs_db.url.clone()),
            kafka: Some(kafka.clone()),
            ..jobs::Config::default()
        })
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jobs_addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let jobs_server = tokio::spawn(jobs_app.serve(
            listener,
            async move { token.cancelled().await },
            Duration::from_secs(5),
        ));
        let jobs_client = JobsClient::connect(format!("http://{jobs_addr}"))
            .await
            .unwrap();
        Self {
            kafka,
            prov_config,
            prov,
            jobs_client,
            jobs_addr,
            stop,
            jobs_server,
            dbs: vec![prov_db, jobs_db],
            broker,
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.jobs_server.await.unwrap().unwrap();
        self.prov.stop().await;
        for db in self.dbs {
            db.drop_db().await;
        }
    }
}

/// Polls the job every 20 ms until `until(job)` holds; panics with `what`
/// after `within`.
pub async fn wait_job(
    client: &mut JobsClient,
    id: &str,
    within: Duration,
    what: &str,
    until: impl Fn(&jpb::Job) -> bool,
) -> jpb::Job {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let job = client
            .get_job(jpb::GetJobRequest { id: id.into() })
            .await
            .unwrap()
            .into_inner()
            .job
            .unwrap();
        if until(&job) {
            return job;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {job:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
