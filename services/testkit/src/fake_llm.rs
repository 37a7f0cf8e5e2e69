//! A local fake of an OpenAI-compatible chat-completions endpoint, for
//! tests and benchmarks of diagnosis's LLM enrichment. It speaks the
//! protocol (tool calls included) and its failures (429, 5xx, slowness,
//! malformed content), plays replies from a script, and records every
//! request body so a test can check what left the service.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::post};
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A final answer: `{"explanation": …, "ranking": …}`.
    Answer {
        explanation: String,
        ranking: Vec<String>,
    },
    /// Tool calls: (function name, JSON arguments).
    ToolCalls(Vec<(String, Value)>),
    /// An HTTP error with an OpenAI error body.
    Status(u16),
    /// The message content as given (e.g. not JSON at all).
    Content(String),
    /// The inner reply, after a wait.
    Slow(Duration, Box<Reply>),
}

impl Reply {
    pub fn answer(explanation: &str) -> Self {
        Self::Answer {
            explanation: explanation.into(),
            ranking: Vec::new(),
        }
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    fallback: Option<Reply>,
    requests: Vec<Value>,
}

/// The running fake; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeLlm {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

fn completion(message: Value) -> Value {
    let finish = if message.get("tool_calls").is_some() {
        "tool_calls"
    } else {
        "stop"
    };
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
}

async fn respond(reply: Reply) -> axum::response::Response {
    let mut reply = reply;
    while let Reply::Slow(wait, inner) = reply {
        tokio::time::sleep(wait).await;
        reply = *inner;
    }
    match reply {
        Reply::Answer {
            explanation,
            ranking,
        } => Json(completion(json!({
            "role": "assistant",
            "content": json!({"explanation": explanation, "ranking": ranking}).to_string(),
        })))
        .into_response(),
        Reply::Content(content) => {
            Json(completion(json!({"role": "assistant", "content": content}))).into_response()
        }
        Reply::ToolCalls(calls) => Json(completion(json!({
            "role": "assistant",
            "content": null,
            "tool_calls": calls.iter().enumerate().map(|(i, (name, args))| json!({
                "id": format!("call_{i}"),
                "type": "function",
                "function": {"name": name, "arguments": args.to_string()},
            })).collect::<Vec<_>>(),
        })))
        .into_response(),
        Reply::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let kind = if code == 429 {
                "rate_limit_error"
            } else {
                "server_error"
            };
            (
                status,
                Json(json!({"error": {"message": format!("fake {code}"), "type": kind, "param": null, "code": null}})),
            )
                .into_response()
        }
        Reply::Slow(..) => unreachable!("unwrapped above"),
    }
}

async fn chat(
    State(inner): State<Arc<Mutex<Inner>>>,
    Json(body): Json<Value>,
) -> axum::response::Response {
    let reply = {
        let mut i = inner.lock().unwrap();
        i.requests.push(body);
        i.script
            .pop_front()
            .or_else(|| i.fallback.clone())
            .unwrap_or_else(|| Reply::answer("nothing scripted"))
    };
    respond(reply).await
}

impl FakeLlm {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner }
    }

    /// The base URL to configure (`…/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues replies, answered in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    /// What to answer once the script is played out.
    pub fn fallback(&self, reply: Reply) {
        self.inner.lock().unwrap().fallback = Some(reply);
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().unwrap().requests.clone()
    }
}
