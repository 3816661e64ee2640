"""Export manifests into a directory and read them back, as ``kubectl apply -f`` reads them.

Shared by the Kubernetes export tests (``tests/deploy/test_kubernetes_*.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

from genweave.application import App
from genweave.deploy.kubernetes import ExportOptions, export_manifests, write_manifests
from genweave.topology import Topology

__all__ = ["IMAGE", "Documents", "container", "export", "find"]

IMAGE: Final = "registry.example/hello:1.0"

Documents = dict[str, list[dict[str, Any]]]
"""File name -> the YAML documents it holds."""


def export(app: App, import_path: str, topology: Topology, directory: Path,
           **options: Any) -> Documents:
    """Export into ``directory`` and read every file back as YAML documents."""
    manifests = export_manifests(app, import_path, topology, ExportOptions(IMAGE, **options))
    write_manifests(manifests, directory, import_path)
    return {path.name: list(yaml.safe_load_all(path.read_text()))
            for path in sorted(directory.glob("*.yaml"))}


def find(documents: Documents, kind: str, name: str) -> dict[str, Any]:
    """The one resource of ``kind`` named ``name``."""
    matches = [d for docs in documents.values() for d in docs
               if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def container(documents: Documents, name: str, kind: str = "Deployment") -> dict[str, Any]:
    """The one container of the pods of workload ``name``."""
    pod = find(documents, kind, name)["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    result: dict[str, Any] = pod["containers"][0]
    return result
