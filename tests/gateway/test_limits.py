"""The limits as settings: defaults, validation, and their place in the reference app's."""

from __future__ import annotations

import pytest

from genweave.app.gateway import GatewaySettings
from genweave.errors import TopologyError
from genweave.gateway.limits import HttpLimits
from genweave.topology._errors import convert

WHERE = "[components.Gateway] "


def test_defaults_bound_every_way_of_holding_the_server() -> None:
    limits = HttpLimits()
    assert limits.header_timeout == 10.0 and limits.max_header_bytes == 64 * 1024
    assert limits.body_timeout == 10.0 and limits.body_min_rate == 1024
    assert limits.write_timeout == 30.0 and limits.write_buffer_bytes == 64 * 1024
    assert limits.keep_alive_timeout == 5 and limits.max_reading_requests == 256
    assert limits.max_connections == 4096
    assert limits.max_connections_per_client == 256 and limits.max_requests_per_client == 256
    assert limits.trusted_proxies == []


def test_the_reference_app_reads_them_from_its_gateway_table() -> None:
    settings = convert({"port": 0, "limits": {"header_timeout": 3, "trusted_proxies": [
        "10.0.0.0/8"]}}, GatewaySettings, WHERE)
    assert settings.limits == HttpLimits(header_timeout=3.0, trusted_proxies=["10.0.0.0/8"])
    assert convert({}, GatewaySettings, WHERE).limits == HttpLimits()


@pytest.mark.parametrize(("table", "message"), [
    ({"header_timeot": 3}, "[components.Gateway] limits.header_timeot: unknown key"),
    ({"header_timeout": 0}, "[components.Gateway] limits.header_timeout: Expected `float` > 0"),
    ({"max_connections_per_client": -1},
     "[components.Gateway] limits.max_connections_per_client: Expected `int` >= 0"),
    ({"trusted_proxies": ["proxy.internal"]}, "[components.Gateway] limits: trusted_proxies: "
     "'proxy.internal' is not an address or a network; write 10.0.0.7 or 10.0.0.0/8"),
])
def test_a_wrong_limit_is_named_with_its_table(table: dict[str, object], message: str) -> None:
    with pytest.raises(TopologyError) as caught:
        convert({"limits": table}, GatewaySettings, WHERE)
    assert str(caught.value).startswith(message)
