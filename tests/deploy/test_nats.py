"""The NATS servers' users and permissions in deploy/ are the ones the code is wired for."""

from __future__ import annotations

import yaml

from runtime.wiring import OBSERVER, WIRING, nats_permissions, observer_permissions
from tests.deploy.contract import SERVICES
from tests.deploy.manifests import DEPLOY

VALUES = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())


def users() -> dict[str, dict]:
    [account] = VALUES["config"]["merge"]["accounts"].values()
    assert account["jetstream"] == "enabled"
    return {user["user"]: user for user in account["users"]}


def test_every_service_and_the_observer_is_a_user_with_exactly_its_permissions() -> None:
    assert set(WIRING) == set(SERVICES)
    wanted = {name: nats_permissions(name) for name in SERVICES} | {
        OBSERVER: observer_permissions()
    }
    assert {name: user["permissions"] for name, user in users().items()} == wanted


def test_passwords_come_from_the_secret_never_from_the_values() -> None:
    env = VALUES["container"]["env"]
    for name, user in users().items():
        variable = f"NOBAT_{name.upper()}_NATS_PASSWORD"
        assert user["password"] == f"<< ${variable} >>"
        assert env[variable]["valueFrom"]["secretKeyRef"] == {
            "name": "nobat-nats-users",
            "key": name,
        }


def test_no_client_may_do_everything_and_there_is_no_nats_box() -> None:
    for user in users().values():
        for direction in ("publish", "subscribe"):
            allowed = user["permissions"][direction]["allow"]
            assert ">" not in allowed and "$JS.API.>" not in allowed, user["user"]
    assert VALUES["natsBox"]["enabled"] is False
