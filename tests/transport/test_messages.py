"""The wire messages: every one round-trips, payloads wait for their method's decoder,
and an envelope with a field added by a newer peer still decodes."""

from __future__ import annotations

import msgspec
import pytest

from genweave.codec import encoder
from genweave.transport.messages import (
    Cancel,
    Credit,
    End,
    Failure,
    Hello,
    InterfaceInfo,
    Item,
    Message,
    MethodInfo,
    Reply,
    Request,
    Welcome,
    message_decoder,
)

PAYLOAD = msgspec.Raw(encoder.encode({"text": "hi"}))
MESSAGES: list[Message] = [
    Hello(1, "app", "Assistant"),
    Welcome(1, "app", "model/0", {"Model": InterfaceInfo("1", "abc123", {
        "run": MethodInfo([("text", "str", True)], "str", False)})}),
    Request(7, "Model", "run", PAYLOAD, 2.5, "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
            "Assistant", {"user": "ada"}),
    Request(8, "Model", "run", PAYLOAD),
    Reply(7, PAYLOAD),
    Failure(7, "Overloaded", "at its limit", "Model", "run", "model/0"),
    Item(9, PAYLOAD),
    End(9),
    Cancel(9),
    Credit(9, 32),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: Message) -> None:
    assert message_decoder.decode(encoder.encode(message)) == message


def test_payloads_stay_undecoded_until_the_method_decodes_them() -> None:
    request = message_decoder.decode(encoder.encode(MESSAGES[2]))
    assert isinstance(request, Request) and isinstance(request.args, msgspec.Raw)
    assert msgspec.msgpack.decode(request.args) == {"text": "hi"}


def test_messages_with_the_same_fields_keep_their_kind() -> None:
    decoded = [message_decoder.decode(encoder.encode(m)) for m in (End(3), Cancel(3))]
    assert [type(m) for m in decoded] == [End, Cancel]


def test_optional_fields_left_at_their_default_are_not_sent() -> None:
    assert len(encoder.encode(Request(8, "Model", "run", PAYLOAD))) < len(
        encoder.encode(MESSAGES[2])) - 40


def test_a_field_added_by_a_newer_peer_is_ignored() -> None:
    class NewerCancel(msgspec.Struct, array_like=True, tag=7):
        id: int
        reason: str = ""

    newer = encoder.encode(NewerCancel(5, "caller left"))
    assert message_decoder.decode(newer) == Cancel(5)


def test_a_frame_that_is_no_message_is_refused() -> None:
    with pytest.raises(msgspec.DecodeError):
        message_decoder.decode(b"\xc1")
    with pytest.raises(msgspec.ValidationError):
        message_decoder.decode(encoder.encode([99, 1]))
