//! Waiting for a condition instead of sleeping for a guessed time.

use std::{future::Future, time::Duration};

/// The least time a probe gets, even the last one before the deadline.
const PROBE_FLOOR: Duration = Duration::from_secs(5);

/// Polls `probe` every 20 ms until it yields `Some`, and returns that
/// value; panics with `what` and the last observation after `within`. A
/// probe that never answers (a call to a server that is gone) fails the
/// wait too, instead of hanging the test.
pub async fn eventually<T, O, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, O>>,
    O: std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(PROBE_FLOOR);
        match tokio::time::timeout(left, probe()).await {
            Ok(Ok(v)) => return v,
            Ok(Err(last)) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out after {within:?} waiting for {what}; last seen: {last:?}"
                );
            }
            Err(_) => panic!(
                "timed out after {within:?} waiting for {what}: a probe did not answer in {left:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`eventually`] for code that blocks (grpcurl, child processes), off the
/// async runtime.
pub fn eventually_blocking<T, O, F>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Result<T, O>,
    O: std::fmt::Debug,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) => assert!(
                std::time::Instant::now() < deadline,
                "timed out after {within:?} waiting for {what}; last seen: {last:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `Ok(())` when `cond` holds, else `Err(seen)`: for [`eventually`]
/// probes whose condition is a boolean over what they observed.
pub fn check<S>(cond: bool, seen: S) -> Result<(), S> {
    if cond { Ok(()) } else { Err(seen) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[should_panic(expected = "a probe did not answer")]
    async fn a_probe_that_never_answers_fails_the_wait() {
        eventually(Duration::from_secs(1), "nothing", || async {
            std::future::pending::<Result<(), ()>>().await
        })
        .await;
    }

    #[tokio::test]
    async fn a_probe_that_answers_late_still_counts() {
        let mut calls = 0;
        let v = eventually(Duration::from_secs(1), "the third call", || {
            calls += 1;
            let n = calls;
            async move { if n >= 3 { Ok(n) } else { Err(n) } }
        })
        .await;
        assert_eq!(v, 3);
    }
}
