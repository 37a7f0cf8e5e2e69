//! The protobuf forms of diagnoses, in one place.

use std::time::Duration;

use cg_runtime::time::{duration, timestamp};
use clustergenie_proto::{diagnosis::v1 as pb, jobs::v1 as jpb};

use crate::domain::{
    Action, Diagnosis, Enrichment, Evidence, Finding, Recommendation, Risk, Severity, Source,
    Status,
};

fn ms(v: i64) -> prost_types::Duration {
    duration(Duration::from_millis(v.max(0).unsigned_abs()))
}

pub fn severity(s: Severity) -> pb::Severity {
    match s {
        Severity::Info => pb::Severity::Info,
        Severity::Warning => pb::Severity::Warning,
        Severity::Critical => pb::Severity::Critical,
    }
}

pub fn severity_of(raw: i32) -> Result<Option<Severity>, &'static str> {
    match pb::Severity::try_from(raw) {
        Ok(pb::Severity::Unspecified) => Ok(None),
        Ok(pb::Severity::Info) => Ok(Some(Severity::Info)),
        Ok(pb::Severity::Warning) => Ok(Some(Severity::Warning)),
        Ok(pb::Severity::Critical) => Ok(Some(Severity::Critical)),
        Err(_) => Err("must be one of INFO, WARNING, CRITICAL"),
    }
}

pub fn job_action(a: &Action) -> jpb::JobAction {
    use jpb::job_action::Action as A;
    jpb::JobAction {
        action: Some(match a {
            Action::Resize { droplet_id, size } => A::ResizeDroplet(jpb::ResizeDroplet {
                droplet_id: droplet_id.clone(),
                size: size.clone(),
            }),
            Action::Scale {
                target,
                size,
                image,
            } => A::ScaleCluster(jpb::ScaleCluster {
                target_count: i32::try_from(*target).unwrap_or(i32::MAX),
                size: size.clone(),
                image: image.clone(),
                remove_droplet_ids: Vec::new(),
            }),
            Action::Reboot { droplet_id } => A::RebootDroplet(jpb::RebootDroplet {
                droplet_id: droplet_id.clone(),
            }),
            Action::PowerCycle { droplet_id } => A::PowerCycleDroplet(jpb::PowerCycleDroplet {
                droplet_id: droplet_id.clone(),
            }),
        }),
    }
}

fn evidence(e: &Evidence) -> pb::Evidence {
    pb::Evidence {
        metric: e.metric.clone(),
        value: e.value,
        threshold: e.threshold,
        window: (e.window_ms > 0).then(|| ms(e.window_ms)),
        window_end: Some(timestamp(e.window_end_ms)),
        health_check_ids: e.health_check_ids.clone(),
        activity_ids: e.activity_ids.clone(),
        job_ids: e.job_ids.clone(),
        action_ids: e.action_ids.clone(),
        unit: e.unit.clone(),
    }
}

fn finding(f: &Finding) -> pb::Finding {
    pb::Finding {
        id: f.id.clone(),
        analyzer: f.analyzer.clone(),
        severity: severity(f.severity) as i32,
        title: f.title.clone(),
        detail: f.detail.clone(),
        droplet_id: f.droplet_id.clone(),
        evidence: f.evidence.iter().map(evidence).collect(),
    }
}

fn risk(r: Option<Risk>) -> pb::Risk {
    match r {
        None => pb::Risk::Unspecified,
        Some(Risk::Low) => pb::Risk::Low,
        Some(Risk::Medium) => pb::Risk::Medium,
        Some(Risk::High) => pb::Risk::High,
    }
}

fn recommendation(r: &Recommendation) -> pb::Recommendation {
    pb::Recommendation {
        id: r.id.clone(),
        title: r.title.clone(),
        rationale: r.rationale.clone(),
        finding_ids: r.finding_ids.clone(),
        action: r.action.as_ref().map(job_action),
        implemented_job_id: r.implemented_job_id.clone().unwrap_or_default(),
        risk: risk(r.risk) as i32,
        expected_effect: r.expected_effect.clone(),
        monthly_cost_delta_cents: r.monthly_cost_delta_cents,
    }
}

fn llm(e: Option<&Enrichment>, status: Status) -> pb::LlmEnrichment {
    let Some(e) = e else {
        // Not asked, or still at work.
        return pb::LlmEnrichment {
            source: pb::ExplanationSource::Rules as i32,
            error: if status == Status::Enriching {
                String::new()
            } else {
                "not asked".into()
            },
            ..Default::default()
        };
    };
    pb::LlmEnrichment {
        used: e.used,
        model: e.model.clone(),
        explanation: e.explanation.clone(),
        cached: e.source == Source::Cache,
        error: e.error.clone(),
        source: match e.source {
            Source::Rules => pb::ExplanationSource::Rules,
            Source::Llm => pb::ExplanationSource::Llm,
            Source::Cache => pb::ExplanationSource::Cache,
        } as i32,
        ranked_finding_ids: e.ranked_finding_ids.clone(),
        tool_calls: i32::try_from(e.tool_calls).unwrap_or(i32::MAX),
        prompt_version: e.prompt_version.clone(),
    }
}

pub fn diagnosis(d: &Diagnosis) -> pb::Diagnosis {
    pb::Diagnosis {
        id: d.id.clone(),
        cluster_id: d.cluster_id.clone(),
        droplet_id: d.droplet_id.clone(),
        status: match d.status {
            Status::Enriching => pb::DiagnosisStatus::Enriching,
            Status::Completed => pb::DiagnosisStatus::Completed,
        } as i32,
        summary: d.summary.clone(),
        severity: severity(d.severity) as i32,
        findings: d.findings.iter().map(finding).collect(),
        recommendations: d.recommendations.iter().map(recommendation).collect(),
        llm: Some(llm(d.llm.as_ref(), d.status)),
        error: String::new(),
        request_id: d.request_id.clone().unwrap_or_default(),
        requested_by: d.requested_by.clone(),
        create_time: Some(timestamp(d.created_at)),
        duration: Some(ms(d.duration_ms)),
    }
}
