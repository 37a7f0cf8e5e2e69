//! Storage of jobs. The trait speaks plain domain types; [`SqlJobs`]
//! implements it on MySQL/MariaDB and SQLite, and one suite
//! (`tests/repository.rs`) runs against every implementation.

mod sql;

use std::future::Future;

use cg_runtime::{
    ApiError,
    outbox::NewEvent,
    page::{PageOf, PageRequest},
};

pub use sql::SqlJobs;

use crate::domain::{Filter, Job, Outcome, Status};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// A state change, applied only when the job is in one of the states `to`
/// may be entered from (and, when given, still on `attempt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub to: Status,
    pub attempt: Option<u32>,
    /// Progress only rises (a late report cannot lower it).
    pub progress: Option<u32>,
    pub reset_progress: bool,
    pub message: Option<String>,
    pub error: Option<String>,
    pub next_attempt: bool,
    pub cancel_requested: Option<bool>,
    pub outcome: Option<Outcome>,
    /// Sets the current attempt's deadline.
    pub deadline: Option<Option<i64>>,
    /// Sets (or clears) when a waiting retry is requested.
    pub retry_at: Option<Option<i64>>,
    /// Applies only to a job whose retry is waiting (the reconciler's
    /// claim, so two replicas never request one retry twice).
    pub only_waiting_retry: bool,
    pub now: i64,
}

impl Transition {
    pub fn to(to: Status, now: i64) -> Self {
        Self {
            to,
            attempt: None,
            progress: None,
            reset_progress: false,
            message: None,
            error: None,
            next_attempt: false,
            cancel_requested: None,
            outcome: None,
            deadline: None,
            retry_at: None,
            only_waiting_retry: false,
            now,
        }
    }
}

/// One of the state changes [`JobRepository::transition_all`] applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: String,
    pub transition: Transition,
    pub announce: Vec<NewEvent>,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// An earlier job with the same `request_id` and body: its id.
    Replayed(String),
}

pub trait JobRepository: Send + Sync + 'static {
    /// Inserts a queued job and, in the same transaction, the event that
    /// announces it; or answers the job an earlier insert with the same
    /// `request_id` made (`IdempotencyMismatch` when its `fingerprint`
    /// differs).
    fn insert(
        &self,
        job: &Job,
        fingerprint: &str,
        announce: Vec<NewEvent>,
    ) -> impl Future<Output = Result<Inserted>> + Send;

    fn get(&self, id: &str) -> impl Future<Output = Result<Job>> + Send;

    /// Newest first; a page continues after (below) the id in `page.after`.
    fn list(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Job>>> + Send;

    /// Applies `t` and, in the same transaction, records `announce`; false
    /// (and nothing written) when the job may not make it: finished
    /// already, on another attempt, or a race lost.
    fn transition(
        &self,
        id: &str,
        t: &Transition,
        announce: Vec<NewEvent>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// [`Self::transition`] for each change, in order and in one
    /// transaction: a change sees the ones before it, and each answers
    /// whether it was applied (a change that may not be made writes nothing
    /// and holds back none of the others).
    fn transition_all(&self, changes: &[Change]) -> impl Future<Output = Result<Vec<bool>>> + Send;

    /// The jobs among `ids` that exist, in no particular order.
    fn get_many(&self, ids: &[&str]) -> impl Future<Output = Result<Vec<Job>>> + Send;

    /// Queued jobs whose retry is due at `now`, oldest first.
    fn due_retries(&self, now: i64, limit: u32) -> impl Future<Output = Result<Vec<Job>>> + Send;

    /// Queued or running jobs (no retry waiting) whose attempt deadline
    /// passed before `cutoff`, oldest first.
    fn overdue(&self, cutoff: i64, limit: u32) -> impl Future<Output = Result<Vec<Job>>> + Send;
}
