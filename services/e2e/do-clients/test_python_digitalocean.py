"""python-digitalocean (koalalorenzo, PyPI 1.17.0) against the gateway's /v2 surface.

It reaches the gateway only through DIGITALOCEAN_END_POINT (set by
conftest.py before any of its objects exist) and sends trailing-slash paths
(`droplets/`, `account/`), `per_page=200` on every GET, `"disk": "true"` as a
string on resize and `{}` as the body of a DELETE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import digitalocean
import pytest
from digitalocean import Action, DataReadError, Droplet, Manager, NotFoundError, Tag

from conftest import (
    PENDING_EVENT,
    POLL_INTERVAL,
    WAIT_TIMEOUT,
    Settings,
    destroy_quietly,
    is_id,
    poll,
    unique,
    unique_cluster_tag,
)

WAIT_REPEAT = int(WAIT_TIMEOUT / POLL_INTERVAL)


def wait(action: Action) -> Action:
    """Action.wait() polls while status is in-progress; it must end completed."""
    assert action.status == "in-progress", f"a new action {action} is {action.status!r}"
    completed = action.wait(update_every_seconds=POLL_INTERVAL, repeat=WAIT_REPEAT)
    assert completed, f"action {action.id} ({action.type}) ended {action.status!r}, not completed"
    assert action.completed_at, f"completed action {action.id} has no completed_at"
    return action


def wait_on(settings: Settings, answer: dict, kind: str) -> Action:
    """Waits on the action dict a Droplet method returned, through its own Action object."""
    assert set(answer) == {"action"}, f"{kind}: the client returned {answer!r}"
    a = answer["action"]
    assert a["type"] == kind and is_id(a["id"]), f"{kind}: action {a}"
    return wait(Action(token=settings.token, id=a["id"], status=a["status"], type=a["type"]))


@pytest.fixture(scope="module")
def manager(settings: Settings) -> Manager:
    return Manager(token=settings.token)


@pytest.fixture(scope="module")
def sizes(manager: Manager) -> dict[str, digitalocean.Size]:
    return {s.slug: s for s in manager.get_all_sizes()}


@dataclass
class Made:
    droplet: Droplet
    tag: str
    create_action: Action
    posted_types: set[str] = field(default_factory=lambda: {"create"})


@pytest.fixture(scope="module")
def made(settings: Settings):
    tag = unique_cluster_tag()
    droplet = Droplet(
        token=settings.token,
        name=unique("pdo"),
        region=settings.region,
        image=settings.image,
        size_slug=settings.size,
        tags=[tag],
    )
    droplet.create()
    try:
        creates = [a for a in droplet.get_actions() if a.type == "create"]
        assert len(creates) == 1, f"droplet {droplet.id} has create actions {creates}"
        create_action = wait(creates[0])
        poll(f"droplet {droplet.id} to be active and unlocked", droplet.load,
             lambda d: d.status == "active" and d.locked is False)
        yield Made(droplet, tag, create_action)
    finally:
        destroy_quietly(settings, [droplet.id])


def loaded(made: Made) -> Droplet:
    return made.droplet.load()


def perform(settings: Settings, made: Made, kind: str, call) -> Droplet:
    """Runs one Droplet action method, waits for it, returns the reloaded droplet."""
    wait_on(settings, call(), kind)
    made.posted_types.add(kind)
    after = loaded(made)
    assert after.locked is False, f"droplet still locked after {kind}"
    return after


def ensure_status(settings: Settings, made: Made, status: str) -> None:
    if loaded(made).status != status:
        if status == "active":
            perform(settings, made, "power_on", made.droplet.power_on)
        else:
            perform(settings, made, "power_off", made.droplet.power_off)
    assert made.droplet.status == status, f"could not bring droplet {made.droplet.id} to {status}"


def test_manager_reads_account_sizes_regions_and_images(manager: Manager, settings: Settings, sizes):
    account = manager.get_account()
    assert account.email and account.uuid and account.status, (
        f"account: email {account.email!r}, uuid {account.uuid!r}, status {account.status!r}"
    )
    assert type(account.droplet_limit) is int, f"droplet_limit {account.droplet_limit!r}"
    assert {settings.size, settings.big_size} <= set(sizes), f"sizes: {sorted(sizes)}"
    assert all(type(sizes[s].memory) is int for s in (settings.size, settings.big_size)), "size memory not int"
    regions = {r.slug: r for r in manager.get_all_regions()}
    assert settings.region in regions and regions[settings.region].name, f"regions: {sorted(regions)}"
    distro = [i.slug for i in manager.get_distro_images()]
    assert settings.image in distro, f"{settings.image} not among distribution images {distro}"
    image = manager.get_image(settings.image)
    assert image.slug == settings.image and is_id(image.id), f"get_image({settings.image!r}): {image.slug}, {image.id}"


def test_create_then_its_create_action_completes_and_load_shows_an_active_droplet(made: Made, settings, manager):
    d = made.droplet
    assert is_id(d.id) and d.action_ids == [made.create_action.id], f"after create: id {d.id}, {d.action_ids}"
    assert made.create_action.resource_id == d.id, f"create action is for {made.create_action.resource_id}"
    direct = manager.get_action(made.create_action.id)
    assert direct.status == "completed" and direct.type == "create", f"GET actions/{direct.id}: {direct}"
    after = poll(f"droplet {d.id} to be active", lambda: loaded(made), lambda x: x.status == "active")
    assert after.locked is False, "active droplet is locked"
    assert after.ip_address and after.private_ip_address, (
        f"load() found no public/private IPv4: {after.networks}"
    )
    assert made.tag in after.tags, f"tags {after.tags} lack {made.tag}"
    assert after.size_slug == settings.size and after.region["slug"] == settings.region, (
        f"size {after.size_slug}, region {after.region}"
    )


def test_power_off_and_power_on_switch_the_droplet_off_and_on(made: Made, settings: Settings):
    ensure_status(settings, made, "active")
    assert perform(settings, made, "power_off", made.droplet.power_off).status == "off"
    assert perform(settings, made, "power_on", made.droplet.power_on).status == "active"


def test_shutdown_turns_the_droplet_off(made: Made, settings: Settings):
    ensure_status(settings, made, "active")
    assert perform(settings, made, "shutdown", made.droplet.shutdown).status == "off"


def test_reboot_leaves_the_droplet_active(made: Made, settings: Settings):
    ensure_status(settings, made, "active")
    assert perform(settings, made, "reboot", made.droplet.reboot).status == "active"


def test_power_cycle_returned_as_an_action_object_waits_to_completed(made: Made, settings: Settings):
    ensure_status(settings, made, "active")
    # return_dict=False: the client builds the Action itself (it re-reads
    # DIGITALOCEAN_END_POINT for that object).
    action = made.droplet.power_cycle(return_dict=False)
    assert isinstance(action, Action) and action.type == "power_cycle", f"power_cycle returned {action!r}"
    wait(action)
    made.posted_types.add("power_cycle")
    assert loaded(made).status == "active", "droplet not active after power_cycle"


def test_a_second_action_while_one_runs_raises_data_read_error_pending_event(made: Made, settings: Settings):
    ensure_status(settings, made, "active")
    first = made.droplet.reboot()
    with pytest.raises(DataReadError) as raised:
        made.droplet.reboot()
    assert str(raised.value) == PENDING_EVENT, f"second action raised {raised.value!r}"
    wait_on(settings, first, "reboot")


def test_resize_with_disk_sends_a_string_and_takes_the_big_size(made: Made, settings: Settings, sizes):
    after = perform(settings, made, "resize", lambda: made.droplet.resize(settings.big_size, disk=True))
    big = sizes[settings.big_size]
    assert after.size_slug == settings.big_size and after.size["slug"] == settings.big_size, (
        f"after resize: {after.size_slug}, {after.size}"
    )
    assert (after.memory, after.vcpus, after.disk) == (big.memory, big.vcpus, big.disk), (
        f"after resize memory/vcpus/disk {(after.memory, after.vcpus, after.disk)}, size says "
        f"{(big.memory, big.vcpus, big.disk)}"
    )


def test_rename_changes_the_name(made: Made, settings: Settings):
    new_name = unique("pdo-renamed")
    assert perform(settings, made, "rename", lambda: made.droplet.rename(new_name)).name == new_name


def test_take_snapshot_adds_a_snapshot_image(made: Made, settings: Settings, manager: Manager):
    before = set(loaded(made).snapshot_ids)
    name = unique("pdo-snap")
    after = perform(settings, made, "snapshot", lambda: made.droplet.take_snapshot(name))
    new = set(after.snapshot_ids) - before
    assert len(new) == 1 and all(is_id(i) for i in new), f"snapshot_ids {sorted(before)} -> {after.snapshot_ids}"
    image = manager.get_image(new.pop())
    assert (image.type, image.name) == ("snapshot", name), f"snapshot image: {image.type!r}, {image.name!r}"


def test_get_actions_lists_every_action_this_module_posted(made: Made):
    actions = made.droplet.get_actions()
    types = {a.type for a in actions}
    assert made.posted_types <= types, f"missing {made.posted_types - types}; listed {types}"
    unfinished = [a for a in actions if a.status != "completed"]
    assert not unfinished, f"actions not completed: {unfinished}"


def test_tag_objects_tag_and_untag_the_droplet(made: Made, settings: Settings, manager: Manager):
    name = unique("pdo-tag")
    tag = Tag(token=settings.token, name=name)
    tag.create()
    assert tag.resources["count"] == 0, f"new tag resources {tag.resources}"
    assert name in [t.name for t in manager.get_all_tags()], f"{name} not in get_all_tags()"
    assert tag.add_droplets([made.droplet.id]) is True, "add_droplets did not get a 204"
    assert name in loaded(made).tags, f"droplet tags {made.droplet.tags} lack {name}"
    assert tag.load().resources["droplets"]["count"] == 1, f"tag after add: {tag.resources}"
    assert tag.remove_droplets([made.droplet.id]) is True, "remove_droplets did not get a 204"
    assert name not in loaded(made).tags, f"droplet still tagged {name}"
    assert tag.delete() is True, "tag delete did not get a 204"
    with pytest.raises(NotFoundError):
        Tag(token=settings.token, name=name).load()


def test_create_multiple_and_get_all_droplets_follow_every_page(settings: Settings, manager: Manager):
    tag = unique_cluster_tag()
    names = [unique("pdo-multi") for _ in range(2)]
    droplets = Droplet.create_multiple(
        token=settings.token,
        names=names,
        region=settings.region,
        image=settings.image,
        size_slug=settings.size,
        tags=[tag],
    )
    try:
        assert sorted(d.name for d in droplets) == sorted(names), f"create_multiple gave {droplets}"
        ids = {d.id for d in droplets}
        assert len(ids) == 2 and all(is_id(i) for i in ids), f"ids {ids}"
        assert all(d.action_ids and is_id(d.action_ids[0]) for d in droplets), "no create action id"
        for d in droplets:
            poll(f"droplet {d.id} to be active", d.load, lambda x: x.status == "active")
        listed = manager.get_all_droplets(tag_name=tag)
        assert sorted(d.id for d in listed) == sorted(ids), f"get_all_droplets(tag) gave {listed}"
        # per_page=1: the client follows links.pages.next by itself.
        paged = manager.get_all_droplets(params={"per_page": 1}, tag_name=tag)
        assert sorted(d.id for d in paged) == sorted(ids), f"one per page gave {[d.id for d in paged]}"
        assert all(d.ip_address and d.private_ip_address for d in paged), "listed droplets lack IPv4s"
    finally:
        destroy_quietly(settings, [d.id for d in droplets])


def test_destroy_returns_true_and_load_then_raises_not_found(made: Made):
    assert made.droplet.destroy() is True, "destroy() did not get a 204"

    def load_outcome() -> str:
        try:
            made.droplet.load()
            return "still there"
        except NotFoundError:
            return "not found"

    poll(f"droplet {made.droplet.id} to 404", load_outcome, lambda x: x == "not found")


def test_a_bad_token_raises_data_read_error(settings: Settings):
    bad = Manager(token=unique("not-a-token"))
    with pytest.raises(DataReadError) as raised:
        bad.get_account()
    assert str(raised.value), "DataReadError without the error body's message"
    with pytest.raises(DataReadError):
        bad.get_all_droplets()
