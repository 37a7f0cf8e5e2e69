//! A decision as recorded: what the engine saw and concluded, and what the
//! scaler did about it.

use serde::{Deserialize, Serialize};

use crate::hpa::{Action, Evaluation, Reason, Recommendation};

/// The size and image of the droplets a scaling job adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub size: String,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Empty for a dry run.
    pub id: String,
    pub cluster_id: String,
    pub policy_ids: Vec<String>,
    pub current: u32,
    pub recommendations: Vec<Recommendation>,
    pub winner: Option<String>,
    pub desired: u32,
    pub action: Action,
    pub reasons: Vec<Reason>,
    pub explanation: String,
    pub job_id: Option<String>,
    /// What a job for this decision asks for new droplets (the winning
    /// policy's size and image); `None` when nothing is to be done.
    pub job: Option<JobSpec>,
    pub removed_droplet_ids: Vec<String>,
    pub dry_run: bool,
    pub created_at: i64,
}

impl Decision {
    pub fn new(
        id: String,
        cluster_id: &str,
        current: u32,
        eval: &Evaluation,
        dry_run: bool,
        now: i64,
    ) -> Self {
        Self {
            id,
            cluster_id: cluster_id.to_string(),
            policy_ids: eval
                .recommendations
                .iter()
                .map(|r| r.policy_id.clone())
                .collect(),
            current,
            recommendations: eval.recommendations.clone(),
            winner: eval.winner.clone(),
            desired: eval.desired,
            action: eval.action,
            reasons: eval.reasons.clone(),
            explanation: eval.explanation.clone(),
            job_id: None,
            job: None,
            removed_droplet_ids: Vec::new(),
            dry_run,
            created_at: now,
        }
    }

    /// What makes two decisions the same for the record (the proto: the
    /// desired count and the reasons): a cluster's decisions are recorded
    /// when this changes or something is done.
    pub fn summary(&self) -> String {
        let reasons: Vec<&str> = self.reasons.iter().map(|r| r.as_str()).collect();
        format!("{}:{}", self.desired, reasons.join(","))
    }
}
