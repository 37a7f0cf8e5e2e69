//! Any ClusterGenie service as its own process, for tests that run the mesh
//! as compose does (one process per service, killed with SIGKILL or
//! SIGTERM): `CG_SERVICE=<name> cg-service [--config …]`. The same kit
//! `main` each service's binary runs.

use std::process::ExitCode;

fn main() -> ExitCode {
    use cg_runtime::kit::main;
    match std::env::var("CG_SERVICE").as_deref() {
        Ok("provisioning") => main::<provisioning::ProvisioningService>(),
        Ok("jobs") => main::<jobs::JobsService>(),
        Ok("monitoring") => main::<monitoring::MonitoringService>(),
        Ok("scaler") => main::<scaler::ScalerService>(),
        Ok("diagnosis") => main::<diagnosis::DiagnosisService>(),
        Ok("gateway") => main::<gateway::GatewayService>(),
        other => {
            eprintln!(
                "CG_SERVICE must name provisioning, jobs, monitoring, scaler, diagnosis or gateway (got {other:?})"
            );
            ExitCode::FAILURE
        }
    }
}
