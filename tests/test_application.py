"""An App: its components found through Refs, looked up by class or name, and loaded from
``MODULE:APP`` with errors that say what to fix."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sample_app
from sample_app import Front, Model, Store

from genweave import App, Ref, component
from genweave.application import load_app
from genweave.errors import DefinitionError


def test_ref_targets_are_included_transitively() -> None:
    app = App("sample", [Front])
    assert set(app.components) == {"Front", "Store", "Model"}
    assert app.components["Store"].cls is Store


def test_a_component_listed_twice_or_reached_twice_is_kept_once() -> None:
    app = App("sample", [Front, Model, Store, Front])
    assert sorted(app.components) == ["Front", "Model", "Store"]


def test_dependencies_are_the_ref_graph_by_name() -> None:
    assert App("sample", [Front]).dependencies() == {
        "Front": {"Model", "Store"}, "Store": {"Model"}, "Model": set()}


def test_spec_by_class_or_by_name() -> None:
    app = App("sample", [Front])
    assert app.spec(Model) is app.spec("Model") is app.components["Model"]


def test_renamed_components_are_known_by_their_component_name() -> None:
    @component(name="Speaker")
    class Voice:
        async def say(self, text: str) -> str:
            return text

    app = App("renamed", [Voice])
    assert list(app.components) == ["Speaker"] and app.spec(Voice).cls is Voice


def test_an_unknown_component_is_named_with_the_app() -> None:
    with pytest.raises(DefinitionError, match="app 'sample' has no component 'Modle'"):
        App("sample", [Front]).spec("Modle")


def test_a_class_of_another_app_is_not_found_either() -> None:
    @component
    class Lonely:
        async def ping(self) -> str:
            return "pong"

    with pytest.raises(DefinitionError, match="app 'sample' has no component 'Lonely'"):
        App("sample", [Front]).spec(Lonely)


def test_import_path_finds_the_module_attribute_that_holds_the_app() -> None:
    assert sample_app.app.import_path() == "sample_app:app"


def test_an_app_built_inside_a_function_has_no_import_path() -> None:
    @component
    class Local:
        helper: Ref[Model]

        async def ping(self) -> str:
            return "pong"

    assert App("local", [Local]).import_path() is None


def test_repr_shows_the_name_and_sorted_components() -> None:
    assert repr(App("sample", [Front])) == "App('sample', components=['Front', 'Model', 'Store'])"


# -- load_app ------------------------------------------------------------------------------


def test_load_app_returns_the_named_app() -> None:
    assert load_app("sample_app:app") is sample_app.app


@pytest.mark.parametrize("path", ["sample_app", ":app", "sample_app:", ""])
def test_a_path_without_module_and_attribute_shows_the_expected_form(path: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_app(path)
    assert str(caught.value) == f"'{path}': expected MODULE:APP, e.g. examples.hello:app"


@pytest.mark.parametrize("attribute", ["Model", "missing"])
def test_an_attribute_that_is_not_an_app_is_named(attribute: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_app(f"sample_app:{attribute}")
    assert str(caught.value) == (f"'sample_app:{attribute}': '{attribute}' in sample_app "
                                 "is not a genweave App")


ModuleWriter = Callable[[str, str], None]


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleWriter]:
    """Write importable modules into a fresh directory; forget them afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(relative: str, source: str) -> None:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        written.append(relative.removesuffix(".py").replace("/", ".").removesuffix(".__init__"))

    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_a_missing_package_says_where_to_run_from() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_app("gw_absent_pkg.app:app")
    assert str(caught.value) == ("'gw_absent_pkg.app:app': no module named 'gw_absent_pkg' "
                                 "(run from the directory that contains it, or install it)")


def test_a_missing_submodule_of_a_package_is_named(write_module: ModuleWriter) -> None:
    write_module("gw_present_pkg/__init__.py", "")
    with pytest.raises(DefinitionError, match="no module named 'gw_present_pkg.app'"):
        load_app("gw_present_pkg.app:app")


def test_a_module_that_imports_something_missing_shows_the_real_import_error(
    write_module: ModuleWriter,
) -> None:
    write_module("gw_needs_dep.py", "import gw_uninstalled_dependency\n")
    with pytest.raises(ModuleNotFoundError) as caught:
        load_app("gw_needs_dep:app")
    assert caught.value.name == "gw_uninstalled_dependency"


def test_a_missing_dependency_named_like_a_prefix_of_the_module_is_not_mistaken_for_it(
    write_module: ModuleWriter,
) -> None:
    write_module("gw_widgetapp.py", "import gw_widget\n")
    with pytest.raises(ModuleNotFoundError):
        load_app("gw_widgetapp:app")


def test_an_app_in_a_fresh_module_is_loaded(write_module: ModuleWriter) -> None:
    write_module("gw_hello.py", """
        from genweave import App, component

        @component
        class Greeter:
            async def hello(self, name: str) -> str:
                return f"hello {name}"

        app = App("hello", [Greeter])
    """)
    app = load_app("gw_hello:app")
    assert app.name == "hello" and list(app.components) == ["Greeter"]
    assert app.import_path() == "gw_hello:app"
