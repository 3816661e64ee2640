"""The msgpack codec: arrays, refusal of what cannot be sent, and readable validation errors."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from genweave.codec import (
    check_serialisable,
    decoder,
    describe_validation_error,
    encoder,
    type_name,
)
from genweave.errors import DefinitionError


@pytest.mark.parametrize("array", [
    np.arange(10, dtype=np.int64),
    np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4),
    np.zeros((2, 0, 3), dtype=np.float16),
    np.array([True, False]),
    np.asfortranarray(np.arange(6).reshape(2, 3)),
    np.arange(20)[::3],
])
def test_arrays_round_trip_with_dtype_and_shape(array: np.ndarray) -> None:
    result = decoder(np.ndarray).decode(encoder.encode(array))
    assert result.dtype == array.dtype and result.shape == array.shape
    np.testing.assert_array_equal(result, array)
    assert result.flags.writeable


def test_arrays_nested_in_structs() -> None:
    class Batch(msgspec.Struct):
        ids: list[int]
        vectors: list[np.ndarray]

    batch = Batch([1, 2], [np.ones(3), np.zeros(2)])
    result = decoder(Batch).decode(encoder.encode(batch))
    assert result.ids == [1, 2]
    np.testing.assert_array_equal(result.vectors[0], np.ones(3))


def test_object_arrays_and_unknown_objects_are_refused() -> None:
    with pytest.raises(TypeError, match="dtype=object"):
        encoder.encode(np.array([object()]))
    with pytest.raises(TypeError, match="cannot be sent"):
        encoder.encode(object())


def test_a_value_of_the_wrong_type_where_an_array_is_expected() -> None:
    with pytest.raises(msgspec.ValidationError, match="Expected `ndarray`"):
        decoder(np.ndarray).decode(encoder.encode("not an array"))


def test_check_serialisable() -> None:
    check_serialisable(dict[str, list[np.ndarray]], "here")
    with pytest.raises(DefinitionError, match="here: type socket cannot be sent"):
        import socket

        check_serialisable(socket.socket, "here")


def test_type_names_are_module_free() -> None:
    assert type_name(dict[str, list[int]]) == "dict[str, list[int]]"
    assert type_name(int | None) == "int | None"
    assert type_name(np.ndarray) == "ndarray"


@pytest.mark.parametrize(("message", "expected"), [
    ("Expected `int`, got `str` - at `$.a`", "parameter 'a': expected `int`, got `str`"),
    ("Expected `str`, got `int` - at `$.doc.title`",
     "parameter 'doc': expected `str`, got `int` (at doc.title)"),
    ("Expected `int`, got `str` - at `$.ids[2]`",
     "parameter 'ids': expected `int`, got `str` (at ids[2])"),
    ("Object missing required field `name`", "missing required parameter 'name'"),
    ("Expected `object`, got `array`", "Expected `object`, got `array`"),
])
def test_validation_errors_name_the_parameter(message: str, expected: str) -> None:
    assert describe_validation_error(message) == expected
