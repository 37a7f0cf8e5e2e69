//! End-to-end test support: the launcher's mesh (every service and the
//! gateway) on MariaDB and a tansu broker of the test's own, and the waits
//! the cross-service suites share.

pub mod procs;

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use cg_runtime::{kafka::KafkaConfig, kit::Running};
use cg_testkit::{Backend, Broker, Storage, TestDb, eventually, provisioning::Clients};
use clustergenie::{Mesh, Options};
use clustergenie_proto::{gateway::v1 as gpb, jobs::v1 as jpb};
use gateway::GatewayService;
use tonic::transport::Channel;

pub type JobsClient = jpb::job_service_client::JobServiceClient<Channel>;

/// The admin token every test mesh's gateway is bootstrapped with.
pub const ADMIN: &str = "cgt_testadmin0000000000000000000000000000";

/// Cloud timings small enough for tests.
pub fn fast_cloud() -> provisioning::cloud::CloudConfig {
    provisioning::cloud::CloudConfig {
        boot_delay: Duration::from_millis(100),
        action_duration: Duration::from_millis(100),
        failure_rate: 0.0,
        region_capacity: 1000,
        api_latency: Duration::ZERO,
    }
}

/// The whole mesh on MariaDB (a fresh database per service) and a broker
/// of its own, as the launcher starts it.
pub struct Flow {
    pub mesh: Mesh,
    pub kafka: KafkaConfig,
    pub options: Options,
    pub broker: Broker,
    _dbs: Arc<Vec<TestDb>>,
    _data: tempfile::TempDir,
}

/// How a [`Flow`] is started.
#[derive(Clone)]
pub struct FlowOptions {
    pub storage: Storage,
    pub kafka: KafkaConfig,
    pub cloud: provisioning::cloud::CloudConfig,
    pub executor: provisioning::executor::ExecutorConfig,
    /// How often each active droplet reports its load.
    pub fleet: provisioning::fleet::FleetConfig,
}

impl Default for FlowOptions {
    fn default() -> Self {
        Self {
            storage: Storage::Memory,
            // Two partitions: two lanes per consumer, and quick rebalances.
            kafka: KafkaConfig {
                partitions: 2,
                ..KafkaConfig::default()
            },
            cloud: fast_cloud(),
            executor: provisioning::executor::ExecutorConfig::default(),
            fleet: provisioning::fleet::FleetConfig::default(),
        }
    }
}

impl Flow {
    pub async fn start(cloud: provisioning::cloud::CloudConfig) -> Self {
        Self::start_with(FlowOptions {
            cloud,
            ..FlowOptions::default()
        })
        .await
    }

    /// With [`Storage::Sqlite`] the broker keeps its records and offsets
    /// across [`Broker::restart`]; `kafka` gives the partitions per topic
    /// and the fetch wait (its address is the test broker's).
    pub async fn start_with(o: FlowOptions) -> Self {
        cg_runtime::telemetry::init_for_tests();
        let broker = Broker::start(o.storage);
        let kafka = KafkaConfig {
            brokers: broker.bootstrap(),
            partitions: o.kafka.partitions,
            fetch_wait: o.kafka.fetch_wait,
            batch_records: o.kafka.batch_records,
            retry_base: Duration::from_millis(10),
            ..KafkaConfig::default()
        };
        let mut dbs = Vec::new();
        let mut urls = std::collections::HashMap::new();
        for name in [
            "provisioning",
            "jobs",
            "monitoring",
            "scaler",
            "diagnosis",
            "gateway",
        ] {
            let db = TestDb::new(Backend::MySql).await;
            urls.insert(name.to_string(), db.url.clone());
            dbs.push(db);
        }
        let data = tempfile::tempdir().expect("tempdir");
        let options = Options {
            data_dir: data.path().to_path_buf(),
            host: "127.0.0.1".parse().unwrap(),
            base_port: 0,
            grace: Duration::from_secs(5),
            cloud: o.cloud,
            executor: o.executor,
            fleet: o.fleet,
            rules: diagnosis::analyzers::Rules::default(),
            storage: clustergenie::Storage::Urls(Arc::new(move |service| {
                urls.get(service)
                    .cloned()
                    .unwrap_or_else(|| panic!("the test mesh has no database for {service}"))
            })),
            broker: clustergenie::Broker::External(kafka.clone()),
            gateway_port: 0,
            web_root: repo().join("web/dist"),
            admin_token: Some(ADMIN.into()),
        };
        let mesh = Mesh::start(options.clone()).await.expect("the mesh starts");
        Self {
            mesh,
            kafka,
            options,
            broker,
            _dbs: Arc::new(dbs),
            _data: data,
        }
    }

    pub fn prov_addr(&self) -> SocketAddr {
        self.mesh.addr("provisioning")
    }

    pub fn jobs_addr(&self) -> SocketAddr {
        self.mesh.addr("jobs")
    }

    /// Provisioning as this mesh runs it, on a free port: for more replicas.
    pub fn prov_config(&self) -> provisioning::Config {
        let mut config = self.options.provisioning(Some(&self.kafka));
        config.common.server.listen_addr = ([127, 0, 0, 1], 0).into();
        config
    }

    pub async fn clients(&self) -> Clients {
        Clients::connect(self.mesh.endpoint("provisioning")).await
    }

    pub async fn prov_channel(&self) -> Channel {
        channel(&self.mesh.endpoint("provisioning")).await
    }

    pub async fn jobs(&self) -> JobsClient {
        JobsClient::new(channel(&self.mesh.endpoint("jobs")).await)
    }

    /// A gateway in front of this mesh's services, sharing the mesh
    /// gateway's token store; tests adjust limits and the like.
    pub fn gateway_config(&self) -> gateway::Config {
        let mut config = cg_runtime::kit::default_config::<GatewayService>();
        config.common.server.listen_addr = ([127, 0, 0, 1], 0).into();
        config.common.server.shutdown_grace = Duration::from_secs(2);
        config.common.database = self.options.database_of("gateway");
        config.backends = self
            .mesh
            .services
            .iter()
            .map(|s| (s.name.to_string(), format!("http://{}", s.addr)))
            .collect();
        config.auth.bootstrap_token = Some(ADMIN.to_string().into());
        config.web_root = std::env::temp_dir().join("cg-no-dashboard");
        config
    }

    /// Another gateway replica with `config`.
    pub async fn gateway(&self, config: &gateway::Config) -> Running<GatewayService> {
        cg_testkit::start::<GatewayService>(config).await
    }

    pub async fn stop(self) {
        self.mesh.shutdown().await.expect("the mesh stops cleanly");
    }
}

/// Creates a token with `role` through the admin API of the gateway at
/// `endpoint`; returns its secret.
pub async fn token(endpoint: &str, name: &str, role: gpb::Role) -> String {
    let mut tokens = gpb::token_service_client::TokenServiceClient::new(channel(endpoint).await);
    tokens
        .create_token(bearer(
            ADMIN,
            gpb::CreateTokenRequest {
                name: name.into(),
                role: role as i32,
            },
        ))
        .await
        .expect("admin creates a token")
        .into_inner()
        .secret
}

pub use cg_testkit::channel;

/// The embedded mesh as `just run` starts it (SQLite under `dir`, the
/// tansu broker `just test` installs, free ports) with a cloud that boots
/// and acts in `delay`.
pub fn embedded(dir: &Path, web_root: &Path, delay: Duration) -> Options {
    Options {
        data_dir: dir.to_path_buf(),
        host: "127.0.0.1".parse().unwrap(),
        base_port: 0,
        grace: Duration::from_secs(5),
        cloud: provisioning::cloud::CloudConfig {
            boot_delay: delay,
            action_duration: delay,
            ..provisioning::cloud::CloudConfig::default()
        },
        executor: provisioning::executor::ExecutorConfig::default(),
        // Each second, so a chart moves and a check turns within a story step.
        fleet: provisioning::fleet::FleetConfig {
            sample_interval: Duration::from_secs(1),
        },
        // Short windows, so a story step sees a fault's trend within
        // seconds of samples.
        rules: diagnosis::analyzers::Rules {
            window: Duration::from_secs(120),
            recent: Duration::from_secs(30),
            ..diagnosis::analyzers::Rules::default()
        },
        storage: clustergenie::Storage::Sqlite,
        broker: clustergenie::Broker::Tansu(
            std::env::var_os("TANSU")
                .expect("TANSU is not set: run tests through `just test`")
                .into(),
        ),
        gateway_port: 0,
        web_root: web_root.to_path_buf(),
        admin_token: None,
    }
}

/// The repository's root.
pub fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Waits until `until(job)` holds; panics with `what` after `within`.
pub async fn wait_job(
    client: &mut JobsClient,
    id: &str,
    within: Duration,
    what: &str,
    until: impl Fn(&jpb::Job) -> bool,
) -> jpb::Job {
    eventually(within, what, || {
        let mut client = client.clone();
        let until = &until;
        async move {
            let job = client
                .get_job(jpb::GetJobRequest { id: id.into() })
                .await
                .expect("get job")
                .into_inner()
                .job
                .unwrap();
            if until(&job) { Ok(job) } else { Err(job) }
        }
    })
    .await
}

/// Follows job `id` on `WatchJob` until it succeeds (panics if it fails,
/// is cancelled or takes longer than `within`); the statuses it went
/// through.
pub async fn follow_job(jobs: &JobsClient, id: &str, within: Duration) -> (jpb::Job, Vec<i32>) {
    use futures::StreamExt as _;
    let mut watch = jobs
        .clone()
        .watch_job(jpb::WatchJobRequest { id: id.into() })
        .await
        .expect("WatchJob")
        .into_inner();
    let mut seen = Vec::new();
    let job = tokio::time::timeout(within, async {
        loop {
            let job = watch
                .next()
                .await
                .expect("the watch stays open until the job ends")
                .expect("a job update")
                .job
                .unwrap();
            if seen.last() != Some(&job.status) {
                seen.push(job.status);
            }
            match jpb::JobStatus::try_from(job.status) {
                Ok(jpb::JobStatus::Succeeded) => return job,
                Ok(jpb::JobStatus::Failed | jpb::JobStatus::Cancelled) => {
                    panic!(
                        "job {id} ended {:?}: {} {}",
                        job.status, job.message, job.error
                    )
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("job {id} did not succeed in time"));
    (job, seen)
}

/// Every job (all pages) whose status passes `keep`.
pub async fn all_jobs(client: &mut JobsClient, keep: impl Fn(&jpb::Job) -> bool) -> Vec<jpb::Job> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_jobs(jpb::ListJobsRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("list jobs")
            .into_inner();
        out.extend(page.jobs.into_iter().filter(|j| keep(j)));
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

/// How many droplets of `clusters` (archived ones too) carry each name.
pub async fn droplet_names(
    droplets: &mut clustergenie_proto::provisioning::v1::droplet_service_client::DropletServiceClient<
        Channel,
    >,
    clusters: &[String],
) -> std::collections::HashMap<String, usize> {
    use clustergenie_proto::provisioning::v1 as ppb;
    let mut names = std::collections::HashMap::new();
    for c in clusters {
        let mut page = String::new();
        loop {
            let resp = droplets
                .list_droplets(ppb::ListDropletsRequest {
                    cluster_id: c.clone(),
                    include_archived: true,
                    page_size: 100,
                    page_token: page.clone(),
                    ..Default::default()
                })
                .await
                .expect("ListDroplets")
                .into_inner();
            for d in resp.droplets {
                *names.entry(d.name).or_default() += 1;
            }
            if resp.next_page_token.is_empty() {
                break;
            }
            page = resp.next_page_token;
        }
    }
    names
}

/// True once a job can change no more.
pub fn is_terminal(job: &jpb::Job) -> bool {
    job.status != jpb::JobStatus::Queued as i32 && job.status != jpb::JobStatus::Running as i32
}

/// `req` with `authorization: Bearer <token>`.
pub fn bearer<T>(token: &str, body: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(body);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a header value"),
    );
    req
}
