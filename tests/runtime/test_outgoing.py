"""One outgoing call: one small object from the proxy to the wire, filled in on the way."""

from __future__ import annotations

import msgspec

from genweave import component
from genweave.component import spec_of
from genweave.resilience import RetryPolicy
from genweave.runtime.outgoing import OutgoingCall


@component(name="Model")
class Model:
    async def run(self, text: str) -> str:
        return text


SPEC = spec_of(Model).methods["run"]


def test_a_call_starts_for_the_primary_version_with_the_routers_retry_policy() -> None:
    call = OutgoingCall("model", SPEC, SPEC.args_type("hi"), {"user": "ada"}, 12.5, "tp")
    assert (call.retry, call.variant, call.address) == (None, None, "")
    assert (call.group, call.deadline, call.traceparent) == ("model", 12.5, "tp")


def test_a_copy_for_another_variant_changes_only_what_it_names() -> None:
    call = OutgoingCall("model", SPEC, SPEC.args_type("hi"), {"user": "ada"}, 12.5, "tp",
                        RetryPolicy(attempts=5))
    copy = msgspec.structs.replace(call, variant="shadow", retry=RetryPolicy(attempts=1))
    assert (copy.variant, copy.retry) == ("shadow", RetryPolicy(attempts=1))
    assert (copy.args, copy.meta, copy.deadline) == (call.args, call.meta, call.deadline)
    assert call.variant is None  # the caller's own call is unchanged


def test_a_call_carries_no_per_call_dictionary() -> None:
    call = OutgoingCall("model", SPEC, SPEC.args_type("hi"), {}, None, "")
    assert not hasattr(call, "__dict__")  # one is made on every remote call: keep it small
