"""How exported resources are named and labelled, and the names Kubernetes refuses.

Every group's resources are named ``<app>-<group>`` and a variant's
``<app>-<group>-<variant>``: that name is also its headless Service, so DNS
discovery finds a group's replicas by it.  Kubernetes takes such a name only
as a DNS label (RFC 1123: lowercase letters, digits and '-', at most 63
characters), so a topology that is fine on one machine (``[groups.my_group]``)
is refused here, before anything is written.

Pods carry ``app.kubernetes.io/name`` (the app), ``genweave.dev/group`` and
``genweave.dev/variant`` (which Deployment, Service and disruption budget they
belong to), plus ``genweave.dev/version`` and ``genweave.dev/interface`` (what
they run), which selectors never use so that a new version rolls in place.
"""

from __future__ import annotations

import re
from typing import Final

from genweave.errors import GenweaveError
from genweave.topology import PRIMARY_VARIANT

__all__ = [
    "APP_LABEL",
    "GROUP_LABEL",
    "INTERFACE_LABEL",
    "MANAGED_BY",
    "VARIANT_LABEL",
    "VERSION_LABEL",
    "ExportError",
    "check_label_value",
    "dns_label",
    "resource_name",
    "selector",
]

APP_LABEL: Final = "app.kubernetes.io/name"
GROUP_LABEL: Final = "genweave.dev/group"
VARIANT_LABEL: Final = "genweave.dev/variant"
VERSION_LABEL: Final = "genweave.dev/version"
INTERFACE_LABEL: Final = "genweave.dev/interface"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "genweave"}

MAX_NAME: Final = 63
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE: Final = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class ExportError(GenweaveError):
    """An app or topology cannot be exported as it is; nothing was written."""


def resource_name(app: str, group: str, variant: str | None = None, *,
                  suffix: str = "") -> str:
    """``<app>-<group>[-<variant>][-<suffix>]``, or ``ExportError`` naming what to rename.

    Example::

        resource_name("assistant", "generator", "small")   # "assistant-generator-small"
    """
    parts = [app, group] + ([variant] if variant else []) + ([suffix] if suffix else [])
    name = "-".join(parts)
    for kind, part in (("app", app), ("group", group), ("variant", variant)):
        if part is not None and not _DNS_LABEL.match(part):
            raise ExportError(
                f"{kind} '{part}': the Kubernetes name '{name}' is not a DNS label (lowercase "
                "letters, digits and '-', starting and ending with a letter or digit); "
                f"rename the {kind}")
    if len(name) > MAX_NAME:
        raise ExportError(f"the Kubernetes name '{name}' is {len(name)} characters, above "
                          f"{MAX_NAME}; shorten the app's, the group's or the variant's name")
    return name


def dns_label(value: str, what: str) -> str:
    """``value`` if it is a DNS label (a namespace, say), else ``ExportError`` naming ``what``."""
    if len(value) <= MAX_NAME and _DNS_LABEL.match(value):
        return value
    raise ExportError(f"{what} '{value}' is not a DNS label (at most {MAX_NAME} lowercase "
                      "letters, digits and '-', starting and ending with a letter or digit)")


def check_label_value(value: str, what: str) -> str:
    """``value`` if Kubernetes takes it as a label value, else ``ExportError`` naming ``what``."""
    if len(value) <= MAX_NAME and _LABEL_VALUE.match(value):
        return value
    raise ExportError(f"{what} '{value}' cannot be a Kubernetes label value (at most "
                      f"{MAX_NAME} letters, digits, '-', '_' or '.', starting and ending with a "
                      "letter or digit)")


def selector(app: str, group: str, variant: str | None = None) -> dict[str, str]:
    """The labels that pick the pods of one Deployment (a group's primary or one variant)."""
    return {APP_LABEL: app, GROUP_LABEL: group, VARIANT_LABEL: variant or PRIMARY_VARIANT}
