"""Settings and helpers shared by the DigitalOcean-client suite.

The suite drives the real DigitalOcean clients (pydo, python-digitalocean)
and plain `requests` against the gateway's `/v2/...` surface. Everything it
needs comes from the environment (see README.md); a missing variable stops
the run before any test starts.

Helpers live here as plain functions; test modules import them with
`from conftest import ...`.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, NamedTuple, TypeVar

import pytest
import requests
from azure.core.pipeline.policies import HeadersPolicy
from pydo import Client

# Lets the test modules `from conftest import ...` under any import mode.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

REQUIRED_ENV = {
    "CG_DO_URL": "the gateway root, e.g. http://127.0.0.1:8080 (REST is at $CG_DO_URL/v2/...)",
    "CG_DO_TOKEN": "an operator token (reads and writes)",
    "CG_DO_VIEWER_TOKEN": "a viewer token (reads only), used for the 403 and forced-429 checks",
    "CG_DO_REGION": "a region slug, e.g. nyc1",
    "CG_DO_SIZE": "a small size slug to create droplets with",
    "CG_DO_BIG_SIZE": "a bigger size slug to resize to",
    "CG_DO_IMAGE": "an image slug, e.g. ubuntu-24-04-x64",
}

# Actions take about a second in the test mesh; creates a few seconds.
POLL_INTERVAL = 0.25
WAIT_TIMEOUT = 30.0

RATELIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
PENDING_EVENT = "Droplet already has a pending event."


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    viewer_token: str
    region: str
    size: str
    big_size: str
    image: str

    @property
    def api(self) -> str:
        """The REST root, e.g. http://127.0.0.1:8080/v2."""
        return f"{self.url}/v2"


def read_settings() -> Settings:
    missing = [f"  {name}: {what}" for name, what in REQUIRED_ENV.items() if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            "the DigitalOcean-client suite needs these environment variables (see README.md):\n"
            + "\n".join(missing)
        )
    env = os.environ
    return Settings(
        url=env["CG_DO_URL"].rstrip("/"),
        token=env["CG_DO_TOKEN"],
        viewer_token=env["CG_DO_VIEWER_TOKEN"],
        region=env["CG_DO_REGION"],
        size=env["CG_DO_SIZE"],
        big_size=env["CG_DO_BIG_SIZE"],
        image=env["CG_DO_IMAGE"],
    )


def pytest_configure(config: pytest.Config) -> None:
    s = read_settings()
    # python-digitalocean re-reads this in every object it builds, including
    # the ones it builds internally (Action, Account, ...). The trailing "/v2/"
    # matters: urljoin drops a last path segment without a slash.
    os.environ["DIGITALOCEAN_END_POINT"] = f"{s.api}/"
    # Never let an ambient real token reach the suite's clients.
    os.environ.pop("DIGITALOCEAN_ACCESS_TOKEN", None)
    # A hung request fails its test instead of the whole run.
    os.environ.setdefault("PYTHON_DIGITALOCEAN_REQUEST_TIMEOUT_SEC", "30")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return read_settings()


# ---------------------------------------------------------------- naming


def unique(prefix: str) -> str:
    """A name no other test (or run) on the shared mesh will use."""
    return f"{prefix}-{secrets.token_hex(4)}"


def unique_cluster_tag() -> str:
    """A `cluster:<name>` tag: the droplet lands in a ClusterGenie cluster of its own."""
    return f"cluster:{unique('e2e')}"


# ---------------------------------------------------------------- polling

T = TypeVar("T")


def poll(what: str, fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = WAIT_TIMEOUT) -> T:
    """Calls fetch() until done(value); fails naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {value!r}")
        time.sleep(POLL_INTERVAL)


# ---------------------------------------------------------------- pydo


def make_pydo(settings: Settings, token: str | None = None) -> Client:
    """A pydo client for the gateway over plain http.

    azure-core's bearer policy refuses non-https URLs, so the token goes in
    through a HeadersPolicy instead. retry_total=0: a 429 or 5xx must surface,
    not be retried away.
    """
    token = settings.token if token is None else token
    return Client(
        token,
        endpoint=settings.url,
        authentication_policy=HeadersPolicy({"Authorization": f"Bearer {token}"}),
        retry_total=0,
    )


class Reply(NamedTuple):
    """What a pydo call returned, with the status and headers pydo hides."""

    status: int
    body: Any
    headers: Mapping[str, str]


def reply(pipeline_response: Any, body: Any, _headers: Any) -> Reply:
    """Pass as `cls=reply` to any pydo operation to get a Reply back."""
    http = pipeline_response.http_response
    return Reply(http.status_code, body, http.headers)


def get_droplet(client: Client, droplet_id: int) -> dict:
    body = client.droplets.get(droplet_id)
    assert "droplet" in body, f"GET /v2/droplets/{droplet_id} answered {body!r}"
    return body["droplet"]


def wait_droplet(client: Client, droplet_id: int, what: str, done: Callable[[dict], bool]) -> dict:
    return poll(f"droplet {droplet_id} {what}", lambda: get_droplet(client, droplet_id), done)


def wait_active(client: Client, droplet_id: int) -> dict:
    return wait_droplet(
        client, droplet_id, "to be active and unlocked", lambda d: d["status"] == "active" and not d["locked"]
    )


def wait_action(client: Client, action_id: int) -> dict:
    """Polls GET /v2/actions/{id} until the action leaves in-progress; it must end completed."""

    def fetch() -> dict:
        body = client.actions.get(action_id)
        assert "action" in body, f"GET /v2/actions/{action_id} answered {body!r}"
        return body["action"]

    action = poll(f"action {action_id} to finish", fetch, lambda a: a["status"] != "in-progress")
    assert action["status"] == "completed", f"action {action_id} ended {action['status']!r}: {action}"
    assert action["completed_at"], f"completed action {action_id} has no completed_at: {action}"
    return action


def list_all(list_op: Callable[..., dict], key: str, **filters: Any) -> list[dict]:
    """Every item of a pydo list operation, page by page (per_page=200)."""
    items: list[dict] = []
    for page in range(1, 51):
        body = list_op(per_page=200, page=page, **filters)
        assert_list_envelope(body, key, f"{key} page {page}")
        items += body[key]
        if not body["links"]["pages"].get("next"):
            return items
    pytest.fail(f"{key}: still a next page after 50 pages of 200")


def list_droplets(client: Client, tag: str) -> list[dict]:
    return list_all(client.droplets.list, "droplets", tag_name=tag)


# ---------------------------------------------------------------- requests


def http_session(token: str) -> requests.Session:
    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return s


def destroy_quietly(settings: Settings, droplet_ids: Iterable[int]) -> None:
    """Teardown: deletes droplets, best effort, so a failed test leaves nothing
    behind on the shared mesh. A droplet still being created or busy with an
    action answers 422; that is retried for a while. Never raises: a failure
    here must not hide the test's own."""
    with http_session(settings.token) as s:
        for droplet_id in droplet_ids:
            deadline = time.monotonic() + WAIT_TIMEOUT
            while True:
                try:
                    resp = s.delete(f"{settings.api}/droplets/{droplet_id}", timeout=10)
                except requests.RequestException:
                    break
                if resp.status_code != 422 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)


# ---------------------------------------------------------------- shapes


def is_id(value: Any) -> bool:
    """Droplet, action and image ids are JSON integers >= 1 (godo decodes into int)."""
    return type(value) is int and value >= 1


def assert_ratelimit_headers(headers: Mapping[str, str], where: str) -> None:
    """ratelimit-* on every response, as integer strings; reset is Unix epoch seconds."""
    for name in RATELIMIT_HEADERS:
        value = headers.get(name)
        assert value is not None, f"{where}: no {name} header; got {dict(headers)}"
        assert re.fullmatch(r"\d+", value), f"{where}: {name} is {value!r}, not an integer string"
    limit, remaining, reset = (int(headers[n]) for n in RATELIMIT_HEADERS)
    assert remaining <= limit, f"{where}: ratelimit-remaining {remaining} > ratelimit-limit {limit}"
    now = time.time()
    assert now - 120 <= reset <= now + 86_400, (
        f"{where}: ratelimit-reset {reset} is not Unix epoch seconds near now ({now:.0f})"
    )


def assert_error_body(body: Any, where: str, error_id: str | None = None) -> None:
    """DO error bodies: {"id", "message", "request_id"}, all non-empty strings."""
    assert isinstance(body, dict), f"{where}: error body is {body!r}, not a JSON object"
    for key in ("id", "message", "request_id"):
        assert isinstance(body.get(key), str) and body[key], f"{where}: error body lacks a {key!r}: {body}"
    if error_id is not None:
        assert body["id"] == error_id, f"{where}: error id is {body['id']!r}, expected {error_id!r}: {body}"


def assert_list_envelope(body: Any, key: str, where: str) -> None:
    assert isinstance(body, dict) and isinstance(body.get(key), list), f"{where}: no {key!r} list in {body!r}"
    pages = body.get("links", {}).get("pages")
    assert isinstance(pages, dict), f"{where}: no links.pages object in {body.get('links')!r}"
    total = body.get("meta", {}).get("total")
    assert type(total) is int and total >= len(body[key]), f"{where}: meta.total is {total!r}"


def assert_droplet_shape(d: Any, where: str) -> None:
    """Every field DO's clients dereference, with the types godo enforces."""
    assert isinstance(d, dict), f"{where}: droplet is {d!r}"
    assert is_id(d.get("id")), f"{where}: droplet id {d.get('id')!r} is not an integer >= 1"
    for key in ("memory", "vcpus", "disk"):
        assert type(d.get(key)) is int, f"{where}: droplet {key} is {d.get(key)!r}, not an int"
    assert type(d.get("locked")) is bool, f"{where}: locked is {d.get('locked')!r}"
    assert d.get("status") in ("new", "active", "off", "archive"), f"{where}: status is {d.get('status')!r}"
    assert isinstance(d.get("name"), str) and isinstance(d.get("created_at"), str), f"{where}: {d}"
    for key in ("features", "backup_ids", "snapshot_ids", "volume_ids", "tags"):
        assert isinstance(d.get(key), list), f"{where}: {key} is {d.get(key)!r}, not a list"
    assert all(is_id(i) for i in d["snapshot_ids"] + d["backup_ids"]), f"{where}: non-int image ids: {d}"
    assert all(isinstance(v, str) for v in d["volume_ids"]), f"{where}: volume_ids must be strings: {d}"
    for key in ("image", "size", "region"):
        assert isinstance(d.get(key), dict), f"{where}: {key} is {d.get(key)!r}, not an object"
    assert is_id(d["image"].get("id")), f"{where}: image id {d['image'].get('id')!r}"
    assert isinstance(d["size"].get("slug"), str) and d["size"]["slug"] == d.get("size_slug"), (
        f"{where}: size.slug {d['size'].get('slug')!r} vs size_slug {d.get('size_slug')!r}"
    )
    assert isinstance(d["region"].get("slug"), str), f"{where}: region has no slug: {d['region']}"
    networks = d.get("networks")
    assert isinstance(networks, dict) and isinstance(networks.get("v4"), list) and isinstance(
        networks.get("v6"), list
    ), f"{where}: networks is {networks!r}, needs v4 and v6 lists"


def assert_action_shape(a: Any, where: str) -> None:
    assert isinstance(a, dict), f"{where}: action is {a!r}"
    assert is_id(a.get("id")), f"{where}: action id {a.get('id')!r} is not an integer >= 1"
    assert a.get("status") in ("in-progress", "completed", "errored"), f"{where}: status {a.get('status')!r}"
    assert isinstance(a.get("type"), str) and a["type"], f"{where}: type {a.get('type')!r}"
    assert isinstance(a.get("started_at"), str), f"{where}: started_at {a.get('started_at')!r}"
    assert "completed_at" in a, f"{where}: no completed_at key: {a}"
    assert is_id(a.get("resource_id")), f"{where}: resource_id {a.get('resource_id')!r}"
    assert a.get("resource_type") == "droplet", f"{where}: resource_type {a.get('resource_type')!r}"
    assert isinstance(a.get("region_slug"), str), f"{where}: region_slug {a.get('region_slug')!r}"
    if "region" in a:
        assert isinstance(a["region"], dict) and "slug" in a["region"], (
            f"{where}: action region must be an object (godo *Region), got {a['region']!r}"
        )


def public_and_private_ipv4(d: dict) -> dict[str, str]:
    """{"public": ip, "private": ip} from networks.v4 (whichever are present)."""
    return {n["type"]: n["ip_address"] for n in d["networks"]["v4"] if n.get("ip_address")}
