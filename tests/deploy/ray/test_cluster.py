"""Connecting to a Ray cluster: an address nothing answers at fails fast, naming it, and
Ray is never started for it; without Ray, the error names the extra to install."""

from __future__ import annotations

import socket
import sys
from typing import Any

import pytest

from genweave.deploy import DeployError
from genweave.deploy.ray.cluster import RayCluster, import_ray


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_nothing_answers_at_is_a_clean_error_naming_it(
    scheme: str, ray_installed: Any,
) -> None:
    address = f"{scheme}127.0.0.1:{closed_port()}"
    with pytest.raises(DeployError, match=f"cannot reach the Ray cluster at {address} .*"
                                          "ray start --head"):
        RayCluster.connect(address)


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(DeployError, match=r"pip install 'genweave\[ray\]'"):
        import_ray()
