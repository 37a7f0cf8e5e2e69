//! A diagnosis in plain types: what the analyzers found, what they
//! recommend (typed job actions), and what the LLM added. No protobuf here:
//! [`crate::wire`] maps these to and from the contract.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// The rules answered; the LLM is still explaining.
    Enriching,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// What a recommendation does when implemented: exactly what a job can
/// carry out (`jobs.v1.JobAction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Resize {
        droplet_id: String,
        size: String,
    },
    Scale {
        target: u32,
        size: String,
        image: String,
    },
    Reboot {
        droplet_id: String,
    },
    PowerCycle {
        droplet_id: String,
    },
}

/// A measurement backing a finding, and what it can be looked up by.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evidence {
    pub metric: String,
    pub value: f64,
    pub threshold: f64,
    pub unit: String,
    pub window_ms: i64,
    pub window_end_ms: i64,
    pub health_check_ids: Vec<String>,
    pub activity_ids: Vec<String>,
    pub job_ids: Vec<String>,
    pub action_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub analyzer: String,
    pub severity: Severity,
    pub title: String,
    pub detail: String,
    /// Empty for a cluster-wide finding.
    pub droplet_id: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub id: String,
    pub title: String,
    pub rationale: String,
    pub finding_ids: Vec<String>,
    /// `None` for advice no job can carry out.
    pub action: Option<Action>,
    pub risk: Option<Risk>,
    pub expected_effect: String,
    pub monthly_cost_delta_cents: i64,
    pub implemented_job_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    Rules,
    Llm,
    Cache,
}

/// What the LLM added, or why it did not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    pub used: bool,
    pub model: String,
    pub explanation: String,
    pub source: Source,
    pub error: String,
    pub ranked_finding_ids: Vec<String>,
    pub tool_calls: u32,
    pub prompt_version: String,
}

impl Enrichment {
    /// The rules alone, for `reason`.
    pub fn rules(reason: impl Into<String>) -> Self {
        Self {
            used: false,
            model: String::new(),
            explanation: String::new(),
            source: Source::Rules,
            error: reason.into(),
            ranked_finding_ids: Vec::new(),
            tool_calls: 0,
            prompt_version: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub id: String,
    pub cluster_id: String,
    /// Empty for the whole cluster.
    pub droplet_id: String,
    pub status: Status,
    pub summary: String,
    pub severity: Severity,
    pub findings: Vec<Finding>,
    pub recommendations: Vec<Recommendation>,
    /// `None` when the LLM was not asked.
    pub llm: Option<Enrichment>,
    pub request_id: Option<String>,
    pub requested_by: String,
    pub created_at: i64,
    pub duration_ms: i64,
}

impl Diagnosis {
    pub fn recommendation(&self, id: &str) -> Option<&Recommendation> {
        self.recommendations.iter().find(|r| r.id == id)
    }
}

/// The highest severity among `findings`; info without any.
pub fn overall(findings: &[Finding]) -> Severity {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Info)
}

/// One line for lists: how many findings of the top severity, and the
/// first of them.
pub fn summary(findings: &[Finding], name_of: impl Fn(&str) -> String) -> String {
    let top = overall(findings);
    let Some(first) = findings.iter().find(|f| f.severity == top) else {
        return "no findings: the cluster looks healthy".into();
    };
    let count = findings.iter().filter(|f| f.severity == top).count();
    let plural = if count == 1 { "" } else { "s" };
    let on = if first.droplet_id.is_empty() {
        String::new()
    } else {
        format!(" on {}", name_of(&first.droplet_id))
    };
    format!(
        "{count} {} finding{plural}: {}{on}",
        top.as_str(),
        first.title.to_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity, title: &str, droplet: &str) -> Finding {
        Finding {
            id: "f1".into(),
            analyzer: "a".into(),
            severity,
            title: title.into(),
            detail: String::new(),
            droplet_id: droplet.into(),
            evidence: vec![],
        }
    }

    #[test]
    fn a_diagnosis_without_findings_is_info_and_says_healthy() {
        assert_eq!(overall(&[]), Severity::Info);
        assert!(summary(&[], |_| String::new()).contains("healthy"));
    }

    #[test]
    fn the_summary_counts_the_top_severity_and_names_the_first_droplet() {
        let findings = [
            finding(Severity::Warning, "CPU saturated", "d1"),
            finding(Severity::Critical, "Disk nearly full", "d2"),
            finding(Severity::Critical, "Memory leak", "d3"),
        ];
        assert_eq!(overall(&findings), Severity::Critical);
        assert_eq!(
            summary(&findings, |id| format!("web-{id}")),
            "2 critical findings: disk nearly full on web-d2"
        );
    }
}
