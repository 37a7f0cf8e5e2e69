//! A TCP proxy the test controls, in front of a real dependency (MariaDB,
//! Redis): it forwards, cuts every connection and refuses new ones (an
//! outage), or stalls them (a dependency that accepts and never answers).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    /// Connections are closed at once: the dependency is unreachable.
    Cut,
    /// Connections are held open and nothing is forwarded.
    Stall,
}

struct State {
    mode: Mode,
    /// Cancelled to end every connection made so far.
    generation: CancellationToken,
}

/// Runs until dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: CancellationToken,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State {
            mode: Mode::Forward,
            generation: CancellationToken::new(),
        }));
        let stop = CancellationToken::new();
        let (st, halt) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    () = halt.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(_) => continue,
                    },
                };
                let (mode, generation) = {
                    let s = st.lock().unwrap();
                    (s.mode, s.generation.clone())
                };
                match mode {
                    Mode::Cut => drop(client),
                    Mode::Stall => {
                        tokio::spawn(async move {
                            generation.cancelled().await;
                            drop(client);
                        });
                    }
                    Mode::Forward => {
                        tokio::spawn(async move {
                            let Ok(mut upstream) = TcpStream::connect(target).await else {
                                return;
                            };
                            let mut client = client;
                            tokio::select! {
                                () = generation.cancelled() => {}
                                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                            }
                        });
                    }
                }
            }
        });
        Self { addr, state, stop }
    }

    fn set(&self, mode: Mode) {
        let mut s = self.state.lock().unwrap();
        s.mode = mode;
        s.generation.cancel();
        s.generation = CancellationToken::new();
    }

    /// Closes every connection and refuses new ones until [`Self::heal`].
    pub fn cut(&self) {
        self.set(Mode::Cut);
    }

    /// Holds new connections without forwarding (existing ones are closed,
    /// so clients reconnect into the stall) until [`Self::heal`].
    pub fn stall(&self) {
        self.set(Mode::Stall);
    }

    /// Forwards again (stalled connections are closed).
    pub fn heal(&self) {
        self.set(Mode::Forward);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.state.lock().unwrap().generation.cancel();
    }
}
