"""The Kubernetes export with mutual TLS: each group's pods mount their certificate Secret."""

from __future__ import annotations

from pathlib import Path

import yaml
from examples.hello import app as hello
from kube_manifests import container, export, find
from kubernetes_validate.utils import validate

from genweave.cli import main
from genweave.deploy.kubernetes import ExportOptions, export_manifests
from genweave.deploy.rundir import TLS_DIR_ENV
from genweave.topology import preset

HELLO = "examples.hello:app"


def test_each_groups_pods_mount_their_secret_and_know_where(tmp_path: Path) -> None:
    documents = export(hello, HELLO, preset("microservices", hello), tmp_path, tls=True)
    pod = find(documents, "Deployment", "hello-greeter")["spec"]["template"]["spec"]
    worker = container(documents, "hello-greeter")
    assert {"name": TLS_DIR_ENV, "value": "/etc/genweave/tls"} in worker["env"]
    assert {"name": "tls", "mountPath": "/etc/genweave/tls", "readOnly": True} \
        in worker["volumeMounts"]
    assert {"name": "tls", "secret": {"secretName": "hello-greeter-tls", "defaultMode": 0o440}} \
        in pod["volumes"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    for docs in documents.values():
        for document in docs:
            validate(document, "1.30.0", strict=True)


def test_the_export_says_how_to_create_the_secrets() -> None:
    manifests = export_manifests(hello, HELLO, preset("microservices", hello),
                                 ExportOptions("registry.example/hello:1.0", tls=True))
    assert any("kubectl create secret generic hello-GROUP-tls" in n for n in manifests.notes)


def test_without_tls_nothing_is_mounted(tmp_path: Path) -> None:
    documents = export(hello, HELLO, preset("microservices", hello), tmp_path)
    assert all(env["name"] != TLS_DIR_ENV for env in container(documents, "hello-greeter")["env"])


def test_the_command_line_turns_it_on_with_tls(tmp_path: Path) -> None:
    assert main(["kube", "export", HELLO, "-t", "microservices", "--image", "registry.example/h:1",
                 "--tls", "-o", str(tmp_path)]) == 0
    deployment = next(d for d in yaml.safe_load_all((tmp_path / "group-greeter.yaml").read_text())
                      if d["kind"] == "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "tls", "secret": {"secretName": "hello-greeter-tls", "defaultMode": 0o440}} \
        in volumes
