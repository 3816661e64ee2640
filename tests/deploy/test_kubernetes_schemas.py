"""Every exported manifest passes kubernetes-validate --strict, for both apps under every topology.

kubernetes-validate carries Kubernetes' OpenAPI schemas inside the package, so
this needs no cluster and no network; strict mode also rejects fields the
schema does not know (a misspelt key would be silently dropped by a server).
The files are read back from disk, as ``kubectl apply -f`` would read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest
import yaml
from examples.hello import app as hello
from kubernetes_validate.utils import ValidationError, validate

from genweave.app import app as reference
from genweave.deploy.kubernetes import ExportOptions, export_manifests, write_manifests
from genweave.topology import PRESETS, load_topology, preset

KUBERNETES_VERSION: Final = "1.30.0"
"""The oldest minor version still widely run; every resource used is GA there."""
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

HELLO, REFERENCE = "examples.hello:app", "genweave.app:app"
APPS = {HELLO: hello, REFERENCE: reference}
SECRET = "assistant-db:url"
"""The reference app keeps state: with a Secret its groups use PostgreSQL; without one a
group holding SQLite files is a StatefulSet with a volume, and microservices is refused (its
Retriever and Ingestor would each have a file of their own: test_kubernetes_state.py)."""
CASES = [(HELLO, name, None) for name in PRESETS] + [
    (REFERENCE, name, secret) for name in PRESETS for secret in (None, SECRET)
    if (name, secret) != ("microservices", None)
] + [
    (REFERENCE, str(EXAMPLES / "operations.toml"), None),
    (REFERENCE, str(EXAMPLES / "operations.toml"), SECRET),
    (REFERENCE, str(EXAMPLES / "kubernetes.toml"), None),
    (REFERENCE, str(EXAMPLES / "kubernetes.toml"), SECRET),
]


@pytest.mark.parametrize(
    ("import_path", "topology", "secret"), CASES,
    ids=[f"{p.split('.')[0]}-{Path(t).stem}{'-secret' if s else ''}" for p, t, s in CASES])
def test_every_manifest_is_valid_against_the_schemas(
    import_path: str, topology: str, secret: str | None, tmp_path: Path
) -> None:
    app = APPS[import_path]
    chosen = load_topology(topology, app) if topology.endswith(".toml") else preset(topology, app)
    manifests = export_manifests(app, import_path, chosen, ExportOptions(
        "registry.example/app:1", namespace="genweave", database_secret=secret))
    written = write_manifests(manifests, tmp_path, import_path)
    kinds = set()
    for path in written:
        for document in yaml.safe_load_all(path.read_text()):
            kinds.add(document["kind"])
            validate(document, KUBERNETES_VERSION, strict=True)
    assert {"ConfigMap", "Service", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    assert ("StatefulSet" in kinds) == (import_path == REFERENCE and secret is None)
    assert "Deployment" in kinds or topology == "monolith"
    if any(g.autoscale for g in chosen.groups):
        assert "HorizontalPodAutoscaler" in kinds


def test_an_invalid_manifest_would_be_caught(tmp_path: Path) -> None:
    """The check is not vacuous: a misspelt field fails strict validation."""
    manifests = export_manifests(hello, "examples.hello:app", preset("monolith", hello),
                                 ExportOptions("registry.example/app:1"))
    deployment = manifests.files["group-main.yaml"][0]
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(ValidationError, match="'replica' was unexpected"):
        validate(deployment, KUBERNETES_VERSION, strict=True)
