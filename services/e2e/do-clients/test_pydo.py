"""DigitalOcean's official client, pydo, against the gateway's /v2 surface.

Two module-scoped groups of droplets: `droplet` (one droplet taken through
every action in file order) and `fleet` (three droplets made by one
create-many call, used for listing, tag-wide actions and delete by tag).
Each action test first puts the droplet in the state it needs, so a test
picked alone with -k still checks what its name says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from conftest import (
    PENDING_EVENT,
    Reply,
    Settings,
    assert_action_shape,
    assert_droplet_shape,
    assert_error_body,
    assert_list_envelope,
    assert_ratelimit_headers,
    destroy_quietly,
    get_droplet,
    is_id,
    list_all,
    list_droplets,
    make_pydo,
    poll,
    public_and_private_ipv4,
    reply,
    unique,
    unique_cluster_tag,
    wait_action,
    wait_active,
)


@pytest.fixture(scope="module")
def client(settings: Settings):
    return make_pydo(settings)


@pytest.fixture(scope="module")
def sizes(client) -> dict[str, dict]:
    return {s["slug"]: s for s in list_all(client.sizes.list, "sizes")}


# ---------------------------------------------------------------- one droplet, every action


@dataclass
class Made:
    id: int
    name: str
    tag: str
    created: Reply
    action_right_after_create: dict
    create_action: dict
    posted_types: set[str] = field(default_factory=lambda: {"create"})


@pytest.fixture(scope="module")
def droplet(client, settings: Settings):
    name, tag = unique("pydo"), unique_cluster_tag()
    created = client.droplets.create(
        {"name": name, "region": settings.region, "size": settings.size, "image": settings.image, "tags": [tag]},
        cls=reply,
    )
    droplet_id = created.body["droplet"]["id"]
    action_id = created.body["links"]["actions"][0]["id"]
    right_after = client.actions.get(action_id)
    try:
        create_action = wait_action(client, action_id)
        wait_active(client, droplet_id)
        yield Made(droplet_id, name, tag, created, right_after.get("action", right_after), create_action)
    finally:
        destroy_quietly(settings, [droplet_id])


def post_action(client, made: Made, body: dict) -> dict:
    """POST /v2/droplets/{id}/actions; checks the 201 envelope and returns the action."""
    answer = client.droplet_actions.post(made.id, body, cls=reply)
    where = f"POST {body['type']}"
    assert answer.status == 201, f"{where}: status {answer.status}, body {answer.body}"
    assert_ratelimit_headers(answer.headers, where)
    assert "retry-after" not in answer.headers, f"{where}: Retry-After on a {answer.status}"
    action = answer.body["action"]
    assert_action_shape(action, where)
    assert action["status"] == "in-progress", f"{where}: a new action is {action['status']!r}"
    assert action["type"] == body["type"], f"{where}: action type {action['type']!r}"
    assert action["resource_id"] == made.id, f"{where}: action is for {action['resource_id']}, not {made.id}"
    made.posted_types.add(body["type"])
    return action


def run_action(client, made: Made, body: dict) -> dict:
    """Posts an action, waits for it to complete, returns the droplet afterwards."""
    wait_action(client, post_action(client, made, body)["id"])
    after = get_droplet(client, made.id)
    assert not after["locked"], f"droplet still locked after {body['type']} completed: {after}"
    return after


def ensure_status(client, made: Made, status: str) -> None:
    """Puts the droplet in `status` (active/off) if it is not there already."""
    if get_droplet(client, made.id)["status"] != status:
        run_action(client, made, {"type": "power_on" if status == "active" else "power_off"})
    assert get_droplet(client, made.id)["status"] == status, f"could not bring droplet {made.id} to {status}"


def test_account_sizes_regions_and_images_have_the_documented_shapes(client, settings: Settings, sizes):
    account = client.account.get(cls=reply)
    assert account.status == 200, f"GET /v2/account: {account.status}"
    assert_ratelimit_headers(account.headers, "GET /v2/account")
    a = account.body["account"]
    for key in ("droplet_limit", "floating_ip_limit", "reserved_ip_limit", "volume_limit"):
        assert type(a.get(key)) is int, f"account.{key} is {a.get(key)!r}"
    for key in ("email", "uuid", "status"):
        assert isinstance(a.get(key), str) and a[key], f"account.{key} is {a.get(key)!r}"
    assert isinstance(a.get("email_verified"), bool) and isinstance(a.get("team"), dict), f"account: {a}"

    for slug in (settings.size, settings.big_size):
        assert slug in sizes, f"size {slug!r} missing from /v2/sizes: {sorted(sizes)}"
        s = sizes[slug]
        for key in ("memory", "vcpus", "disk"):
            assert type(s.get(key)) is int, f"size {slug}.{key} is {s.get(key)!r}"
        for key in ("transfer", "price_monthly", "price_hourly", "regions", "available", "description"):
            assert key in s, f"size {slug} lacks {key!r}: {s}"
    assert sizes[settings.big_size]["memory"] > sizes[settings.size]["memory"], (
        f"CG_DO_BIG_SIZE {settings.big_size} is not bigger than CG_DO_SIZE {settings.size}"
    )

    regions = {r["slug"]: r for r in list_all(client.regions.list, "regions")}
    assert settings.region in regions, f"region {settings.region!r} missing from /v2/regions: {sorted(regions)}"
    region = regions[settings.region]
    for key in ("name", "sizes", "features", "available"):
        assert key in region, f"region {settings.region} lacks {key!r}: {region}"

    images = list_all(client.images.list, "images", type="distribution")
    assert settings.image in [i.get("slug") for i in images], f"image {settings.image!r} not in distribution images"
    image = client.images.get(settings.image)["image"]
    assert image["slug"] == settings.image and is_id(image["id"]), f"GET /v2/images/{settings.image}: {image}"
    assert image["type"] in ("base", "snapshot", "backup", "custom", "admin"), f"image type {image['type']!r}"
    assert client.images.get(image["id"])["image"]["slug"] == settings.image, "image by id differs from by slug"


def test_create_answers_202_with_a_new_droplet_and_a_create_action_link(droplet: Made, settings: Settings):
    created = droplet.created
    assert created.status == 202, f"POST /v2/droplets: status {created.status}"
    assert_ratelimit_headers(created.headers, "POST /v2/droplets")
    d = created.body["droplet"]
    assert_droplet_shape(d, "create response")
    assert d["status"] == "new", f"a just-created droplet is {d['status']!r}, expected 'new'"
    assert d["name"] == droplet.name and droplet.tag in d["tags"], f"create response: {d}"
    links = created.body["links"]["actions"]
    assert len(links) == 1, f"one create action expected, got {links}"
    link = links[0]
    assert is_id(link["id"]) and link["rel"] == "create", f"links.actions[0] is {link}"
    assert link["href"] == f"{settings.url}/v2/actions/{link['id']}", f"href {link['href']!r} is not absolute"


def test_the_create_action_goes_from_in_progress_to_completed(droplet: Made):
    first, last = droplet.action_right_after_create, droplet.create_action
    assert_action_shape(first, "create action right after create")
    assert first["status"] == "in-progress", f"right after create the action is {first['status']!r}"
    assert first["completed_at"] is None, f"an in-progress action has completed_at {first['completed_at']!r}"
    assert_action_shape(last, "create action when done")
    assert last["type"] == "create" and last["resource_id"] == droplet.id, f"create action: {last}"
    assert last["status"] == "completed" and last["completed_at"], f"create action: {last}"


def test_a_created_droplet_becomes_active_unlocked_with_public_and_private_ipv4(client, droplet: Made, settings):
    d = get_droplet(client, droplet.id)
    assert_droplet_shape(d, "GET droplet")
    assert d["status"] == "active" and d["locked"] is False, f"droplet after create: {d}"
    ips = public_and_private_ipv4(d)
    assert set(ips) == {"public", "private"}, f"networks.v4 needs a public and a private entry: {d['networks']}"
    assert d["region"]["slug"] == settings.region, f"region {d['region']['slug']!r}"
    assert d["size_slug"] == settings.size, f"size_slug {d['size_slug']!r}"
    assert d["image"]["slug"] == settings.image, f"image {d['image']}"
    assert droplet.tag in d["tags"], f"tags {d['tags']} lack the cluster tag {droplet.tag}"


def test_power_off_locks_the_droplet_while_running_then_turns_it_off(client, droplet: Made):
    ensure_status(client, droplet, "active")
    action = post_action(client, droplet, {"type": "power_off"})
    during = get_droplet(client, droplet.id)
    assert during["locked"] is True, f"droplet not locked while power_off runs: {during}"
    wait_action(client, action["id"])
    after = get_droplet(client, droplet.id)
    assert after["status"] == "off" and after["locked"] is False, f"after power_off: {after}"


def test_power_on_brings_an_off_droplet_back_to_active(client, droplet: Made):
    ensure_status(client, droplet, "off")
    after = run_action(client, droplet, {"type": "power_on"})
    assert after["status"] == "active", f"after power_on the droplet is {after['status']!r}"


def test_shutdown_turns_an_active_droplet_off(client, droplet: Made):
    ensure_status(client, droplet, "active")
    after = run_action(client, droplet, {"type": "shutdown"})
    assert after["status"] == "off", f"after shutdown the droplet is {after['status']!r}"


@pytest.mark.parametrize("kind", ["reboot", "power_cycle"])
def test_reboot_and_power_cycle_leave_the_droplet_active(client, droplet: Made, kind: str):
    ensure_status(client, droplet, "active")
    after = run_action(client, droplet, {"type": kind})
    assert after["status"] == "active", f"after {kind} the droplet is {after['status']!r}"


def test_a_second_action_while_one_runs_gets_422_pending_event(client, droplet: Made):
    ensure_status(client, droplet, "active")
    first = post_action(client, droplet, {"type": "reboot"})
    with pytest.raises(HttpResponseError) as raised:
        client.droplet_actions.post(droplet.id, {"type": "reboot"})
    err = raised.value
    assert err.status_code == 422, f"second action: status {err.status_code}"
    body = err.response.json()
    assert_error_body(body, "second action", "unprocessable_entity")
    assert body["message"] == PENDING_EVENT, f"message {body['message']!r}"
    assert err.error is not None and err.error.message == PENDING_EVENT, "pydo did not parse the DO error body"
    assert_ratelimit_headers(err.response.headers, "422 pending event")
    wait_action(client, first["id"])


def test_resize_changes_size_slug_memory_vcpus_and_disk(client, droplet: Made, settings: Settings, sizes):
    big = sizes[settings.big_size]
    after = run_action(client, droplet, {"type": "resize", "size": settings.big_size, "disk": True})
    assert after["size_slug"] == settings.big_size and after["size"]["slug"] == settings.big_size, (
        f"after resize: size_slug {after['size_slug']!r}, size.slug {after['size']['slug']!r}"
    )
    got = {k: after[k] for k in ("memory", "vcpus", "disk")}
    assert got == {k: big[k] for k in got}, f"after resize {got}, /v2/sizes says {big}"


def test_rename_changes_the_name_and_name_filter_finds_it(client, droplet: Made):
    new_name = unique("pydo-renamed")
    after = run_action(client, droplet, {"type": "rename", "name": new_name})
    assert after["name"] == new_name, f"after rename the name is {after['name']!r}"
    found = client.droplets.list(name=new_name)["droplets"]
    assert [d["id"] for d in found] == [droplet.id], f"?name={new_name} found {[d['id'] for d in found]}"
    droplet.name = new_name


def test_snapshot_adds_an_image_of_type_snapshot_to_snapshot_ids(client, droplet: Made):
    before = set(get_droplet(client, droplet.id)["snapshot_ids"])
    name = unique("pydo-snap")
    after = run_action(client, droplet, {"type": "snapshot", "name": name})
    new = set(after["snapshot_ids"]) - before
    assert len(new) == 1, f"snapshot_ids went from {sorted(before)} to {after['snapshot_ids']}"
    (image_id,) = new
    assert is_id(image_id), f"snapshot id {image_id!r} is not an integer >= 1"
    image = client.images.get(image_id)["image"]
    assert image["id"] == image_id and image["type"] == "snapshot" and image["name"] == name, f"image: {image}"


def test_droplet_actions_are_listed_and_readable_one_by_one(client, droplet: Made):
    listed = client.droplet_actions.list(droplet.id, per_page=200)
    assert_list_envelope(listed, "actions", "GET droplet actions")
    actions = listed["actions"]
    assert listed["meta"]["total"] == len(actions), f"meta.total {listed['meta']['total']} != {len(actions)}"
    types = {a["type"] for a in actions}
    assert droplet.posted_types <= types, f"missing action types {droplet.posted_types - types}; listed {types}"
    for a in actions:
        assert_action_shape(a, f"listed action {a.get('id')}")
        assert a["resource_id"] == droplet.id, f"action {a['id']} belongs to {a['resource_id']}"
    create = next(a for a in actions if a["type"] == "create")
    by_droplet = client.droplet_actions.get(droplet.id, create["id"])["action"]
    by_id = client.actions.get(create["id"])["action"]
    assert by_droplet["id"] == by_id["id"] == create["id"], f"{by_droplet} vs {by_id}"
    assert by_droplet["type"] == by_id["type"] == "create", f"{by_droplet} vs {by_id}"


def test_tags_can_be_created_assigned_unassigned_and_deleted(client, droplet: Made):
    name = unique("pydo-tag")
    created = client.tags.create({"name": name}, cls=reply)
    assert created.status == 201, f"POST /v2/tags: status {created.status}, body {created.body}"
    assert created.body["tag"]["name"] == name, f"created tag: {created.body}"

    def counts() -> tuple[int, int]:
        tag = client.tags.get(name)["tag"]
        return tag["resources"]["count"], tag["resources"]["droplets"]["count"]

    assert counts() == (0, 0), f"a new tag has resources {counts()}"
    assert name in [t["name"] for t in list_all(client.tags.list, "tags")], f"{name} not in GET /v2/tags"

    resources = {"resources": [{"resource_id": str(droplet.id), "resource_type": "droplet"}]}
    assigned = client.tags.assign_resources(name, resources, cls=reply)
    assert assigned.status == 204, f"assign: status {assigned.status}, body {assigned.body}"
    assert name in get_droplet(client, droplet.id)["tags"], f"droplet tags lack {name} after assign"
    assert counts() == (1, 1), f"after assign the tag counts {counts()}"

    unassigned = client.tags.unassign_resources(name, resources, cls=reply)
    assert unassigned.status == 204, f"unassign: status {unassigned.status}, body {unassigned.body}"
    assert name not in get_droplet(client, droplet.id)["tags"], f"droplet still tagged {name} after unassign"
    assert counts() == (0, 0), f"after unassign the tag counts {counts()}"

    deleted = client.tags.delete(name, cls=reply)
    assert deleted.status == 204, f"DELETE /v2/tags/{name}: status {deleted.status}"
    gone = client.tags.get(name, cls=reply)
    assert gone.status == 404, f"GET a deleted tag: status {gone.status}, body {gone.body}"


def test_delete_answers_204_and_the_droplet_then_404s(client, droplet: Made):
    deleted = client.droplets.destroy(droplet.id, cls=reply)
    assert deleted.status == 204 and deleted.body is None, f"DELETE: {deleted.status} {deleted.body!r}"
    assert_ratelimit_headers(deleted.headers, "DELETE droplet")
    gone = poll(f"droplet {droplet.id} to 404", lambda: client.droplets.get(droplet.id, cls=reply),
                lambda r: r.status == 404)
    assert_error_body(gone.body, "GET deleted droplet", "not_found")


# ---------------------------------------------------------------- a fleet under one tag


@dataclass
class Fleet:
    tag: str
    names: list[str]
    created: Reply

    @property
    def ids(self) -> set[int]:
        return {d["id"] for d in self.created.body["droplets"]}


@pytest.fixture(scope="module")
def fleet(client, settings: Settings):
    tag = unique_cluster_tag()
    names = [unique("pydo-fleet") for _ in range(3)]
    created = client.droplets.create(
        {"names": names, "region": settings.region, "size": settings.size, "image": settings.image, "tags": [tag]},
        cls=reply,
    )
    made = Fleet(tag, names, created)
    try:
        for link in created.body["links"]["actions"]:
            wait_action(client, link["id"])
        for droplet_id in made.ids:
            wait_active(client, droplet_id)
        yield made
    finally:
        destroy_quietly(settings, sorted(made.ids))


def test_create_many_answers_one_droplet_and_one_create_action_per_name(fleet: Fleet):
    created = fleet.created
    assert created.status == 202, f"POST /v2/droplets with names: status {created.status}"
    droplets = created.body["droplets"]
    for d in droplets:
        assert_droplet_shape(d, "create-many response")
    assert sorted(d["name"] for d in droplets) == sorted(fleet.names), f"created {[d['name'] for d in droplets]}"
    assert len(fleet.ids) == 3, f"droplet ids not distinct: {[d['id'] for d in droplets]}"
    links = created.body["links"]["actions"]
    assert len(links) == 3 and all(l["rel"] == "create" and is_id(l["id"]) for l in links), f"links: {links}"
    assert len({l["id"] for l in links}) == 3, f"create action ids not distinct: {links}"


@pytest.mark.parametrize("per_page", [2, 1])
def test_listing_by_tag_pages_through_every_droplet_exactly_once(client, fleet: Fleet, settings, per_page: int):
    seen: list[int] = []
    page, pages_read = 1, 0
    while True:
        body = client.droplets.list(per_page=per_page, page=page, tag_name=fleet.tag)
        where = f"per_page={per_page} page={page}"
        assert_list_envelope(body, "droplets", where)
        assert body["meta"]["total"] == 3, f"{where}: meta.total {body['meta']['total']}"
        assert len(body["droplets"]) <= per_page, f"{where}: {len(body['droplets'])} droplets"
        seen += [d["id"] for d in body["droplets"]]
        pages_read += 1
        links = body["links"]["pages"]
        expected = ({"first", "prev"} if page > 1 else set()) | ({"next", "last"} if "next" in links else set())
        assert set(links) == expected, f"{where}: links.pages has {sorted(links)}, expected {sorted(expected)}"
        if "next" not in links:
            break
        nxt = urlsplit(links["next"])
        assert f"{nxt.scheme}://{nxt.netloc}" == settings.url and nxt.path == "/v2/droplets", (
            f"{where}: next {links['next']!r} is not an absolute /v2/droplets URL"
        )
        query = parse_qs(nxt.query)
        assert query.get("tag_name") == [fleet.tag] and query.get("per_page") == [str(per_page)], (
            f"{where}: next {links['next']!r} lost the filters"
        )
        page = int(query["page"][0])
        assert pages_read < 10, "more pages than droplets"
    assert pages_read == -(-3 // per_page), f"read {pages_read} pages for 3 droplets at per_page={per_page}"
    assert sorted(seen) == sorted(fleet.ids), f"pages gave {seen}, the tag holds {sorted(fleet.ids)}"


def test_listing_on_a_single_page_has_empty_links_pages(client, fleet: Fleet):
    body = client.droplets.list(per_page=200, tag_name=fleet.tag)
    assert {d["id"] for d in body["droplets"]} == fleet.ids, f"listed {[d['id'] for d in body['droplets']]}"
    assert body["links"]["pages"] == {}, f"a single page has links.pages {body['links']['pages']}"
    assert body["meta"]["total"] == 3, f"meta.total {body['meta']['total']}"


def test_listing_by_name_matches_the_exact_name_only(client, fleet: Fleet):
    name = fleet.names[0]
    exact = client.droplets.list(name=name)
    assert [d["name"] for d in exact["droplets"]] == [name], f"?name={name}: {exact['droplets']}"
    assert exact["meta"]["total"] == 1, f"?name={name}: meta.total {exact['meta']['total']}"
    prefix = client.droplets.list(name=name[:-1])
    assert prefix["droplets"] == [] and prefix["meta"]["total"] == 0, f"?name={name[:-1]} matched {prefix}"


def test_an_action_by_tag_acts_on_every_droplet_with_the_tag(client, fleet: Fleet):
    answer = client.droplet_actions.post_by_tag({"type": "power_off"}, tag_name=fleet.tag, cls=reply)
    assert answer.status == 201, f"POST /v2/droplets/actions?tag_name=: status {answer.status}"
    actions = answer.body["actions"]
    for a in actions:
        assert_action_shape(a, "tag-wide action")
        assert a["type"] == "power_off", f"tag-wide action type {a['type']!r}"
    assert sorted(a["resource_id"] for a in actions) == sorted(fleet.ids), f"actions for {actions}"
    for a in actions:
        wait_action(client, a["id"])
    statuses = {d["id"]: d["status"] for d in list_droplets(client, fleet.tag)}
    assert statuses == {i: "off" for i in fleet.ids}, f"after power_off by tag: {statuses}"


def test_delete_by_tag_answers_204_and_every_droplet_with_the_tag_404s(client, fleet: Fleet):
    deleted = client.droplets.destroy_by_tag(tag_name=fleet.tag, cls=reply)
    assert deleted.status == 204, f"DELETE /v2/droplets?tag_name=: status {deleted.status}, body {deleted.body}"
    for droplet_id in sorted(fleet.ids):
        gone = poll(f"droplet {droplet_id} to 404", lambda: client.droplets.get(droplet_id, cls=reply),
                    lambda r: r.status == 404)
        assert_error_body(gone.body, f"GET deleted droplet {droplet_id}", "not_found")
    assert list_droplets(client, fleet.tag) == [], "droplets still listed under the deleted tag"


# ---------------------------------------------------------------- auth


def test_a_bad_token_raises_client_authentication_error(settings: Settings):
    bad = make_pydo(settings, token=unique("not-a-token"))
    with pytest.raises(ClientAuthenticationError) as raised:
        bad.account.get()
    err = raised.value
    assert err.status_code == 401, f"bad token: status {err.status_code}"
    assert_error_body(err.response.json(), "bad token", "unauthorized")
    with pytest.raises(ClientAuthenticationError):
        bad.droplets.list()
