"""Topologies that need no file: ``monolith``, ``microservices`` and ``hybrid``.

- ``monolith``: every component in one group, ``main``;
- ``microservices``: one group per component, named after it (``Generator`` ->
  ``generator``, ``PostProcessor`` -> ``post-processor``);
- ``hybrid``: a ``core`` group, with each ``role="inference"`` component split
  into a group of its own (models scale and fail apart from the rest).
"""

from __future__ import annotations

import re
from typing import Final

from genweave.application import App
from genweave.errors import TopologyError
from genweave.topology._errors import did_you_mean
from genweave.topology.model import Group, Topology

__all__ = ["INFERENCE_ROLE", "PRESETS", "preset"]

PRESETS: Final = ("monolith", "microservices", "hybrid")
INFERENCE_ROLE: Final = "inference"


def preset(name: str, app: App) -> Topology:
    """Build one of the ``PRESETS`` for ``app``.

    Example::

        preset("hybrid", app).group_of("Generator").name   # "generator"
    """
    names = sorted(app.components)
    if name == "monolith":
        groups = [Group("main", tuple(names))]
    elif name == "microservices":
        groups = [Group(_group_name(n), (n,)) for n in names]
    elif name == "hybrid":
        inference = [n for n in names if app.components[n].role == INFERENCE_ROLE]
        core = tuple(n for n in names if n not in inference)
        groups = ([Group("core", core)] if core else []) + [
            Group(_group_name(n), (n,)) for n in inference
        ]
    else:
        raise TopologyError(
            f"unknown topology preset '{name}'{did_you_mean(name, PRESETS)}; "
            f"choose one of {', '.join(PRESETS)} or give a .toml file"
        )
    return Topology(name, tuple(groups))


def _group_name(component: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", component).lower()
