//! A consumer that records every event on some topics, for tests that
//! assert what a service published.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use cg_runtime::kafka::{self, Event, KafkaConfig};
use tokio_util::sync::CancellationToken;

/// Records events from `topics` (from the earliest offset) until dropped.
pub struct Tap {
    seen: Arc<Mutex<Vec<Event>>>,
    stop: CancellationToken,
}

impl Tap {
    pub fn start(config: &KafkaConfig, topics: &[&str]) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (config, topics, sink, token) = (
            config.clone(),
            topics.iter().map(|t| (*t).to_string()).collect::<Vec<_>>(),
            seen.clone(),
            stop.clone(),
        );
        let group = format!("tap-{}", uuid::Uuid::new_v4());
        tokio::spawn(async move {
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            let consumed = kafka::consume(&config, &group, &topics, token, move |e| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(e);
                    Ok(())
                }
            })
            .await;
            if let Err(e) = consumed {
                eprintln!("tap stopped: {e}");
            }
        });
        Self { seen, stop }
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the recorded events; panics with `what`
    /// after `within`.
    pub async fn wait(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Event]) -> bool,
    ) -> Vec<Event> {
        let deadline = Instant::now() + within;
        loop {
            let events = self.events();
            if done(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; saw {} event(s)",
                events.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
