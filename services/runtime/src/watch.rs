//! Server-streaming "watch" calls: send the current state, then every change,
//! until a terminal state, the client leaving, or shutdown.

use std::{future::Future, time::Duration};

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

/// In-process change notices by resource id, so a watch wakes at once on
/// its own replica; a poll catches changes made by other replicas.
#[derive(Debug, Clone)]
pub struct Changes(broadcast::Sender<String>);

impl Default for Changes {
    fn default() -> Self {
        Self(broadcast::channel(1024).0)
    }
}

impl Changes {
    pub fn notify(&self, id: &str) {
        let _ = self.0.send(id.to_string());
    }

    /// Notices from now on; subscribe before reading the state you wait to
    /// change, so no notice falls between the read and the wait.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.0.subscribe()
    }
}

/// Waits until `id` changes, `at_most` passes (a change on another replica
/// sends no notice here), or notices were missed (the channel lagged).
pub async fn changed(notices: &mut broadcast::Receiver<String>, id: &str, at_most: Duration) {
    let _ = tokio::time::timeout(at_most, async {
        loop {
            match notices.recv().await {
                Ok(changed) if changed != id => {}
                _ => return,
            }
        }
    })
    .await;
}

/// Streams `read(id)` whenever it changes. `read` answers the value and
/// whether it is final. On shutdown the stream ends with `on_stop`, so the
/// client knows to reconnect (to another replica) rather than that the
/// resource finished.
pub fn watch<T, E, F, Fut>(
    id: String,
    changes: &Changes,
    stop: CancellationToken,
    poll: Duration,
    on_stop: E,
    read: F,
) -> ReceiverStream<Result<T, E>>
where
    T: PartialEq + Clone + Send + 'static,
    E: Send + 'static,
    F: Fn(String) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(T, bool), E>> + Send,
{
    let (tx, rx) = mpsc::channel(16);
    let mut notices = changes.0.subscribe();
    tokio::spawn(async move {
        let mut last: Option<T> = None;
        loop {
            match read(id.clone()).await {
                Ok((value, done)) => {
                    if last.as_ref() != Some(&value) {
                        last = Some(value.clone());
                        if !send_or_stop(&tx, &stop, Ok(value)).await {
                            return;
                        }
                    }
                    if done {
                        return;
                    }
                }
                Err(e) => {
                    send_or_stop(&tx, &stop, Err(e)).await;
                    return;
                }
            }
            let tick = tokio::time::sleep(poll);
            tokio::pin!(tick);
            loop {
                tokio::select! {
                    () = stop.cancelled() => {
                        let _ = tx.try_send(Err(on_stop));
                        return;
                    }
                    () = tx.closed() => return,
                    () = &mut tick => break,
                    notice = notices.recv() => match notice {
                        Ok(changed) if changed != id => {}
                        _ => break,
                    },
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Sends unless the service stops first (a client that stops reading must
/// not hold shutdown up). False when the stream is over.
async fn send_or_stop<T>(tx: &mpsc::Sender<T>, stop: &CancellationToken, item: T) -> bool {
    tokio::select! {
        sent = tx.send(item) => sent.is_ok(),
        () = stop.cancelled() => false,
    }
}
