"""Bad and odd input through plain `requests`: every answer is a 4xx with a DO
error body and the ratelimit headers, never a 5xx; the lenient forms real
clients send are accepted.

Also here: the viewer token's 403 on writes and the forced 429 (the only
tests that use CG_DO_VIEWER_TOKEN; the 429 one runs last).
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from conftest import (
    PENDING_EVENT,
    Settings,
    assert_droplet_shape,
    assert_error_body,
    assert_ratelimit_headers,
    destroy_quietly,
    http_session,
    is_id,
    poll,
    unique,
    unique_cluster_tag,
)

TWO_MIB = 2 * 1024 * 1024
OMIT = object()  # create_body(settings, name=OMIT) leaves the field out

# Every POST route, with the droplet fixture's id where a path needs one.
POST_ROUTES = [
    "/droplets",
    "/droplets/{id}/actions",
    "/droplets/actions?tag_name={tag}",
    "/tags",
    "/tags/{tag}/resources",
]
LIST_ROUTES = [
    "/droplets",
    "/droplets/{id}/actions",
    "/actions",
    "/sizes",
    "/regions",
    "/images",
    "/tags",
]


def route(path: str, droplet: dict) -> str:
    return path.format(id=droplet["id"], tag=unique("nobody"))


@pytest.fixture(scope="module")
def http(settings: Settings):
    with http_session(settings.token) as s:
        yield s


@pytest.fixture(scope="module")
def created(settings: Settings):
    """Ids of droplets this module made (on purpose or by a wrongly accepted
    bad body); all deleted at the end."""
    ids: list[int] = []
    yield ids
    destroy_quietly(settings, ids)


def create_body(settings: Settings, **overrides) -> dict:
    body = {
        "name": unique("bad"),
        "region": settings.region,
        "size": settings.size,
        "image": settings.image,
        "tags": [unique_cluster_tag()],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not OMIT}


def post_droplets(http, settings: Settings, created: list[int], **kwargs) -> requests.Response:
    """POST /v2/droplets; remembers any droplet a 2xx made so it gets deleted."""
    resp = http.post(f"{settings.api}/droplets", timeout=30, **kwargs)
    if resp.ok:
        body = resp.json()
        created += [d["id"] for d in body.get("droplets", [body.get("droplet", {})]) if "id" in d]
    return resp


def get_droplet(http, settings: Settings, droplet_id: int) -> dict:
    resp = http.get(f"{settings.api}/droplets/{droplet_id}", timeout=30)
    assert resp.status_code == 200, f"GET droplet {droplet_id}: {resp.status_code} {resp.text}"
    return resp.json()["droplet"]


def wait_action(http, settings: Settings, action_id: int) -> dict:
    def fetch() -> dict:
        resp = http.get(f"{settings.api}/actions/{action_id}", timeout=30)
        assert resp.status_code == 200, f"GET action {action_id}: {resp.status_code} {resp.text}"
        return resp.json()["action"]

    action = poll(f"action {action_id} to finish", fetch, lambda a: a["status"] != "in-progress")
    assert action["status"] == "completed", f"action {action_id} ended {action['status']!r}: {action}"
    assert action["completed_at"], f"completed action {action_id} has no completed_at: {action}"
    return action


def assert_closes(resp: requests.Response, where: str):
    """The rest of the body was never read, so the connection ends after the
    answer: the server must say so, or a client would send its next request
    down a connection that is closing."""
    assert resp.headers.get("Connection", "").lower() == "close", (
        f"{where}: a 413 with the body unread must say Connection: close, got {dict(resp.headers)}"
    )


def assert_rejected(resp: requests.Response, statuses: int | tuple[int, ...], where: str, error_id: str | None = None):
    """A 4xx in `statuses`, a DO error body, the ratelimit headers, no Retry-After."""
    statuses = statuses if isinstance(statuses, tuple) else (statuses,)
    assert resp.status_code < 500, f"{where}: server error {resp.status_code}: {resp.text[:500]}"
    assert resp.status_code in statuses, f"{where}: status {resp.status_code}, expected {statuses}: {resp.text[:500]}"
    assert resp.headers.get("content-type", "").startswith("application/json"), (
        f"{where}: content-type {resp.headers.get('content-type')!r}"
    )
    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"{where}: error body is not JSON: {resp.text[:500]!r}")
    assert_error_body(body, where, error_id)
    assert_ratelimit_headers(resp.headers, where)
    assert "retry-after" not in resp.headers, f"{where}: Retry-After on a {resp.status_code}"
    return body


@pytest.fixture(scope="module")
def droplet(http, settings: Settings, created: list[int]) -> dict:
    """One ordinary droplet, active and idle, for the action checks."""
    resp = post_droplets(http, settings, created, json=create_body(settings))
    assert resp.status_code == 202, f"create: {resp.status_code} {resp.text}"
    body = resp.json()
    wait_action(http, settings, body["links"]["actions"][0]["id"])
    return poll(
        "the fixture droplet to be active",
        lambda: get_droplet(http, settings, body["droplet"]["id"]),
        lambda d: d["status"] == "active" and not d["locked"],
    )


# ---------------------------------------------------------------- create bodies


def test_a_malformed_json_body_is_a_400(http, settings: Settings, created):
    resp = post_droplets(http, settings, created, data=b'{"name": "half-a-body", "region": ')
    assert_rejected(resp, 400, "malformed JSON")


@pytest.mark.parametrize("field,value", [("name", 5), ("size", True)])
def test_a_field_of_the_wrong_type_is_a_422_or_400(http, settings: Settings, created, field, value):
    resp = post_droplets(http, settings, created, json=create_body(settings, **{field: value}))
    assert_rejected(resp, (400, 422), f"{field}={value!r}")


@pytest.mark.parametrize("field", ["size", "region", "image"])
def test_an_unknown_slug_is_a_422(http, settings: Settings, created, field):
    resp = post_droplets(http, settings, created, json=create_body(settings, **{field: unique("no-such")}))
    assert_rejected(resp, 422, f"unknown {field}", "unprocessable_entity")


def test_a_create_without_a_name_is_a_422(http, settings: Settings, created):
    resp = post_droplets(http, settings, created, json=create_body(settings, name=OMIT))
    assert_rejected(resp, 422, "no name", "unprocessable_entity")


def test_a_two_mib_body_is_a_413(http, settings: Settings, created):
    body = json.dumps(create_body(settings, user_data="x" * TWO_MIB)).encode()
    try:
        resp = post_droplets(http, settings, created, data=body)
    except requests.ConnectionError as e:
        pytest.fail(
            f"2 MiB body: the connection broke before a readable 413 ({e}); the server must "
            "answer 413 without resetting the connection (read or drain the body first)"
        )
    assert_rejected(resp, 413, "2 MiB body")
    assert_closes(resp, "2 MiB body")


@pytest.mark.parametrize("path", POST_ROUTES[1:])
def test_a_two_mib_body_is_a_413_on_every_other_post_route(http, settings: Settings, droplet, path):
    body = json.dumps({"type": "reboot", "name": "x" * TWO_MIB}).encode()
    try:
        resp = http.post(f"{settings.api}{route(path, droplet)}", data=body, timeout=30)
    except requests.ConnectionError as e:
        pytest.fail(f"POST {path} with 2 MiB: the connection broke before a readable 413 ({e})")
    assert_rejected(resp, 413, f"POST {path} with 2 MiB")
    assert_closes(resp, f"POST {path} with 2 MiB")


def test_a_create_body_with_nulls_unknown_fields_and_no_cluster_tag_is_accepted(http, settings: Settings, created):
    body = create_body(
        settings,
        tags=None,
        ssh_keys=None,
        vpc_uuid=None,
        with_droplet_agent=True,
        public_networking=True,
        volumes=[],
        some_field_from_the_future={"x": 1},
    )
    resp = post_droplets(http, settings, created, json=body)
    assert resp.status_code == 202, f"create with nulls/unknown fields: {resp.status_code} {resp.text}"
    assert_ratelimit_headers(resp.headers, "lenient create")
    d = resp.json()["droplet"]
    assert_droplet_shape(d, "lenient create")
    assert d["name"] == body["name"] and d["status"] == "new", f"lenient create: {d}"
    wait_action(http, settings, resp.json()["links"]["actions"][0]["id"])
    after = poll("the untagged droplet to be active", lambda: get_droplet(http, settings, d["id"]),
                 lambda x: x["status"] == "active")
    assert after["name"] == body["name"], f"untagged droplet: {after}"


# ---------------------------------------------------------------- list parameters


@pytest.mark.parametrize("query", ["page=0", "page=abc", "per_page=0", "per_page=201"])
def test_a_bad_page_or_per_page_is_a_400(http, settings: Settings, query: str):
    resp = http.get(f"{settings.api}/droplets?{query}", timeout=30)
    assert_rejected(resp, 400, f"GET /v2/droplets?{query}")


# ---------------------------------------------------------------- actions


def test_an_unknown_action_type_is_a_422(http, settings: Settings, droplet: dict):
    resp = http.post(f"{settings.api}/droplets/{droplet['id']}/actions", json={"type": "teleport"}, timeout=30)
    assert_rejected(resp, 422, "unknown action type", "unprocessable_entity")


def test_a_resize_without_a_size_is_a_422(http, settings: Settings, droplet: dict):
    resp = http.post(f"{settings.api}/droplets/{droplet['id']}/actions", json={"type": "resize"}, timeout=30)
    assert_rejected(resp, 422, "resize without size", "unprocessable_entity")


def test_a_resize_with_disk_as_the_string_true_is_accepted_and_resizes(http, settings: Settings, droplet: dict):
    resp = http.post(
        f"{settings.api}/droplets/{droplet['id']}/actions",
        json={"type": "resize", "size": settings.big_size, "disk": "true"},
        timeout=30,
    )
    assert resp.status_code == 201, f'resize with "disk": "true": {resp.status_code} {resp.text}'
    action = resp.json()["action"]
    assert action["status"] == "in-progress" and action["type"] == "resize", f"resize action: {action}"
    busy = http.post(f"{settings.api}/droplets/{droplet['id']}/actions", json={"type": "reboot"}, timeout=30)
    body = assert_rejected(busy, 422, "action on a busy droplet", "unprocessable_entity")
    assert body["message"] == PENDING_EVENT, f"busy droplet message {body['message']!r}"
    wait_action(http, settings, action["id"])
    after = get_droplet(http, settings, droplet["id"])
    assert after["size_slug"] == settings.big_size, f"after resize size_slug is {after['size_slug']!r}"


# ---------------------------------------------------------------- routes


@pytest.mark.parametrize("path", ["/v2/droplets/999999999", "/v2/droplets/abc", "/v2/nope"])
def test_an_unknown_resource_or_route_is_a_404_not_found(http, settings: Settings, path: str):
    resp = http.get(f"{settings.url}{path}", timeout=30)
    assert_rejected(resp, 404, f"GET {path}", "not_found")


@pytest.mark.parametrize("path,key", [("/v2/droplets/", "droplets"), ("/v2/account/", "account")])
def test_a_trailing_slash_path_answers_200_without_a_redirect(http, settings: Settings, path: str, key: str):
    resp = http.get(f"{settings.url}{path}", params={"per_page": 200}, allow_redirects=False, timeout=30)
    assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.headers.get('location')!r}"
    assert key in resp.json(), f"GET {path}: no {key!r} in {resp.text[:300]}"
    assert_ratelimit_headers(resp.headers, f"GET {path}")
    assert "retry-after" not in resp.headers, f"GET {path}: Retry-After on a 200"


def test_every_id_in_a_droplet_and_its_actions_is_an_integer(http, settings: Settings, droplet: dict):
    resp = http.get(f"{settings.api}/droplets/{droplet['id']}/actions", timeout=30)
    assert resp.status_code == 200, f"GET droplet actions: {resp.status_code}"
    actions = resp.json()["actions"]
    assert actions, "a droplet has at least its create action"
    for a in actions:
        assert is_id(a["id"]) and is_id(a["resource_id"]), f"non-integer ids in {a}"
    assert is_id(droplet["id"]) and is_id(droplet["image"]["id"]), f"non-integer ids in {droplet}"


# ---------------------------------------------------------------- tokens


@pytest.mark.parametrize("path", POST_ROUTES)
@pytest.mark.parametrize(
    "body,statuses",
    [
        (b"{not json", (400,)),
        (b"", (400,)),
        (b"[1, 2, 3]", (400, 422)),
        (b'{"type": 5, "name": ["x"], "resources": "all"}', (400, 422)),
        (b"null", (400, 422)),
    ],
    ids=["malformed", "empty", "array", "wrong-types", "null"],
)
def test_every_post_route_turns_bad_bodies_into_a_4xx(http, settings: Settings, droplet, created, path, body, statuses):
    resp = http.post(f"{settings.api}{route(path, droplet)}", data=body, timeout=30)
    if resp.ok and path == "/droplets":
        created.append(resp.json()["droplet"]["id"])
    assert_rejected(resp, statuses, f"POST {path} with {body!r}")


@pytest.mark.parametrize("path", LIST_ROUTES)
@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=x", "per_page=0", "per_page=201", "page=99999999"])
def test_every_list_route_turns_bad_paging_into_a_400(http, settings: Settings, droplet, path, query):
    resp = http.get(f"{settings.api}{route(path, droplet)}?{query}", timeout=30)
    assert_rejected(resp, 400, f"GET {path}?{query}")


@pytest.mark.parametrize("path", LIST_ROUTES)
def test_a_page_past_the_end_is_empty_and_points_back(http, settings: Settings, droplet, path):
    resp = http.get(f"{settings.api}{route(path, droplet)}?page=500&per_page=200", timeout=30)
    assert resp.status_code == 200, f"GET {path} page 500: {resp.status_code} {resp.text[:300]}"
    body = resp.json()
    key = path.rstrip("/").split("/")[-1]
    assert body[key] == [], f"{path}: page 500 is not empty: {body}"
    assert_ratelimit_headers(resp.headers, path)


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/droplets/{id}/actions/999999999"),
        ("GET", "/actions/999999999"),
        ("GET", "/images/999999999"),
        ("GET", "/images/no-such-image"),
        ("GET", "/tags/{tag}"),
        ("DELETE", "/tags/{tag}"),
        ("DELETE", "/droplets/999999999"),
        ("POST", "/droplets/999999999/actions"),
        ("PUT", "/droplets"),
    ],
)
def test_unknown_objects_are_a_404_on_every_route(http, settings: Settings, droplet, method, path):
    resp = http.request(method, f"{settings.api}{route(path, droplet)}", json={"type": "reboot"}, timeout=30)
    assert_rejected(resp, 404, f"{method} {path}", "not_found")


def test_tagging_a_missing_droplet_is_a_404_and_tags_nobody(http, settings: Settings, droplet):
    tag = unique("lonely")
    resources = {"resources": [{"resource_id": str(droplet["id"]), "resource_type": "droplet"},
                               {"resource_id": "999999999", "resource_type": "droplet"}]}
    resp = http.post(f"{settings.api}/tags/{tag}/resources", json=resources, timeout=30)
    assert_rejected(resp, 404, "tag a missing droplet", "not_found")
    assert tag not in get_droplet(http, settings, droplet["id"])["tags"], "a failed tagging tagged the good droplet"


def test_a_tag_with_a_colon_is_found_by_its_percent_encoded_name(http, settings: Settings):
    name = unique_cluster_tag()
    assert ":" in name
    resp = http.post(f"{settings.api}/tags", json={"name": name}, timeout=30)
    assert resp.status_code == 201, f"create {name}: {resp.status_code} {resp.text}"
    encoded = requests.utils.quote(name, safe="")
    assert "%3A" in encoded
    got = http.get(f"{settings.api}/tags/{encoded}", timeout=30)
    assert got.status_code == 200, f"GET /v2/tags/{encoded}: {got.status_code} {got.text}"
    assert got.json()["tag"]["name"] == name
    gone = http.delete(f"{settings.api}/tags/{encoded}", timeout=30)
    assert gone.status_code == 204, f"DELETE /v2/tags/{encoded}: {gone.status_code} {gone.text}"


def test_a_tag_name_the_cloud_cannot_hold_is_a_422(http, settings: Settings):
    resp = http.post(f"{settings.api}/tags", json={"name": "x" * 300}, timeout=30)
    assert_rejected(resp, 422, "a 300-character tag", "unprocessable_entity")


def test_a_bad_token_is_a_401_unauthorized(settings: Settings):
    with http_session(unique("not-a-token")) as bad:
        resp = bad.get(f"{settings.api}/account", timeout=30)
    assert_rejected(resp, 401, "bad token", "unauthorized")


def test_the_viewer_token_can_read_but_a_write_is_a_403_forbidden(http, settings: Settings, droplet, created):
    with http_session(settings.viewer_token) as viewer:
        read = viewer.get(f"{settings.api}/droplets/{droplet['id']}", timeout=30)
        assert read.status_code == 200 and read.json()["droplet"]["id"] == droplet["id"], (
            f"viewer GET: {read.status_code} {read.text[:300]}"
        )
        delete = viewer.delete(f"{settings.api}/droplets/{droplet['id']}", timeout=30)
        assert_rejected(delete, 403, "viewer DELETE", "forbidden")
        create = viewer.post(f"{settings.api}/droplets", json=create_body(settings), timeout=30)
        if create.ok:
            created.append(create.json()["droplet"]["id"])
        assert_rejected(create, 403, "viewer POST /v2/droplets", "forbidden")
    still = get_droplet(http, settings, droplet["id"])
    assert still["id"] == droplet["id"], "the droplet the viewer tried to delete is gone"


def test_hammering_with_the_viewer_token_gets_a_429_with_retry_after(settings: Settings):
    """The viewer token keeps the default budget (600 requests / 60 s)."""
    remaining_seen: list[int] = []
    with http_session(settings.viewer_token) as viewer:
        for tries in range(1, 2001):
            resp = viewer.get(f"{settings.api}/account", timeout=30)
            if resp.status_code == 429:
                break
            assert resp.status_code == 200, f"try {tries}: {resp.status_code} {resp.text[:300]}"
            assert "retry-after" not in resp.headers, f"try {tries}: Retry-After on a 200"
            remaining_seen.append(int(resp.headers["ratelimit-remaining"]))
        else:
            pytest.fail("2,000 rapid GET /v2/account with the viewer token never got a 429")

        assert resp.headers.get("content-type", "").startswith("application/json"), "429 body is not JSON"
        assert_error_body(resp.json(), "429", "too_many_requests")
        assert_ratelimit_headers(resp.headers, "429")
        assert resp.headers["ratelimit-remaining"] == "0", f"429 with remaining {resp.headers['ratelimit-remaining']}"
        assert remaining_seen and remaining_seen[0] > remaining_seen[-1], (
            f"ratelimit-remaining did not go down over {len(remaining_seen)} requests"
        )
        retry_after = resp.headers.get("retry-after", "")
        assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, f"Retry-After {retry_after!r}"

        time.sleep(int(retry_after))
        again = viewer.get(f"{settings.api}/account", timeout=30)
        assert again.status_code == 200, f"after waiting Retry-After {retry_after}s: {again.status_code}"

