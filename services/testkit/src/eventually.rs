//! Waiting for a condition instead of sleeping for a guessed time.

use std::{future::Future, time::Duration};

/// Polls `probe` every 20 ms until it yields `Some`, and returns that
/// value; panics with `what` and the last observation after `within`.
pub async fn eventually<T, O, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, O>>,
    O: std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out after {within:?} waiting for {what}; last seen: {last:?}"
                );
            }
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
