#!/usr/bin/env python3
"""Checks rendered ClusterGenie manifests; deploy/k8s/validate.sh runs it.

    check.py [--kubernetes-version 1.32] NAME=RENDERED.yaml ...

Every built-in object is validated offline against the Kubernetes JSON
schemas that kubernetes-validate ships, in strict mode (an unknown field
fails). Custom resources get a checker of their own (Strimzi's KafkaTopic);
one without a checker fails. Then what the schemas cannot see, held against
the repository itself:

- each service's Deployment: gRPC startup, liveness and readiness probes on
  its listen port (liveness on a service its proto declares), requests and
  limits, runAsNonRoot, a read-only root filesystem, no capabilities, a
  Dockerfile stage for its image;
- every Deployment: resources, a PodDisruptionBudget that selects it and
  lets a node drain, NetworkPolicies that admit on each port exactly the
  callers docker-compose.yml's settings name (the gateway: anyone;
  metrics: Prometheus);
- settings: every CLUSTERGENIE_* variable is one docker-compose.yml passes
  to that service (or a runtime setting listed in EXTRA), with the same
  value up to hostnames, which must be Services of the rendering; secrets
  only through secretKeyRef; no Secret object with data;
- KafkaTopics: exactly the topics of services/runtime/src/topic.rs and
  their `.dlq` topics, with partitions and replicas equal to what the
  services create a missing topic with.

Exits 1 if anything fails, printing each problem and a summary.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

try:
    import kubernetes_validate
    from kubernetes_validate import SchemaNotFoundError, ValidationError
except ImportError:  # pragma: no cover - validate.sh installs it
    sys.exit("check.py: kubernetes-validate is not installed (run deploy/k8s/validate.sh)")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
TOPICS_RS = ROOT / "services" / "runtime" / "src" / "topic.rs"
PROTO = ROOT / "proto" / "clustergenie"

SERVICES = ["provisioning", "diagnosis", "jobs", "monitoring", "scaler", "gateway"]
PUBLIC = "gateway"
PROMETHEUS_NAMESPACE = {"kubernetes.io/metadata.name": "monitoring"}
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}
SECRET_WORDS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY")

# Settings the manifests pass that docker-compose.yml does not: each must be
# a field of the struct named here (so the service reads it).
EXTRA = {
    "CLUSTERGENIE_KAFKA__PARTITIONS": ("services/runtime/src/kafka.rs", "partitions"),
    "CLUSTERGENIE_KAFKA__REPLICATION_FACTOR": ("services/runtime/src/kafka.rs", "replication_factor"),
}
# Settings docker-compose.yml passes that the manifests leave out, and why.
OMITTED = {
    "CLUSTERGENIE_TELEMETRY__OTLP_ENDPOINT": "no OTLP collector is assumed in the cluster",
    "CLUSTERGENIE_TRACE_UI_URL": "no trace viewer is assumed in the cluster",
}

# Strimzi's KafkaTopic, as its CRD describes spec.
STRIMZI_GROUP = "kafka.strimzi.io"
KAFKA_TOPIC_VERSIONS = {"kafka.strimzi.io/v1beta2", "kafka.strimzi.io/v1"}
KAFKA_TOPIC_SPEC = {"partitions", "replicas", "config", "topicName"}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
KAFKA_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
                  "StorageClass", "CustomResourceDefinition", "PersistentVolume"}


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


# ------------------------------------------------------------------ helpers

def ref(doc: dict) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def is_builtin(api_version: str) -> bool:
    group = api_version.split("/")[0] if "/" in api_version else ""
    return group == "" or "." not in group or group.endswith(".k8s.io")


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector against labels; an empty selector matches everything."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def cpu(q: str | int | float) -> float:
    s = str(q)
    return float(s[:-1]) / 1000 if s.endswith("m") else float(s)


_MEM = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def memory(q: str | int | float) -> float:
    s = str(q)
    for suffix, factor in _MEM.items():
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * factor
    return float(s)


def port_of(addr: str) -> int | None:
    m = re.search(r":(\d+)$", addr.strip())
    return int(m.group(1)) if m else None


# `${VAR...}` (compose) and `$(VAR)` (Kubernetes) references.
COMPOSE_REF = re.compile(r"\$\{[^}]*\}")
K8S_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:(?P<user>.*)@)?(?P<host>[^/?#@:]+)(?P<rest>.*)$")
HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+)(?P<rest>:\d+)$")


def authority(value: str) -> tuple[str, str, str] | None:
    """(scheme, userinfo, host[:port]) of `scheme://[userinfo@]host[:port]...`, or of `host:port`."""
    m = URL.match(value)
    if m:
        port = re.match(r":\d+", m.group("rest"))
        return m.group("scheme"), m.group("user") or "", m.group("host") + (port.group(0) if port else "")
    m = HOST_PORT.match(value)
    return ("", "", value) if m else None


def host_of(value: str) -> str | None:
    m = URL.match(value) or HOST_PORT.match(value)
    return m.group("host") if m else None


def shape(value: str) -> str:
    """The value with secrets and the host taken out, for comparing compose with k8s."""
    v = K8S_REF.sub("<ref>", COMPOSE_REF.sub("<ref>", value))
    m = URL.match(v)
    if m:
        user = f"{m.group('user')}@" if m.group("user") is not None else ""
        return f"{m.group('scheme')}://{user}<host>{m.group('rest')}"
    m = HOST_PORT.match(v)
    if m and m.group("host") not in ("0.0.0.0",):
        return f"<host>{m.group('rest')}"
    return v


def compose_default(value: str) -> str | None:
    """The value a pure `${VAR:-default}` interpolation has when VAR is unset."""
    m = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", value)
    return None if m is None else (m.group(1) or "")


# --------------------------------------------------------------- the repo

def compose_services() -> dict[str, dict[str, str]]:
    doc = yaml.safe_load(COMPOSE.read_text())
    out = {}
    for name, svc in doc["services"].items():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
        out[name] = {str(k): "" if v is None else str(v) for k, v in env.items()}
    return out


def compose_callers(compose: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    """Who calls whom: host named by a CLUSTERGENIE_* setting → services naming it."""
    callers: dict[str, set[str]] = defaultdict(set)
    for name, env in compose.items():
        for key, value in env.items():
            if not key.startswith("CLUSTERGENIE_"):
                continue
            for part in value.split(","):
                host = host_of(COMPOSE_REF.sub("x", part.strip()))
                if host and host not in ("0.0.0.0", "::") and host != name:
                    callers[host].add(name)
    return callers


def code_topics() -> list[str]:
    text = TOPICS_RS.read_text()
    return re.findall(r'pub const \w+: Topic<[^>]*> = Topic::new\("([^"]+)"\)', text)


def proto_services() -> set[str]:
    out = set()
    for path in PROTO.rglob("*.proto"):
        text = path.read_text()
        pkg = re.search(r"^package\s+([\w.]+);", text, re.M)
        if pkg:
            out |= {f"{pkg.group(1)}.{s}" for s in re.findall(r"^service\s+(\w+)", text, re.M)}
    return out


def dockerfile_stages() -> dict[str, set[int]]:
    """Stage name → ports it EXPOSEs (its own lines only)."""
    stages: dict[str, set[int]] = {}
    current = None
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if words and words[0].upper() == "FROM":
            upper = [w.upper() for w in words]
            current = words[upper.index("AS") + 1].lower() if "AS" in upper else None
            if current:
                stages[current] = set()
        elif words and words[0].upper() == "EXPOSE" and current:
            stages[current] |= {int(p.split("/")[0]) for p in words[1:] if p.split("/")[0].isdigit()}
    return stages


# --------------------------------------------------------------- checks

class Rendering:
    def __init__(self, name: str, docs: list[dict], k8s_version: str, problems: Problems) -> None:
        self.name, self.docs, self.version, self.p = name, docs, k8s_version, problems
        self.by_kind: dict[str, list[dict]] = defaultdict(list)
        for d in docs:
            self.by_kind[d["kind"]].append(d)
        self.validated_against: set[str] = set()
        self.builtin = 0
        self.custom = 0

    def where(self, doc: dict) -> str:
        return f"{self.name}: {ref(doc)}"

    def ns(self, doc: dict) -> str:
        return doc.get("metadata", {}).get("namespace", "")

    def get(self, kind: str, name: str, ns: str) -> dict | None:
        for d in self.by_kind.get(kind, []):
            if d["metadata"]["name"] == name and self.ns(d) == ns:
                return d
        return None

    # ---------------------------------------------------------- schemas
    def schemas(self) -> None:
        for doc in self.docs:
            api = doc.get("apiVersion", "")
            if is_builtin(api):
                self.builtin += 1
                try:
                    self.validated_against.add(kubernetes_validate.validate(doc, self.version, strict=True))
                except ValidationError as e:
                    path = ".".join(str(x) for x in e.path)
                    self.p.add(self.where(doc), f"schema ({e.version}, strict): {path}: {e.message}")
                except SchemaNotFoundError as e:
                    self.p.add(self.where(doc), f"no schema: {e.message}")
            elif doc.get("kind") == "KafkaTopic" and api.split("/")[0] == STRIMZI_GROUP:
                self.custom += 1  # checked by kafka_topics()
            else:
                self.p.add(self.where(doc), f"custom resource {api} {doc.get('kind')} has no checker")

    def namespaces(self) -> None:
        names = {self.ns(d) for d in self.docs if d["kind"] not in CLUSTER_SCOPED}
        if names == {""}:
            return  # the base: the overlay or `kubectl -n` decides
        if len(names) != 1:
            self.p.add(self.name, f"namespaced objects spread over {sorted(names)}; want one")
            return
        (ns,) = names
        if not self.get("Namespace", ns, ""):
            self.p.add(self.name, f"no Namespace object for {ns!r}")

    # ---------------------------------------------------------- env
    def container_env(self, doc: dict, c: dict) -> dict[str, dict]:
        """Name → {value | secret: (name, key, optional) | configmap: ...}."""
        ns, out = self.ns(doc), {}
        for src in c.get("envFrom") or []:
            cm = src.get("configMapRef")
            if cm:
                found = self.get("ConfigMap", cm["name"], ns)
                if not found:
                    if not cm.get("optional"):
                        self.p.add(self.where(doc), f"envFrom ConfigMap {cm['name']} is not in the rendering")
                    continue
                for k, v in (found.get("data") or {}).items():
                    out[src.get("prefix", "") + k] = {"value": str(v), "from": cm["name"]}
            if src.get("secretRef"):
                self.p.add(self.where(doc), "envFrom secretRef: name each secret key with secretKeyRef instead")
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            if "secretKeyRef" in vf:
                s = vf["secretKeyRef"]
                out[e["name"]] = {"secret": (s["name"], s["key"], bool(s.get("optional")))}
            elif "configMapKeyRef" in vf:
                r = vf["configMapKeyRef"]
                found = self.get("ConfigMap", r["name"], ns)
                value = (found or {}).get("data", {}).get(r["key"])
                if value is None and not r.get("optional"):
                    self.p.add(self.where(doc), f"{e['name']}: ConfigMap key {r['name']}/{r['key']} is not in the rendering")
                out[e["name"]] = {"value": "" if value is None else str(value)}
            elif vf:
                out[e["name"]] = {"field": vf}
            else:
                out[e["name"]] = {"value": str(e.get("value", ""))}
        return out

    def kafka_bootstrap_hosts(self) -> set[str]:
        clusters = {t["metadata"].get("labels", {}).get("strimzi.io/cluster")
                    for t in self.by_kind.get("KafkaTopic", [])}
        return {f"{c}-kafka-bootstrap" for c in clusters if c}

    def settings(self, compose: dict[str, dict[str, str]]) -> dict[str, dict[str, dict]]:
        """Checks each service's settings; returns name → env."""
        services = {d["metadata"]["name"]: d for d in self.by_kind.get("Service", [])}
        all_env = {}
        for name in SERVICES:
            dep = self.get("Deployment", name, self.ns_of_services())
            if not dep:
                continue
            c = dep["spec"]["template"]["spec"]["containers"][0]
            env = self.container_env(dep, c)
            all_env[name] = env
            where = self.where(dep)
            want = compose.get(name, {})
            ours = {k for k in env if k.startswith("CLUSTERGENIE_")}
            for key in sorted(ours - set(want)):
                if key in EXTRA:
                    path, field = EXTRA[key]
                    if not re.search(rf"\bpub {field}:", (ROOT / path).read_text()):
                        self.p.add(where, f"{key}: {path} has no field `{field}` any more")
                else:
                    self.p.add(where, f"{key} is not a setting docker-compose.yml passes to {name} "
                                      "(a misspelt or dead key is silently ignored)")
            for key in sorted(set(want) - ours):
                if key.startswith("CLUSTERGENIE_") and key not in OMITTED:
                    self.p.add(where, f"{key} is set for {name} in docker-compose.yml but not here")
            for key in sorted(ours & set(want)):
                self.setting(where, name, key, env[key], want[key], env, services)
        return all_env

    def ns_of_services(self) -> str:
        deps = self.by_kind.get("Deployment", [])
        return self.ns(deps[0]) if deps else ""

    def setting(self, where: str, name: str, key: str, ours: dict, theirs: str,
                env: dict, services: dict[str, dict]) -> None:
        secretish = any(w in key for w in SECRET_WORDS)
        if "secret" in ours:
            if not secretish and not COMPOSE_REF.search(theirs):
                self.p.add(where, f"{key} comes from a Secret, compose has a plain value")
            return
        value = ours.get("value")
        if value is None:
            self.p.add(where, f"{key}: unexpected source {ours}")
            return
        if secretish and value:
            self.p.add(where, f"{key} is a literal: take it from the Secret with secretKeyRef")
            return
        a = authority(value)
        if a and a[1] and ":" in a[1]:
            password = a[1].split(":", 1)[1]
            m = K8S_REF.fullmatch(password)
            if not m or "secret" not in env.get(m.group(1), {}):
                self.p.add(where, f"{key}: the URL's password must be $(VAR) of a secretKeyRef variable")
        default = compose_default(theirs)
        if default is not None:
            return  # compose leaves it to .env: any value (its default: {default!r})
        if shape(value) != shape(theirs):
            self.p.add(where, f"{key}={value!r} differs from docker-compose.yml's {theirs!r} "
                              "(beyond the hostname)")
            return
        host, theirs_host = host_of(value), host_of(COMPOSE_REF.sub("x", theirs))
        if not host or host in ("0.0.0.0", "::"):
            return
        if host in services:
            svc = services[host]
            port = port_of(authority(value)[2])
            ports = {p["port"] for p in svc["spec"].get("ports") or []}
            if port is not None and ports and port not in ports:
                self.p.add(where, f"{key}: Service {host} has no port {port} (has {sorted(ports)})")
            if theirs_host != host and theirs_host in services:
                self.p.add(where, f"{key} names {host}; compose names {theirs_host}, also a Service here")
        elif host not in self.kafka_bootstrap_hosts():
            self.p.add(where, f"{key} names host {host!r}, which is no Service of the rendering "
                              "(nor the Strimzi cluster's bootstrap)")

    def configmaps(self) -> None:
        for cm in self.by_kind.get("ConfigMap", []):
            for k, v in (cm.get("data") or {}).items():
                a = authority(str(v))
                if a and ":" in a[1]:
                    self.p.add(self.where(cm), f"{k} holds a URL with a password")
                if any(w in k.upper() for w in SECRET_WORDS) and v:
                    self.p.add(self.where(cm), f"{k} looks like a secret")

    def secrets(self) -> set[tuple[str, str, bool]]:
        for s in self.by_kind.get("Secret", []):
            if s.get("data") or s.get("stringData"):
                self.p.add(self.where(s), "carries data: secrets are created by hand, never committed")
        refs = set()
        for dep in self.by_kind.get("Deployment", []):
            for c in dep["spec"]["template"]["spec"]["containers"]:
                for e in c.get("env") or []:
                    s = (e.get("valueFrom") or {}).get("secretKeyRef")
                    if s:
                        refs.add((s["name"], s["key"], bool(s.get("optional"))))
        return refs

    # ---------------------------------------------------------- workloads
    def deployments(self, proto: set[str], stages: dict[str, set[int]], env: dict) -> None:
        found = {d["metadata"]["name"] for d in self.by_kind.get("Deployment", [])}
        for name in SERVICES:
            if name not in found:
                self.p.add(self.name, f"no Deployment for service {name}")
        for dep in self.by_kind.get("Deployment", []):
            where, spec = self.where(dep), dep["spec"]["template"]["spec"]
            pod_sc = spec.get("securityContext") or {}
            for c in (spec.get("initContainers") or []) + spec["containers"]:
                res = c.get("resources") or {}
                for part in ("requests", "limits"):
                    for r in ("cpu", "memory"):
                        if r not in (res.get(part) or {}):
                            self.p.add(where, f"container {c['name']}: no {part}.{r}")
                try:
                    if cpu(res["requests"]["cpu"]) > cpu(res["limits"]["cpu"]) or \
                            memory(res["requests"]["memory"]) > memory(res["limits"]["memory"]):
                        self.p.add(where, f"container {c['name']}: requests above limits")
                except (KeyError, TypeError, ValueError):
                    pass
                sc = c.get("securityContext") or {}
                if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
                    self.p.add(where, f"container {c['name']}: runAsNonRoot is not set")
                if sc.get("readOnlyRootFilesystem") is not True:
                    self.p.add(where, f"container {c['name']}: root filesystem is writable")
                if sc.get("allowPrivilegeEscalation") is not False:
                    self.p.add(where, f"container {c['name']}: allowPrivilegeEscalation is not false")
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    self.p.add(where, f"container {c['name']}: capabilities do not drop ALL")
            if self.ns(dep):
                for c in spec["containers"]:
                    if c["image"].endswith(":latest") or ":" not in c["image"].rsplit("/", 1)[-1]:
                        self.p.add(where, f"container {c['name']}: an overlay pins an image tag, has {c['image']}")
            name = dep["metadata"]["name"]
            if name in SERVICES:
                self.service_deployment(dep, proto, stages, env.get(name, {}))

    def service_deployment(self, dep: dict, proto: set[str], stages: dict[str, set[int]], env: dict) -> None:
        where, name = self.where(dep), dep["metadata"]["name"]
        c = next((c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == name), None)
        if c is None:
            self.p.add(where, f"no container named {name}")
            return
        listen = port_of(env.get("CLUSTERGENIE_LISTEN_ADDR", {}).get("value", ""))
        if listen is None:
            self.p.add(where, "no CLUSTERGENIE_LISTEN_ADDR")
            return
        if listen not in {p["containerPort"] for p in c.get("ports") or []}:
            self.p.add(where, f"listen port {listen} is not a container port")
        metrics = port_of(env.get("CLUSTERGENIE_METRICS_ADDR", {}).get("value", ""))
        if metrics is None or not any(p.get("name") == "metrics" and p["containerPort"] == metrics
                                      for p in c.get("ports") or []):
            self.p.add(where, "CLUSTERGENIE_METRICS_ADDR's port is not the container port named `metrics`")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            g = (c.get(probe) or {}).get("grpc")
            if not g:
                self.p.add(where, f"{probe} is not a gRPC health probe")
                continue
            if g.get("port") != listen:
                self.p.add(where, f"{probe} asks port {g.get('port')}, the service listens on {listen}")
            service = g.get("service", "")
            if probe == "readinessProbe" and service:
                self.p.add(where, f"readinessProbe asks for {service!r}; readiness is the overall status ('')")
            if service and service not in proto:
                self.p.add(where, f"{probe} asks for {service!r}, which no proto declares")
            if service and not service.startswith(f"clustergenie.{name}.v1."):
                self.p.add(where, f"{probe} asks for {service!r}, not one of {name}'s services")
        repo = c["image"].rsplit(":", 1)[0] if ":" in c["image"].rsplit("/", 1)[-1] else c["image"]
        stage = repo.rsplit("/", 1)[-1]
        if stage != name:
            self.p.add(where, f"image {c['image']} is not {name}'s")
        elif stage not in stages:
            self.p.add(where, f"deploy/Dockerfile has no stage {stage}")
        elif listen not in stages[stage]:
            self.p.add(where, f"deploy/Dockerfile's {stage} stage does not EXPOSE {listen}")

    def pdbs(self) -> None:
        for dep in self.by_kind.get("Deployment", []):
            labels = dep["spec"]["template"]["metadata"].get("labels") or {}
            pdbs = [p for p in self.by_kind.get("PodDisruptionBudget", [])
                    if self.ns(p) == self.ns(dep) and selector_matches(p["spec"].get("selector"), labels)]
            if not pdbs:
                self.p.add(self.where(dep), "no PodDisruptionBudget selects it")
            replicas = dep["spec"].get("replicas", 1)
            for p in pdbs:
                spec = p["spec"]
                if spec.get("maxUnavailable") in (0, "0%") or (
                        isinstance(spec.get("minAvailable"), int) and spec["minAvailable"] >= replicas
                        and not self.hpa_for(dep)) or spec.get("minAvailable") == "100%":
                    self.p.add(self.where(p), f"lets no pod of {ref(dep)} be evicted: nodes cannot drain")

    def hpa_for(self, dep: dict) -> dict | None:
        for h in self.by_kind.get("HorizontalPodAutoscaler", []):
            t = h["spec"]["scaleTargetRef"]
            if t["kind"] == "Deployment" and t["name"] == dep["metadata"]["name"] and self.ns(h) == self.ns(dep):
                return h
        return None

    def hpas(self) -> None:
        public = self.get("Deployment", PUBLIC, self.ns_of_services())
        if public and not self.hpa_for(public):
            self.p.add(self.name, f"no HorizontalPodAutoscaler scales the {PUBLIC}")
        for h in self.by_kind.get("HorizontalPodAutoscaler", []):
            t, spec = h["spec"]["scaleTargetRef"], h["spec"]
            dep = self.get(t["kind"], t["name"], self.ns(h))
            if not dep:
                self.p.add(self.where(h), f"targets {t['kind']}/{t['name']}, which is not in the rendering")
                continue
            if "replicas" in dep["spec"]:
                self.p.add(self.where(dep), "sets spec.replicas while an HPA owns it (each apply would reset it)")
            if spec.get("minReplicas", 1) > spec["maxReplicas"]:
                self.p.add(self.where(h), "minReplicas above maxReplicas")
            for m in spec.get("metrics") or []:
                r = (m.get("resource") or {})
                if m.get("type") == "Resource" and r.get("target", {}).get("type") == "Utilization":
                    for c in dep["spec"]["template"]["spec"]["containers"]:
                        if r["name"] not in ((c.get("resources") or {}).get("requests") or {}):
                            self.p.add(self.where(h), f"{r['name']} utilization needs {c['name']}'s {r['name']} request")

    def services(self) -> None:
        for s in self.by_kind.get("Service", []):
            spec, where = s["spec"], self.where(s)
            if spec.get("type") == "ExternalName":
                if not spec.get("externalName"):
                    self.p.add(where, "ExternalName without externalName")
                continue
            if not spec.get("selector"):
                slices = [e for e in self.by_kind.get("EndpointSlice", [])
                          if (e["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == s["metadata"]["name"]]
                if not slices:
                    self.p.add(where, "no selector and no EndpointSlice")
                continue
            deps = [d for d in self.by_kind.get("Deployment", []) if self.ns(d) == self.ns(s)
                    and selector_matches({"matchLabels": spec["selector"]}, d["spec"]["template"]["metadata"].get("labels") or {})]
            if not deps:
                self.p.add(where, "selects no Deployment's pods")
            for port in spec.get("ports") or []:
                target = port.get("targetPort", port["port"])
                for d in deps:
                    cports = [p for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports") or []]
                    if not any(p.get("name") == target or p["containerPort"] == target for p in cports):
                        self.p.add(where, f"port {port.get('name')}: targetPort {target} is no port of {ref(d)}")

    # ---------------------------------------------------------- network
    def network_policies(self, callers: dict[str, set[str]]) -> None:
        policies = self.by_kind.get("NetworkPolicy", [])
        deps = self.by_kind.get("Deployment", [])

        def labels(d: dict) -> dict:
            return d["spec"]["template"]["metadata"].get("labels") or {}

        for dep in deps:
            where, name, ns = self.where(dep), dep["metadata"]["name"], self.ns(dep)
            mine = [p for p in policies if self.ns(p) == ns
                    and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])
                    and selector_matches(p["spec"].get("podSelector"), labels(dep))]
            if not mine:
                self.p.add(where, "no NetworkPolicy selects its pods: anyone may connect")
                continue
            for c in dep["spec"]["template"]["spec"]["containers"]:
                for cp in c.get("ports") or []:
                    anyone, peers, outside = False, set(), []
                    for p in mine:
                        for rule in p["spec"].get("ingress") or []:
                            ports = rule.get("ports")
                            if ports and not any(x.get("port") in (cp.get("name"), cp["containerPort"]) for x in ports):
                                continue
                            if not rule.get("from"):
                                anyone = True
                                continue
                            for peer in rule["from"]:
                                if "ipBlock" in peer or "namespaceSelector" in peer:
                                    outside.append(peer)
                                else:
                                    peers |= {d["metadata"]["name"] for d in deps
                                              if self.ns(d) == ns and selector_matches(peer.get("podSelector"), labels(d))}
                    what = f"port {cp.get('name') or cp['containerPort']}"
                    if cp.get("name") == "metrics":
                        prom = any(selector_matches(x.get("namespaceSelector"), PROMETHEUS_NAMESPACE)
                                   and "podSelector" not in x
                                   or "podSelector" in x and selector_matches(x["podSelector"], PROMETHEUS_POD)
                                   for x in outside)
                        if not prom:
                            self.p.add(where, f"{what}: Prometheus may not scrape it")
                        if anyone or peers:
                            self.p.add(where, f"{what}: open beyond Prometheus")
                        continue
                    if name == PUBLIC:
                        if not anyone:
                            self.p.add(where, f"{what}: the public endpoint must accept anyone")
                        continue
                    if anyone or outside:
                        self.p.add(where, f"{what}: open to {'anyone' if anyone else 'other namespaces'}; "
                                          f"only its callers may connect")
                    expected = callers.get(name, set())
                    if peers != expected:
                        self.p.add(where, f"{what}: admits {sorted(peers) or 'nobody'}, but docker-compose.yml's "
                                          f"settings make {sorted(expected) or 'nobody'} call it")

    # ---------------------------------------------------------- Kafka
    def kafka_topics(self, topics: list[str], env: dict) -> None:
        docs = self.by_kind.get("KafkaTopic", [])
        want = set(topics) | {f"{t}.dlq" for t in topics}
        names: dict[str, dict] = {}
        clusters = set()
        common = env.get(SERVICES[0], {})

        def setting(key: str) -> int | None:
            v = common.get(key, {}).get("value")
            return int(v) if v and v.isdigit() else None

        partitions = setting("CLUSTERGENIE_KAFKA__PARTITIONS") or 6
        replicas = setting("CLUSTERGENIE_KAFKA__REPLICATION_FACTOR") or 1
        for t in docs:
            where, meta, spec = self.where(t), t["metadata"], t.get("spec") or {}
            if t["apiVersion"] not in KAFKA_TOPIC_VERSIONS:
                self.p.add(where, f"apiVersion {t['apiVersion']}, want one of {sorted(KAFKA_TOPIC_VERSIONS)}")
            cluster = (meta.get("labels") or {}).get("strimzi.io/cluster")
            if not cluster:
                self.p.add(where, "no strimzi.io/cluster label: no topic operator will take it")
            clusters.add(cluster)
            if not DNS_SUBDOMAIN.match(meta["name"]) or len(meta["name"]) > 253:
                self.p.add(where, "metadata.name is not a valid resource name")
            topic = spec.get("topicName", meta["name"])
            if not KAFKA_TOPIC_NAME.match(str(topic)) or topic in (".", ".."):
                self.p.add(where, f"{topic!r} is not a valid Kafka topic name")
            if topic in names:
                self.p.add(where, f"topic {topic} is declared twice")
            names[topic] = t
            for k in sorted(set(spec) - KAFKA_TOPIC_SPEC):
                self.p.add(where, f"spec.{k} is not a KafkaTopic field")
            for field, lo, hi in (("partitions", 1, 1_000_000), ("replicas", 1, 32767)):
                v = spec.get(field)
                if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                    self.p.add(where, f"spec.{field} must be an integer from {lo}, has {v!r}")
            config = spec.get("config") or {}
            if not isinstance(config, dict):
                self.p.add(where, "spec.config must be a mapping")
                config = {}
            for k, v in config.items():
                if not isinstance(v, (str, int, float, bool)):
                    self.p.add(where, f"spec.config.{k} must be a scalar")
            isr = config.get("min.insync.replicas")
            if isinstance(isr, int) and isinstance(spec.get("replicas"), int) and isr > spec["replicas"]:
                self.p.add(where, f"min.insync.replicas {isr} > replicas {spec['replicas']}: no write would succeed")
            if spec.get("partitions") != partitions:
                self.p.add(where, f"{spec.get('partitions')} partitions; the services create {partitions} "
                                  "(CLUSTERGENIE_KAFKA__PARTITIONS)")
            if spec.get("replicas") != replicas:
                self.p.add(where, f"{spec.get('replicas')} replicas; the services create {replicas} "
                                  "(CLUSTERGENIE_KAFKA__REPLICATION_FACTOR)")
            if self.ns(t) != self.ns_of_services():
                self.p.add(where, "not in the services' namespace")
        for missing in sorted(want - set(names)):
            self.p.add(self.name, f"no KafkaTopic for {missing} (services/runtime/src/topic.rs)")
        for extra in sorted(set(names) - want):
            self.p.add(self.where(names[extra]), "no such topic in services/runtime/src/topic.rs")
        if len(clusters) > 1:
            self.p.add(self.name, f"KafkaTopics name several clusters: {sorted(map(str, clusters))}")
        brokers = common.get("CLUSTERGENIE_KAFKA__BROKERS", {}).get("value", "")
        for b in filter(None, brokers.split(",")):
            if host_of(b) not in self.kafka_bootstrap_hosts() and host_of(b) not in \
                    {s["metadata"]["name"] for s in self.by_kind.get("Service", [])}:
                self.p.add(self.name, f"CLUSTERGENIE_KAFKA__BROKERS names {b}, not the bootstrap of "
                                      f"the KafkaTopics' cluster ({sorted(self.kafka_bootstrap_hosts())})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubernetes-version", default="1.32")
    ap.add_argument("renderings", nargs="+", metavar="NAME=FILE")
    args = ap.parse_args()

    compose = compose_services()
    callers = compose_callers(compose)
    topics, proto, stages = code_topics(), proto_services(), dockerfile_stages()
    if not topics:
        print(f"check.py: found no topics in {TOPICS_RS}", file=sys.stderr)
        return 2
    p = Problems()
    lines = []
    for arg in args.renderings:
        name, _, path = arg.partition("=")
        docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
        r = Rendering(name, docs, args.kubernetes_version, p)
        before = len(p.items)
        r.schemas()
        r.namespaces()
        env = r.settings(compose)
        r.configmaps()
        refs = r.secrets()
        r.deployments(proto, stages, env)
        r.pdbs()
        r.hpas()
        r.services()
        r.network_policies(callers)
        r.kafka_topics(topics, env)
        kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(r.by_kind.items()))
        versions = ", ".join(sorted(r.validated_against)) or "-"
        secrets = "; ".join(f"{n}/{k}{' (optional)' if o else ''}" for n, k, o in sorted(refs))
        lines.append(f"{name}: {len(docs)} objects ({kinds})\n"
                     f"  {r.builtin} built-in objects against Kubernetes {versions} schemas (strict), "
                     f"{r.custom} KafkaTopics by the Strimzi checker; "
                     f"{len(p.items) - before} problem(s)\n"
                     f"  Secret keys referenced (create them by hand): {secrets or 'none'}")
    for item in p.items:
        print(f"FAIL {item}")
    print("\n".join(lines))
    print(f"k8s-validate: {'OK' if not p.items else f'{len(p.items)} problem(s)'}")
    return 1 if p.items else 0


if __name__ == "__main__":
    sys.exit(main())
