//! Who may call what: one explicit row per method of every service the
//! gateway serves, with the role it needs, its rate-limit tier and whether
//! it streams. A method missing here is refused (`PERMISSION_DENIED`), and
//! a test walks every method in the descriptor set, so a new RPC cannot go
//! live until someone classified it.

use crate::{auth::Role, limits::Tier};

/// What a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health and reflection: anyone.
    Public,
    Needs(Role),
    /// Not in the table: nobody.
    Denied,
}

/// One method's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub access: Access,
    /// The budget an authenticated call is charged to.
    pub tier: Tier,
    /// Server-streaming: counted against the caller's open-stream cap and
    /// ended at the maximum lifetime or when the token is revoked.
    pub stream: bool,
}

use Role::{Admin, Operator, Viewer};
use Tier::{Default as Normal, Expensive};

const fn unary(role: Role, tier: Tier) -> Rule {
    Rule {
        access: Access::Needs(role),
        tier,
        stream: false,
    }
}

const fn stream(role: Role) -> Rule {
    Rule {
        access: Access::Needs(role),
        tier: Normal,
        stream: true,
    }
}

/// A stream that starts costly work (the rules, then an LLM).
const fn expensive_stream(role: Role) -> Rule {
    Rule {
        access: Access::Needs(role),
        tier: Expensive,
        stream: true,
    }
}

const PUBLIC: Rule = Rule {
    access: Access::Public,
    tier: Normal,
    stream: false,
};

const DENIED: Rule = Rule {
    access: Access::Denied,
    tier: Normal,
    stream: false,
};

/// `(service, method, rule)`, grouped by service.
const TABLE: &[(&str, &str, Rule)] = &[
    // Health and reflection: open to anyone. Health watches stream, so they
    // count against the (per peer) stream cap.
    ("grpc.health.v1.Health", "Check", PUBLIC),
    (
        "grpc.health.v1.Health",
        "Watch",
        Rule {
            stream: true,
            ..PUBLIC
        },
    ),
    (
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
        PUBLIC,
    ),
    (
        "grpc.reflection.v1alpha.ServerReflection",
        "ServerReflectionInfo",
        PUBLIC,
    ),
    // Provisioning.
    (
        "clustergenie.provisioning.v1.ClusterService",
        "CreateCluster",
        unary(Operator, Expensive),
    ),
    (
        "clustergenie.provisioning.v1.ClusterService",
        "GetCluster",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.ClusterService",
        "ListClusters",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.ClusterService",
        "UpdateCluster",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.provisioning.v1.ClusterService",
        "DeleteCluster",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.provisioning.v1.DropletService",
        "CreateDroplet",
        unary(Operator, Expensive),
    ),
    (
        "clustergenie.provisioning.v1.DropletService",
        "GetDroplet",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.DropletService",
        "ListDroplets",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.DropletService",
        "DestroyDroplet",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.provisioning.v1.DropletService",
        "WatchDroplet",
        stream(Viewer),
    ),
    (
        "clustergenie.provisioning.v1.DropletActionService",
        "CreateDropletAction",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.provisioning.v1.DropletActionService",
        "GetDropletAction",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.DropletActionService",
        "ListDropletActions",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.DropletActionService",
        "WatchDropletAction",
        stream(Viewer),
    ),
    (
        "clustergenie.provisioning.v1.TagService",
        "CreateTag",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.provisioning.v1.TagService",
        "GetTag",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.TagService",
        "ListTags",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.TagService",
        "DeleteTag",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.provisioning.v1.TagService",
        "TagDroplets",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.provisioning.v1.TagService",
        "UntagDroplets",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.provisioning.v1.CatalogService",
        "ListRegions",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.CatalogService",
        "ListSizes",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.CatalogService",
        "ListImages",
        unary(Viewer, Normal),
    ),
    // Faults break droplets on purpose: admins only.
    (
        "clustergenie.provisioning.v1.FaultService",
        "InjectFault",
        unary(Admin, Expensive),
    ),
    (
        "clustergenie.provisioning.v1.FaultService",
        "ListFaults",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.provisioning.v1.FaultService",
        "ClearFault",
        unary(Admin, Normal),
    ),
    (
        "clustergenie.provisioning.v1.ExecutorService",
        "GetExecutorStats",
        unary(Viewer, Normal),
    ),
    // Jobs.
    (
        "clustergenie.jobs.v1.JobService",
        "CreateJob",
        unary(Operator, Expensive),
    ),
    (
        "clustergenie.jobs.v1.JobService",
        "GetJob",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.jobs.v1.JobService",
        "ListJobs",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.jobs.v1.JobService",
        "CancelJob",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.jobs.v1.JobService",
        "RetryJob",
        unary(Operator, Expensive),
    ),
    (
        "clustergenie.jobs.v1.JobService",
        "WatchJob",
        stream(Viewer),
    ),
    // Diagnosis.
    (
        "clustergenie.diagnosis.v1.DiagnosisService",
        "Diagnose",
        unary(Operator, Expensive),
    ),
    (
        "clustergenie.diagnosis.v1.DiagnosisService",
        "StreamDiagnosis",
        expensive_stream(Operator),
    ),
    (
        "clustergenie.diagnosis.v1.DiagnosisService",
        "GetDiagnosis",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.diagnosis.v1.DiagnosisService",
        "ListDiagnoses",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.diagnosis.v1.DiagnosisService",
        "ImplementRecommendation",
        unary(Operator, Expensive),
    ),
    // Monitoring.
    (
        "clustergenie.monitoring.v1.MetricsService",
        "QueryMetrics",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.monitoring.v1.MetricsService",
        "GetClusterSummary",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.monitoring.v1.MetricsService",
        "WatchMetrics",
        stream(Viewer),
    ),
    (
        "clustergenie.monitoring.v1.HealthCheckService",
        "CreateHealthCheck",
        unary(Operator, Expensive),
    ),
    (
        "clustergenie.monitoring.v1.HealthCheckService",
        "GetHealthCheck",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.monitoring.v1.HealthCheckService",
        "ListHealthChecks",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.monitoring.v1.HealthCheckService",
        "UpdateHealthCheck",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.monitoring.v1.HealthCheckService",
        "DeleteHealthCheck",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.monitoring.v1.HealthCheckService",
        "ListHealthResults",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.monitoring.v1.AlertService",
        "CreateAlertRule",
        unary(Operator, Expensive),
    ),
    (
        "clustergenie.monitoring.v1.AlertService",
        "GetAlertRule",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.monitoring.v1.AlertService",
        "ListAlertRules",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.monitoring.v1.AlertService",
        "DeleteAlertRule",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.monitoring.v1.AlertService",
        "ListAlerts",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.monitoring.v1.ActivityService",
        "ListActivity",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.monitoring.v1.ActivityService",
        "StreamActivity",
        stream(Viewer),
    ),
    // Scaler.
    (
        "clustergenie.scaler.v1.ScalerService",
        "CreatePolicy",
        unary(Operator, Expensive),
    ),
    (
        "clustergenie.scaler.v1.ScalerService",
        "GetPolicy",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.scaler.v1.ScalerService",
        "ListPolicies",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.scaler.v1.ScalerService",
        "UpdatePolicy",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.scaler.v1.ScalerService",
        "DeletePolicy",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.scaler.v1.ScalerService",
        "GetClusterScaling",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.scaler.v1.ScalerService",
        "UpdateClusterScaling",
        unary(Operator, Normal),
    ),
    (
        "clustergenie.scaler.v1.ScalerService",
        "ListDecisions",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.scaler.v1.ScalerService",
        "WatchDecisions",
        stream(Viewer),
    ),
    (
        "clustergenie.scaler.v1.ScalerService",
        "EvaluateNow",
        unary(Operator, Expensive),
    ),
    // The gateway's own: tokens and limits are managed by admins.
    (
        "clustergenie.gateway.v1.TokenService",
        "WhoAmI",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.gateway.v1.TokenService",
        "CreateToken",
        unary(Admin, Normal),
    ),
    (
        "clustergenie.gateway.v1.TokenService",
        "ListTokens",
        unary(Admin, Normal),
    ),
    (
        "clustergenie.gateway.v1.TokenService",
        "RevokeToken",
        unary(Admin, Normal),
    ),
    (
        "clustergenie.gateway.v1.RateLimitService",
        "GetRateLimits",
        unary(Viewer, Normal),
    ),
    (
        "clustergenie.gateway.v1.RateLimitService",
        "UpdateRateLimits",
        unary(Admin, Normal),
    ),
    (
        "clustergenie.gateway.v1.SystemService",
        "GetSystemStatus",
        unary(Viewer, Normal),
    ),
];

/// Services between the gateway and the backends only: refused to callers
/// (the gateway asks them itself; `SystemService` is their public face).
pub const INTERNAL: &[&str] = &["clustergenie.system.v1.ProcessService"];

/// The rule for `service`/`method`; [`Access::Denied`] when unlisted.
pub fn rule(service: &str, method: &str) -> Rule {
    TABLE
        .iter()
        .find(|(s, m, _)| *s == service && *m == method)
        .map_or(DENIED, |(_, _, r)| *r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method of every service in our contracts, with whether it
    /// streams from the server.
    fn contract_methods() -> Vec<(String, String, bool)> {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(clustergenie_proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set decodes");
        let mut methods = Vec::new();
        for file in &set.file {
            for service in &file.service {
                let name = format!("{}.{}", file.package(), service.name());
                for m in &service.method {
                    methods.push((name.clone(), m.name().to_string(), m.server_streaming()));
                }
            }
        }
        methods
    }

    #[test]
    fn every_method_in_the_contracts_is_classified() {
        let methods = contract_methods();
        assert!(
            methods.len() > 50,
            "the descriptor set lists {} methods",
            methods.len()
        );
        for (s, m, _) in methods
            .iter()
            .filter(|(s, _, _)| INTERNAL.contains(&s.as_str()))
        {
            assert_eq!(rule(s, m).access, Access::Denied, "{s}/{m} is internal");
        }
        let unclassified: Vec<String> = methods
            .iter()
            .filter(|(s, _, _)| !INTERNAL.contains(&s.as_str()))
            .filter(|(s, m, _)| rule(s, m).access == Access::Denied)
            .map(|(s, m, _)| format!("{s}/{m}"))
            .collect();
        assert!(
            unclassified.is_empty(),
            "add these to gateway/src/roles.rs: {unclassified:?}"
        );
    }

    #[test]
    fn streaming_rows_match_the_contracts() {
        for (s, m, streams) in contract_methods() {
            assert_eq!(rule(&s, &m).stream, streams, "{s}/{m}");
        }
    }

    #[test]
    fn the_table_names_only_methods_that_exist() {
        let methods = contract_methods();
        for (s, m, _) in TABLE {
            if s.starts_with("grpc.") {
                continue;
            }
            assert!(
                methods.iter().any(|(cs, cm, _)| cs == s && cm == m),
                "{s}/{m} is in the table but not in the contracts"
            );
        }
    }

    #[test]
    fn an_unlisted_method_is_denied() {
        assert_eq!(
            rule("clustergenie.jobs.v1.JobService", "DropAllJobs").access,
            Access::Denied
        );
        assert_eq!(rule("some.Other", "Call").access, Access::Denied);
    }

    #[test]
    fn faults_are_admin_and_retries_are_expensive() {
        let inject = rule("clustergenie.provisioning.v1.FaultService", "InjectFault");
        assert_eq!(inject.access, Access::Needs(Role::Admin));
        assert_eq!(inject.tier, Tier::Expensive);
        assert_eq!(
            rule("clustergenie.jobs.v1.JobService", "RetryJob").tier,
            Tier::Expensive
        );
        assert_eq!(
            rule("clustergenie.scaler.v1.ScalerService", "EvaluateNow").tier,
            Tier::Expensive
        );
    }

    #[test]
    fn health_and_reflection_are_public() {
        assert_eq!(
            rule(
                "grpc.reflection.v1alpha.ServerReflection",
                "ServerReflectionInfo"
            )
            .access,
            Access::Public
        );
        assert_eq!(
            rule("grpc.health.v1.Health", "Check").access,
            Access::Public
        );
    }
}
