"""The exception hierarchy: one tree, typed remote errors, safe lookups."""

from __future__ import annotations

import copy
import pickle

from sample_app import QuotaError

from genweave.errors import (
    CallError,
    ComponentError,
    ConnectionLost,
    DeadlineExceeded,
    Unavailable,
    component_error,
    error_kind,
    find_exception_class,
)


def test_call_errors_render_target_and_place() -> None:
    error = Unavailable("no ready replica", component="Model", method="generate", where="m/0")
    assert str(error) == "Model.generate: no ready replica (at m/0)"
    assert error.status == 503


def test_component_error_mixes_in_importable_classes() -> None:
    error = component_error("sample_app.QuotaError", "over", component="Model", method="fail")
    assert isinstance(error, QuotaError) and isinstance(error, ComponentError)
    assert str(error) == "Model.fail: QuotaError: over"
    assert error_kind(error) == "ComponentError"


def test_unknown_or_unimported_classes_are_never_imported() -> None:
    assert find_exception_class("os.system") is None
    assert find_exception_class("some.unimported.module.Error") is None
    error = component_error("some.unimported.module.Error", "boom", component="C", method="m")
    assert type(error) is ComponentError


def test_classes_whose_init_wants_other_arguments_degrade_to_component_error() -> None:
    class Picky(Exception):
        def __init__(self, code: int, detail: str) -> None:
            super().__init__(code, detail)

    globals()["Picky"] = Picky
    Picky.__qualname__ = "Picky"
    try:
        error = component_error(f"{__name__}.Picky", "x", component="C", method="m")
    finally:
        del globals()["Picky"]
    assert type(error) is ComponentError


def test_errors_survive_copy_and_pickle() -> None:
    error = ConnectionLost("gone", component="C", method="m", where="g/1")
    for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert type(clone) is ConnectionLost
        assert (clone.component, clone.method, clone.where) == ("C", "m", "g/1")
    remote = ComponentError("bad", component="C", method="m", remote_type="builtins.ValueError")
    assert pickle.loads(pickle.dumps(remote)).remote_type == "builtins.ValueError"


def test_deadline_is_a_timeout_and_every_call_error_is_a_call_error() -> None:
    assert issubclass(DeadlineExceeded, TimeoutError)
    assert issubclass(ConnectionLost, Unavailable) and issubclass(Unavailable, CallError)
