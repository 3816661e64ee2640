"""An application: the set of components that are deployed together.

Example::

    app = App("hello", [Frontend])   # Greeter is found through Frontend's Ref

``genweave run MODULE:APP`` imports the module and takes the ``App`` from it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

from genweave.component import ComponentSpec, spec_of
from genweave.errors import DefinitionError

__all__ = ["App", "load_app"]


class App:
    """Components by name, with every Ref target included transitively."""

    def __init__(self, name: str, components: Iterable[type]) -> None:
        self.name = name
        self.components: dict[str, ComponentSpec] = {}
        pending = list(components)
        while pending:
            spec = spec_of(pending.pop())
            existing = self.components.get(spec.name)
            if existing is not None:
                if existing.cls is not spec.cls:
                    raise DefinitionError(
                        f"app '{name}': two components are named '{spec.name}' "
                        f"({existing.cls.__module__} and {spec.cls.__module__})"
                    )
                continue
            self.components[spec.name] = spec
            pending.extend(spec.refs.values())

    def spec(self, cls_or_name: type | str) -> ComponentSpec:
        """The spec of a component of this app, by class or by name."""
        name = cls_or_name if isinstance(cls_or_name, str) else spec_of(cls_or_name).name
        try:
            return self.components[name]
        except KeyError:
            raise DefinitionError(f"app '{self.name}' has no component '{name}'") from None

    def dependencies(self) -> dict[str, set[str]]:
        """Component name -> names of the components it calls through Refs."""
        return {
            name: {spec_of(target).name for target in spec.refs.values()}
            for name, spec in self.components.items()
        }

    def import_path(self) -> str | None:
        """``module:attribute`` under which this app can be imported, if any."""
        for spec in self.components.values():
            module = sys.modules.get(spec.cls.__module__)
            if module is None or module.__name__ == "__main__":
                continue
            for attr, value in vars(module).items():
                if value is self:
                    return f"{module.__name__}:{attr}"
        return None

    def __repr__(self) -> str:
        return f"App({self.name!r}, components={sorted(self.components)})"


def load_app(path: str) -> App:
    """Import ``module:attribute`` and return the ``App`` it names."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise DefinitionError(f"'{path}': expected MODULE:APP, e.g. examples.hello:app")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name
        if missing is None or not (module_name == missing
                                   or module_name.startswith(missing + ".")):
            raise  # the module exists but imports something missing: show where
        raise DefinitionError(f"'{path}': no module named '{exc.name}' (run from the "
                              "directory that contains it, or install it)") from None
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise DefinitionError(f"'{path}': {attr!r} in {module_name} is not a genweave App")
    return app
