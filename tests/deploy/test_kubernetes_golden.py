"""The full export of the hello example (microservices), byte for byte, as tests/golden holds it.

A change to the manifests shows up here as a diff to review.  To accept one,
regenerate the files and commit them with the change::

    GENWEAVE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/deploy/test_kubernetes_golden.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from examples.hello import app as hello

from genweave.deploy.kubernetes import ExportOptions, export_manifests, write_manifests
from genweave.topology import preset

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "kube-hello-microservices"
UPDATE_ENV = "GENWEAVE_UPDATE_GOLDEN"


def test_the_hello_example_exports_exactly_the_golden_files(tmp_path: Path) -> None:
    manifests = export_manifests(hello, "examples.hello:app", preset("microservices", hello),
                                 ExportOptions("registry.example/hello:1.0"))
    write_manifests(manifests, tmp_path, "examples.hello:app")
    if os.environ.get(UPDATE_ENV) == "1":
        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(tmp_path, GOLDEN)
    exported = {p.name: p.read_text() for p in sorted(tmp_path.iterdir())}
    golden = {p.name: p.read_text() for p in sorted(GOLDEN.iterdir())}
    assert sorted(exported) == sorted(golden), f"set {UPDATE_ENV}=1 to regenerate"
    for name, text in exported.items():
        assert text == golden[name], f"{name} differs; set {UPDATE_ENV}=1 to regenerate"
