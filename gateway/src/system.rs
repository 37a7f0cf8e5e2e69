//! `SystemService`: the mesh at a glance for the System page. The gateway
//! asks every backend's `ProcessService` at once, each within a second, and
//! adds its own status; one that does not answer is listed as unreachable
//! with the reason, so a dead backend shows instead of failing the page.

use std::{collections::HashMap, sync::Arc, time::Duration};

use cg_runtime::status::ProcessApi;
use clustergenie_proto::{gateway::v1 as pb, system::v1 as spb};
use tonic::{Request, Response, Status, transport::Channel};

/// How long one backend may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);

pub struct SystemApi {
    pub own: ProcessApi,
    pub backends: Arc<HashMap<String, Channel>>,
}

fn unreachable(service: &str, error: String) -> spb::ProcessStatus {
    spb::ProcessStatus {
        service: service.to_string(),
        serving: spb::Serving::Unreachable as i32,
        error,
        ..Default::default()
    }
}

async fn ask(service: &str, channel: Channel) -> spb::ProcessStatus {
    let mut client = spb::process_service_client::ProcessServiceClient::new(channel);
    let answer = tokio::time::timeout(
        ASK_TIMEOUT,
        client.get_process_status(spb::GetProcessStatusRequest {}),
    )
    .await;
    match answer {
        Ok(Ok(resp)) => match resp.into_inner().status {
            Some(status) => status,
            None => unreachable(service, "answered without a status".into()),
        },
        Ok(Err(status)) => unreachable(service, status.message().to_string()),
        Err(_) => unreachable(service, "no answer within a second".into()),
    }
}

#[tonic::async_trait]
impl pb::system_service_server::SystemService for SystemApi {
    #[tracing::instrument(skip_all)]
    async fn get_system_status(
        &self,
        _: Request<pb::GetSystemStatusRequest>,
    ) -> Result<Response<pb::GetSystemStatusResponse>, Status> {
        let mut names: Vec<&String> = self.backends.keys().collect();
        names.sort();
        let asks = names
            .iter()
            .map(|name| ask(name, self.backends[*name].clone()));
        let (own, backends) = tokio::join!(
            self.own.status.snapshot(
                self.own.readiness.down_parts(),
                self.own.db.as_ref(),
                self.own.kafka.as_ref(),
            ),
            futures::future::join_all(asks)
        );
        let mut services = vec![own];
        services.extend(backends);
        Ok(Response::new(pb::GetSystemStatusResponse {
            services,
            observe_time: Some(cg_runtime::time::timestamp(cg_runtime::time::now_millis())),
        }))
    }
}
