"""Which groups serve HTTP: found from a component's port setting, or said by expose."""

from __future__ import annotations

import msgspec
import pytest
from web_app import app as web

from genweave.app import app as reference
from genweave.deploy.kubernetes import ExportError
from genweave.deploy.kubernetes.http import http_ports, listening_everywhere
from genweave.topology import Topology, component_settings, preset


def with_group_options(topology: Topology, group: str, **options: object) -> Topology:
    return msgspec.structs.replace(topology, groups=tuple(
        msgspec.structs.replace(g, **options) if g.name == group else g
        for g in topology.groups))


@pytest.mark.parametrize(("name", "group"), [
    ("monolith", "main"), ("hybrid", "core"), ("microservices", "gateway")])
def test_the_reference_gateway_is_found_under_every_preset(name: str, group: str) -> None:
    assert http_ports(reference, preset(name, reference)) == {group: (8000,)}


def test_the_port_comes_from_the_settings_and_zero_exposes_nothing() -> None:
    topology = preset("microservices", reference)
    moved = msgspec.structs.replace(topology, settings={"Gateway": {"port": 9000}})
    assert http_ports(reference, moved) == {"gateway": (9000,)}
    assert http_ports(web, preset("microservices", web)) == {}  # Door's port 0: any free port


def test_expose_says_it_outright_or_turns_it_off() -> None:
    topology = preset("microservices", web)
    assert http_ports(web, with_group_options(topology, "voice", expose=(9000, 9001))) == {
        "voice": (9000, 9001)}
    off = with_group_options(preset("hybrid", reference), "core", expose=())
    assert http_ports(reference, off) == {}


@pytest.mark.parametrize("port", [7070, 8080])
def test_a_port_genweave_uses_in_every_pod_is_refused(port: int) -> None:
    topology = msgspec.structs.replace(preset("hybrid", reference),
                                       settings={"Gateway": {"port": port}})
    with pytest.raises(ExportError, match=f"group 'core' serves HTTP on port {port}, which every "
                                          "pod uses for genweave itself"):
        http_ports(reference, topology)


def test_a_loopback_listener_is_opened_to_the_pods_network() -> None:
    topology = preset("hybrid", reference)
    assert component_settings(topology, reference, "Gateway").host == "127.0.0.1"
    opened = listening_everywhere(reference, topology)
    assert component_settings(opened, reference, "Gateway").host == "0.0.0.0"
    assert opened.settings == {"Gateway": {"host": "0.0.0.0"}}  # only that key was added
    chosen = msgspec.structs.replace(topology, settings={"Gateway": {"host": "10.0.0.5"}})
    assert listening_everywhere(reference, chosen).settings["Gateway"]["host"] == "10.0.0.5"
