"""How a topology problem reads: ``FILE, [TABLE] KEY: reason``, with a suggestion when close."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from genweave.errors import TopologyError
from genweave.topology._errors import convert, did_you_mean

WHERE = "genweave.toml, [groups.core] "


class Scaling(msgspec.Struct, forbid_unknown_fields=True):
    max: int = 1


class Table(msgspec.Struct, forbid_unknown_fields=True):
    replicas: Annotated[int, msgspec.Meta(ge=1)] = 1
    weights: dict[str, int] = {}
    autoscale: Scaling | None = None


def test_a_valid_table_is_converted() -> None:
    assert convert({"replicas": 3}, Table, WHERE) == Table(replicas=3)


@pytest.mark.parametrize(("raw", "message"), [
    ({"replicas": 0}, "genweave.toml, [groups.core] replicas: Expected `int` >= 1"),
    ({"replicas": "two"}, "genweave.toml, [groups.core] replicas: Expected `int`, got `str`"),
    ({"replics": 2}, "genweave.toml, [groups.core] replics: unknown key"),
    ({"weights": {"a": "b"}},
     "genweave.toml, [groups.core] weights[...]: Expected `int`, got `str`"),
    ({"autoscale": {"max": "x"}},
     "genweave.toml, [groups.core] autoscale.max: Expected `int`, got `str`"),
])
def test_errors_name_the_file_the_table_and_the_key(raw: object, message: str) -> None:
    with pytest.raises(TopologyError) as caught:
        convert(raw, Table, WHERE)
    assert str(caught.value) == message


@pytest.mark.parametrize(("where", "message"), [
    (WHERE, "genweave.toml, [groups.core]: Expected `object`, got `int`"),
    ("genweave.toml, ", "genweave.toml: Expected `object`, got `int`"),
    ("", "top level: Expected `object`, got `int`"),
])
def test_a_wrong_shape_for_the_whole_table_names_the_table_alone(where: str,
                                                                 message: str) -> None:
    with pytest.raises(TopologyError) as caught:
        convert(5, Table, where)
    assert str(caught.value) == message


def test_the_error_is_raised_without_msgspecs_traceback_chained() -> None:
    with pytest.raises(TopologyError) as caught:
        convert({"replicas": 0}, Table, WHERE)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_an_unknown_key_in_a_nested_table_names_its_full_path() -> None:
    with pytest.raises(TopologyError) as caught:
        convert({"autoscale": {"max": 2, "targt": 1}}, Table, WHERE)
    assert str(caught.value) == "genweave.toml, [groups.core] autoscale.targt: unknown key"


def test_did_you_mean_suggests_the_closest_name() -> None:
    assert did_you_mean("Retriver", ["Generator", "Retriever"]) == " (did you mean 'Retriever'?)"


@pytest.mark.parametrize("choices", [["Generator", "Moderator"], []])
def test_did_you_mean_says_nothing_when_nothing_is_close(choices: list[str]) -> None:
    assert did_you_mean("xyzzy", choices) == ""


def test_did_you_mean_takes_any_iterable_once() -> None:
    assert did_you_mean("core", (name for name in ("cores", "model"))) == \
        " (did you mean 'cores'?)"
