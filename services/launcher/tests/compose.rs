//! Keeps `docker-compose.yml` true to the workspace: one container per service
//! binary built from its own `deploy/Dockerfile` stage, every host named in
//! configuration declared as a (health-gated) dependency, one database per
//! service, and no password written in the file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde_yaml_ng::Value;

const COMPOSE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docker-compose.yml");
const DOCKERFILE: &str = "deploy/Dockerfile";
/// OTLP export is best effort: a service starts without the collector, whose
/// (shell-less) image cannot run a healthcheck.
/// Settings holding a URL the user's browser opens (a published port on
/// the host), never the service itself.
const BROWSER_FACING: &[&str] = &["CLUSTERGENIE_TRACE_UI_URL"];

const BEST_EFFORT_PREFIX: &str = "CLUSTERGENIE_TELEMETRY__";

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn compose() -> Result<Value> {
    let text = read(Path::new(COMPOSE))?;
    serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {COMPOSE}"))
}

fn services(doc: &Value) -> Result<BTreeMap<String, &Value>> {
    let map = doc
        .get("services")
        .and_then(Value::as_mapping)
        .context("docker-compose.yml has no `services` mapping")?;
    Ok(map.iter().map(|(k, v)| (scalar(k), v)).collect())
}

/// Compose services built from the ClusterGenie Dockerfile.
fn clustergenie_services<'a>(all: &BTreeMap<String, &'a Value>) -> BTreeMap<String, &'a Value> {
    all.iter()
        .filter(|(_, svc)| {
            svc.get("build")
                .and_then(|b| b.get("dockerfile"))
                .and_then(Value::as_str)
                == Some(DOCKERFILE)
        })
        .map(|(name, svc)| (name.clone(), *svc))
        .collect()
}

/// Binaries of the workspace: `services/*` and `gateway/` (and `gateway/*`) with a `src/main.rs`, minus the launcher.
fn workspace_binaries() -> Result<BTreeSet<String>> {
    let root = root();
    let mut bins = BTreeSet::new();
    if root.join("gateway/src/main.rs").is_file() {
        bins.insert("gateway".to_owned());
    }
    for parent in ["services", "gateway"] {
        let dir = root.join(parent);
        if !dir.is_dir() {
            continue;
        }
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let path = entry
                .with_context(|| format!("listing {}", dir.display()))?
                .path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("non-UTF-8 name {}", path.display()))?;
            if name != "launcher" && path.join("src/main.rs").is_file() {
                bins.insert(name.to_owned());
            }
        }
    }
    Ok(bins)
}

fn dockerfile_stages() -> Result<BTreeSet<String>> {
    let text = read(&root().join(DOCKERFILE))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            if !words.first()?.eq_ignore_ascii_case("FROM") {
                return None;
            }
            let at = words.iter().position(|w| w.eq_ignore_ascii_case("AS"))?;
            words.get(at + 1).map(|name| name.to_ascii_lowercase())
        })
        .collect())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// `environment` as (key, value) pairs, from either the mapping or the `KEY=value` list form.
fn environment(svc: &Value) -> Result<Vec<(String, String)>> {
    match svc.get("environment") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Mapping(map)) => map
            .iter()
            .map(|(k, v)| Ok((scalar(k), scalar(v))))
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|item| {
                let item = item
                    .as_str()
                    .with_context(|| format!("environment item {item:?} is not a string"))?;
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                Ok((k.to_owned(), v.to_owned()))
            })
            .collect(),
        Some(other) => bail!("environment is neither a mapping nor a list: {other:?}"),
    }
}

/// `depends_on` as name → condition (`None` for the short list form, which has no condition).
fn depends_on(svc: &Value) -> BTreeMap<String, Option<String>> {
    match svc.get("depends_on") {
        Some(Value::Mapping(map)) => map
            .iter()
            .map(|(k, v)| {
                let condition = v
                    .get("condition")
                    .and_then(Value::as_str)
                    .unwrap_or("service_started");
                (scalar(k), Some(condition.to_owned()))
            })
            .collect(),
        Some(Value::Sequence(items)) => items.iter().map(|k| (scalar(k), None)).collect(),
        _ => BTreeMap::new(),
    }
}

/// The healthcheck command, unless missing or disabled.
fn healthcheck(svc: &Value) -> Option<Vec<String>> {
    let hc = svc.get("healthcheck")?;
    if hc.get("disable").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let test: Vec<String> = match hc.get("test")? {
        Value::Sequence(items) => items.iter().map(scalar).collect(),
        other => vec!["CMD-SHELL".to_owned(), scalar(other)],
    };
    (test.first().map(String::as_str) != Some("NONE")).then_some(test)
}

/// The authority of `scheme://authority/...`, skipping `${...}` interpolations (which may hold `?` or `/`).
fn url_authority(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let (mut depth, mut prev, mut end) = (0usize, '\0', rest.len());
    for (i, c) in rest.char_indices() {
        match c {
            '{' if prev == '$' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            '/' | '?' | '#' if depth == 0 => {
                end = i;
                break;
            }
            _ => {}
        }
        prev = c;
    }
    Some(&rest[..end])
}

/// The password of `scheme://user:password@host...`, if any.
fn url_password(value: &str) -> Option<&str> {
    let (userinfo, _) = url_authority(value)?.rsplit_once('@')?;
    userinfo.split_once(':').map(|(_, password)| password)
}

fn split_port(host_port: &str) -> Option<(&str, u16)> {
    let (host, port) = host_port.rsplit_once(':')?;
    Some((
        host.trim_start_matches('[').trim_end_matches(']'),
        port.parse().ok()?,
    ))
}

/// The host a value points at: `scheme://[user[:pass]@]host[:port][/...]` or `host:port`.
fn referenced_host(value: &str) -> Option<String> {
    let value = value.trim();
    let host = match url_authority(value) {
        Some(authority) => {
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            split_port(host_port).map_or(host_port, |(h, _)| h)
        }
        None => split_port(value)?.0,
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    valid.then(|| host.to_owned())
}

fn database_name(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = url_authority(url)?;
    let path = rest.get(authority.len()..)?.strip_prefix('/')?;
    let name = path.split(['?', '#']).next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and the like, and nothing else.
fn is_interpolation(value: &str) -> bool {
    let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) else {
        return false;
    };
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    name_len > 0
        && !inner.contains('}')
        && matches!(
            inner[name_len..].chars().next(),
            None | Some(':' | '-' | '?')
        )
}

fn problems_to_result(what: &str, problems: Vec<String>) -> Result<()> {
    ensure!(
        problems.is_empty(),
        "{what}:\n  - {}",
        problems.join("\n  - ")
    );
    Ok(())
}

#[test]
fn the_host_parser_reads_urls_and_host_ports() {
    assert_eq!(
        referenced_host("mysql://u:${P}@mysql:3306/db").as_deref(),
        Some("mysql")
    );
    assert_eq!(
        referenced_host("mysql://u:${P:?run just compose-env first}@mysql:3306/db").as_deref(),
        Some("mysql")
    );
    assert_eq!(referenced_host("kafka:9092").as_deref(), Some("kafka"));
    assert_eq!(
        referenced_host("http://jobs:50053").as_deref(),
        Some("jobs")
    );
    assert_eq!(
        referenced_host("http://otel-collector").as_deref(),
        Some("otel-collector")
    );
    assert_eq!(referenced_host("[::]:50051").as_deref(), Some("::"));
    assert_eq!(referenced_host("json"), None);
    assert_eq!(referenced_host("${CLUSTERGENIE_LLM__API_KEY:-}"), None);
    assert_eq!(
        database_name("mysql://u:${P:?set it}@mysql:3306/db?ssl-mode=disabled").as_deref(),
        Some("db")
    );
    assert_eq!(
        url_password("mysql://u:hunter2@mysql:3306/db"),
        Some("hunter2")
    );
    assert_eq!(url_password("http://jobs:50053"), None);
    assert!(is_interpolation("${P:?run just compose-env first}"));
    assert!(!is_interpolation("hunter2") && !is_interpolation("${P}x"));
}

#[test]
fn every_binary_has_a_compose_service() -> Result<()> {
    let (doc, bins) = (compose()?, workspace_binaries()?);
    ensure!(
        !bins.is_empty(),
        "found no binary (services/*/src/main.rs, gateway/src/main.rs) under {}",
        root().display()
    );
    let services = services(&doc)?;
    let missing: Vec<String> = bins
        .iter()
        .filter(|b| !services.contains_key(*b))
        .map(|b| format!("binary `{b}` has no service in {COMPOSE}"))
        .collect();
    problems_to_result("binaries without a container", missing)
}

#[test]
fn each_service_builds_its_own_dockerfile_stage() -> Result<()> {
    let (doc, bins, stages) = (compose()?, workspace_binaries()?, dockerfile_stages()?);
    let services = services(&doc)?;
    let names: BTreeSet<String> = bins
        .into_iter()
        .chain(clustergenie_services(&services).into_keys())
        .collect();
    let mut problems = Vec::new();
    for name in names.iter().filter(|n| services.contains_key(*n)) {
        let build = services[name].get("build");
        let field = |key: &str| build.and_then(|b| b.get(key)).and_then(Value::as_str);
        if field("context") != Some(".")
            || field("dockerfile") != Some(DOCKERFILE)
            || field("target") != Some(name.as_str())
        {
            let (context, file, target) = (field("context"), field("dockerfile"), field("target"));
            problems.push(format!(
                "`{name}` must build with {{context: ., dockerfile: {DOCKERFILE}, target: {name}}}, \
                 has context {context:?}, dockerfile {file:?}, target {target:?}"
            ));
        }
        if !stages.contains(&name.to_ascii_lowercase()) {
            problems.push(format!("{DOCKERFILE} has no `FROM ... AS {name}` stage"));
        }
    }
    problems_to_result("build targets", problems)
}

#[test]
fn every_host_named_in_configuration_is_a_healthy_dependency() -> Result<()> {
    let doc = compose()?;
    let services = services(&doc)?;
    let mut problems = Vec::new();
    for (name, svc) in &services {
        let deps = depends_on(svc);
        for (key, value) in environment(svc).with_context(|| format!("service `{name}`"))? {
            if !key.starts_with("CLUSTERGENIE_") || BROWSER_FACING.contains(&key.as_str()) {
                continue;
            }
            for host in value.split(',').filter_map(referenced_host) {
                if host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
                    continue; // a bind address such as 0.0.0.0:50051
                }
                let Some(target) = services.get(&host) else {
                    problems.push(format!(
                        "{name}: {key}={value} names `{host}`, which is not a compose service"
                    ));
                    continue;
                };
                let condition = deps.get(&host).cloned().flatten();
                if key.starts_with(BEST_EFFORT_PREFIX) {
                    if condition.is_none() {
                        problems.push(format!("{name}: {key} names `{host}` but depends_on does not list it (with a condition)"));
                    }
                    continue;
                }
                if healthcheck(target).is_none() {
                    problems.push(format!(
                        "{name}: {key} names `{host}`, which has no healthcheck"
                    ));
                }
                if condition.as_deref() != Some("service_healthy") {
                    problems.push(format!("{name}: {key} names `{host}`; depends_on must list it with condition: service_healthy (has {})",
                        condition.as_deref().unwrap_or("no condition")));
                }
            }
        }
    }
    problems_to_result("undeclared dependencies", problems)
}

#[test]
fn each_service_owns_exactly_its_own_database() -> Result<()> {
    let doc = compose()?;
    let init = read(&root().join("deploy/mysql/init/01-databases.sh"))?;
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, svc) in services(&doc)? {
        for (_, url) in environment(svc)?
            .into_iter()
            .filter(|(k, _)| k == "CLUSTERGENIE_DATABASE__URL")
        {
            let Some(db) = database_name(&url) else {
                problems.push(format!(
                    "{name}: CLUSTERGENIE_DATABASE__URL={url} names no database"
                ));
                continue;
            };
            if db != name {
                problems.push(format!(
                    "{name}: uses database `{db}`; each service owns the database named after it"
                ));
            }
            if !init.contains(&db) {
                problems.push(format!(
                    "{name}: deploy/mysql/init/01-databases.sh does not create database `{db}`"
                ));
            }
            if let Some(other) = owners.insert(db.clone(), name.clone()) {
                problems.push(format!(
                    "database `{db}` is shared by `{other}` and `{name}`"
                ));
            }
        }
    }
    problems_to_result("database ownership", problems)
}

#[test]
fn no_password_is_written_in_the_compose_file() -> Result<()> {
    let doc = compose()?;
    let mut problems = Vec::new();
    for (name, svc) in services(&doc)? {
        for (key, value) in environment(svc)? {
            let upper = key.to_ascii_uppercase();
            let secret_key = ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY"]
                .iter()
                .any(|s| upper.contains(s));
            if secret_key && !value.is_empty() && !is_interpolation(&value) {
                problems.push(format!(
                    "{name}: {key} must be a ${{VAR}} interpolation from .env, not a literal"
                ));
            }
            if let Some(password) = url_password(&value).filter(|p| !is_interpolation(p)) {
                problems.push(format!(
                    "{name}: {key} has a literal password ({} chars) in its URL",
                    password.len()
                ));
            }
        }
    }
    problems_to_result("literal secrets", problems)
}

#[test]
fn every_clustergenie_service_has_a_healthcheck_and_a_listen_address() -> Result<()> {
    let doc = compose()?;
    let services = services(&doc)?;
    let ours = clustergenie_services(&services);
    ensure!(
        !ours.is_empty(),
        "no service in {COMPOSE} builds from {DOCKERFILE}"
    );
    let mut problems = Vec::new();
    for (name, svc) in ours {
        match healthcheck(svc) {
            Some(test)
                if test.iter().any(|a| a == "--health-check")
                    && test
                        .iter()
                        .any(|a| *a == name || a.ends_with(&format!("/{name}"))) => {}
            other => problems.push(format!(
                "{name}: healthcheck must run `{name} --health-check`, has {other:?}"
            )),
        }
        if !environment(svc)?
            .iter()
            .any(|(k, v)| k == "CLUSTERGENIE_LISTEN_ADDR" && !v.is_empty())
        {
            problems.push(format!("{name}: no CLUSTERGENIE_LISTEN_ADDR"));
        }
    }
    problems_to_result("health and listen addresses", problems)
}

/// A service's default configuration as the settings tree its environment
/// variables address (`CLUSTERGENIE_DATABASE__URL` → `database.url`).
/// Optional sections (the broker) are filled in, so their keys show.
fn settings_of(name: &str) -> Option<serde_json::Value> {
    fn tree<S: cg_runtime::kit::Service>() -> Option<serde_json::Value> {
        use cg_runtime::kit::ServiceConfig as _;
        let mut config = cg_runtime::kit::default_config::<S>();
        config.common_mut().kafka = Some(cg_runtime::kafka::KafkaConfig::default());
        serde_json::to_value(config).ok()
    }
    match name {
        "provisioning" => tree::<provisioning::ProvisioningService>(),
        "diagnosis" => tree::<diagnosis::DiagnosisService>(),
        "jobs" => tree::<jobs::JobsService>(),
        "monitoring" => tree::<monitoring::MonitoringService>(),
        "scaler" => tree::<scaler::ScalerService>(),
        "gateway" => tree::<gateway::GatewayService>(),
        _ => None,
    }
}

/// Settings the compose file already passes for diagnosis's coming issue
/// (its LLM, cache and the services it reads), which today's contract-only
/// diagnosis ignores. Each must still be unknown: once diagnosis reads one,
/// it leaves this list.
const PLANNED: [(&str, &str); 0] = [];

#[test]
fn every_setting_in_the_compose_file_is_one_its_service_reads() -> Result<()> {
    let doc = compose()?;
    let services = services(&doc)?;
    let mut problems = Vec::new();
    for (name, svc) in clustergenie_services(&services) {
        let Some(tree) = settings_of(&name) else {
            problems.push(format!("{name}: no configuration known to this test"));
            continue;
        };
        for (key, _) in environment(svc)? {
            let Some(path) = key.strip_prefix("CLUSTERGENIE_") else {
                continue;
            };
            let found = path
                .to_lowercase()
                .split("__")
                .try_fold(&tree, |node, part| node.get(part));
            let planned = PLANNED.contains(&(name.as_str(), key.as_str()));
            match (found.is_some(), planned) {
                (false, false) => problems.push(format!(
                    "{name}: {key} names no setting (a misspelt or dead key is silently ignored)"
                )),
                (true, true) => problems.push(format!(
                    "{name}: {key} is read now; take it off the PLANNED list"
                )),
                _ => {}
            }
        }
    }
    problems_to_result("settings", problems)
}
