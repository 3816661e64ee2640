"""genweave kube export: what each resource holds, read back from the files it writes.

The worker command is the contract ``genweave worker`` implements, word for
word; NetworkPolicies follow the Ref graph; the ConfigMap's topology loads
back to the topology exported; every bad input is refused before a file is
written.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import msgspec
import pytest
from examples.hello import app as hello
from kube_manifests import IMAGE, container, export, find

from genweave.app import app as reference
from genweave.cli import main
from genweave.deploy.kubernetes import ExportError, ExportOptions, export_manifests
from genweave.deploy.kubernetes.access import allowed_callers
from genweave.deploy.kubernetes.http import listening_everywhere
from genweave.topology import load_topology, preset
from genweave.transport.compat import interface_info

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_container_command_is_the_contracts_exactly(tmp_path: Path) -> None:
    documents = export(hello, "examples.hello:app", preset("microservices", hello), tmp_path)
    worker = container(documents, "hello-greeter")
    assert worker["command"] == [
        "genweave", "worker", "examples.hello:app", "--group", "greeter",
        "--topology", "/etc/genweave/topology.toml", "--listen", "tcp:0.0.0.0:7070",
        "--advertise", "$(POD_IP):7070", "--discovery", "dns", "--probe-port", "8080",
        "--grace", "10"]
    assert worker["env"] == [{"name": "POD_IP",
                              "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    assert worker["volumeMounts"] == [{"name": "topology", "mountPath": "/etc/genweave",
                                       "readOnly": True}]
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert {p["name"]: p["containerPort"] for p in worker["ports"]} == {"rpc": 7070,
                                                                        "probes": 8080}
    assert worker["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", "5"]}}
    pod = find(documents, "Deployment", "hello-greeter")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 10 + 5  # grace + the preStop sleep
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["volumes"][0]["configMap"]["name"] == "hello-topology"


def test_the_grace_period_and_namespace_are_options(tmp_path: Path) -> None:
    documents = export(hello, "examples.hello:app", preset("monolith", hello), tmp_path,
                       namespace="prod", grace=30.0)
    assert container(documents, "hello-main")["command"][-2:] == ["--grace", "30"]
    assert find(documents, "Deployment", "hello-main")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"] == 35
    assert {d["metadata"]["namespace"] for docs in documents.values() for d in docs} == {"prod"}


def test_each_group_is_a_deployment_a_headless_service_and_a_budget(tmp_path: Path) -> None:
    documents = export(hello, "examples.hello:app", preset("microservices", hello), tmp_path)
    assert sorted(documents) == ["group-counter.yaml", "group-frontend.yaml",
                                 "group-greeter.yaml", "shared.yaml"]
    assert [d["kind"] for d in documents["group-greeter.yaml"]] == [
        "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"]
    selector = {"app.kubernetes.io/name": "hello", "genweave.dev/group": "greeter",
                "genweave.dev/variant": "primary"}
    service = find(documents, "Service", "hello-greeter")["spec"]
    assert service == {"clusterIP": "None", "publishNotReadyAddresses": False,
                       "selector": selector, "ports": [{"name": "rpc", "port": 7070,
                                                        "targetPort": "rpc", "protocol": "TCP"}]}
    deployment = find(documents, "Deployment", "hello-greeter")["spec"]
    assert deployment["replicas"] == 1
    assert deployment["selector"] == {"matchLabels": selector}
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budget = find(documents, "PodDisruptionBudget", "hello-greeter")["spec"]
    assert budget == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}


def test_pods_are_labelled_with_app_group_version_and_interface(tmp_path: Path) -> None:
    topology = msgspec.structs.replace(preset("microservices", hello), groups=tuple(
        msgspec.structs.replace(g, version="7") if g.name == "greeter" else g
        for g in preset("microservices", hello).groups))
    documents = export(hello, "examples.hello:app", topology, tmp_path)
    labels = find(documents, "Deployment", "hello-greeter")["spec"]["template"]["metadata"][
        "labels"]
    fingerprint = interface_info(hello.components["Greeter"]).fingerprint
    assert labels == {
        "app.kubernetes.io/name": "hello", "app.kubernetes.io/managed-by": "genweave",
        "genweave.dev/group": "greeter", "genweave.dev/variant": "primary",
        "genweave.dev/version": "7",
        "genweave.dev/interface": hashlib.sha256(f"Greeter:{fingerprint}".encode()).hexdigest()[
            :12]}


def test_network_policies_follow_the_ref_graph(tmp_path: Path) -> None:
    documents = export(hello, "examples.hello:app", preset("microservices", hello), tmp_path)
    greeter = find(documents, "NetworkPolicy", "hello-greeter")["spec"]
    assert greeter["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "hello",
                                                      "genweave.dev/group": "greeter"}}
    assert greeter["policyTypes"] == ["Ingress"]
    assert greeter["ingress"] == [
        {"from": [{"podSelector": {
            "matchLabels": {"app.kubernetes.io/name": "hello"},
            "matchExpressions": [{"key": "genweave.dev/group", "operator": "In",
                                  "values": ["frontend"]}]}}],
         "ports": [{"port": 7070, "protocol": "TCP"}]},
        {"ports": [{"port": 8080, "protocol": "TCP"}]},  # probes and metrics, from anywhere
    ]
    frontend = find(documents, "NetworkPolicy", "hello-frontend")["spec"]
    assert frontend["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]  # no caller


def test_the_reference_apps_policies_and_http_service(tmp_path: Path) -> None:
    topology = preset("microservices", reference)
    documents = export(reference, "genweave.app:app", topology, tmp_path,
                       database_secret="assistant-db")  # its Retriever and Ingestor share a store
    callers = allowed_callers(reference, topology)
    for group in topology.groups:
        rules = find(documents, "NetworkPolicy", f"assistant-{group.name}")["spec"]["ingress"]
        rpc = [r for r in rules if r["ports"] == [{"port": 7070, "protocol": "TCP"}]]
        allowed = rpc[0]["from"][0]["podSelector"]["matchExpressions"][0]["values"] if rpc else []
        assert tuple(allowed) == callers[group.name]
        assert "gateway" in allowed  # the gateway collects every group's metrics
    gateway = find(documents, "NetworkPolicy", "assistant-gateway")["spec"]["ingress"]
    assert gateway[-1] == {"ports": [{"port": 8000, "protocol": "TCP"}]}  # from anywhere
    http = find(documents, "Service", "assistant-gateway-http")["spec"]
    assert http["type"] == "ClusterIP"
    assert http["ports"] == [{"name": "http-8000", "port": 8000, "targetPort": "http-8000",
                              "protocol": "TCP"}]
    assert {"name": "http-8000", "containerPort": 8000, "protocol": "TCP"} in container(
        documents, "assistant-gateway")["ports"]


def test_group_resources_are_requests_and_limits(tmp_path: Path) -> None:
    source = tmp_path / "gpu.toml"
    source.write_text('preset = "microservices"\n[groups.greeter]\ncpus = 0.5\n'
                      'memory = "512Mi"\ngpus = 1\n[groups.counter]\ncpus = 2\n')
    documents = export(hello, "examples.hello:app", load_topology(source, hello), tmp_path / "k")
    amounts = {"cpu": "500m", "memory": "512Mi", "nvidia.com/gpu": "1"}
    assert container(documents, "hello-greeter")["resources"] == {"requests": amounts,
                                                                  "limits": amounts}
    assert container(documents, "hello-counter")["resources"]["limits"] == {"cpu": "2"}
    assert "resources" not in container(documents, "hello-frontend")


def test_autoscaling_and_variants(tmp_path: Path) -> None:
    topology = load_topology(EXAMPLES / "operations.toml", reference)
    manifests = export_manifests(reference, "genweave.app:app", topology, ExportOptions(IMAGE))
    assert manifests.notes[1:] == [  # the first says where the core group keeps its state
        "group 'generator' autoscales on CPU utilisation, which is measured against a CPU "
        "request: it asks for 1 CPU per replica; set cpus in [groups.generator] to choose"]
    documents = export(reference, "genweave.app:app", topology, tmp_path)
    assert [d["kind"] for d in documents["group-generator.yaml"]] == [
        "Deployment", "Deployment", "Service", "Service", "PodDisruptionBudget",
        "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"]
    hpa = find(documents, "HorizontalPodAutoscaler", "assistant-generator")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 3)
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "assistant-generator"}
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa["behavior"] == {"scaleUp": {"stabilizationWindowSeconds": 2},
                               "scaleDown": {"stabilizationWindowSeconds": 30}}
    assert "replicas" not in find(documents, "Deployment", "assistant-generator")["spec"]
    assert container(documents, "assistant-generator")["resources"]["requests"] == {"cpu": "1"}
    variant = find(documents, "Deployment", "assistant-generator-unbatched")
    assert variant["spec"]["replicas"] == 1  # variants keep their count; no HPA
    assert variant["spec"]["selector"]["matchLabels"]["genweave.dev/variant"] == "unbatched"
    assert container(documents, "assistant-generator-unbatched")["command"][-2:] == [
        "--variant", "unbatched"]
    assert find(documents, "Service", "assistant-generator-unbatched")["spec"]["clusterIP"] == \
        "None"


@pytest.mark.parametrize(("name", "secret"), [("hybrid", None), ("microservices", "db")])
def test_the_config_map_holds_the_topology_and_loads_back_equal(
    name: str, secret: str | None, tmp_path: Path
) -> None:
    topology = preset(name, reference)
    documents = export(reference, "genweave.app:app", topology, tmp_path / "k",
                       database_secret=secret)
    config = find(documents, "ConfigMap", "assistant-topology")
    written = tmp_path / "topology.toml"
    written.write_text(config["data"]["topology.toml"])
    exported = listening_everywhere(
        reference, msgspec.structs.replace(topology, transport="tcp"))
    if secret is None:  # the SQLite files move onto the core group's volume
        on_volume = {"data_dir": "/var/lib/genweave"}
        exported = msgspec.structs.replace(exported, settings={
            **exported.settings, "Ingestor": on_volume, "Retriever": on_volume})
    assert load_topology(written, reference) == exported
    assert exported.settings["Gateway"]["host"] == "0.0.0.0"


def test_the_export_is_deterministic_and_keeps_only_its_own_files(tmp_path: Path) -> None:
    first = export(hello, "examples.hello:app", preset("microservices", hello), tmp_path)
    texts = {p.name: p.read_text() for p in tmp_path.glob("*.yaml")}
    assert export(hello, "examples.hello:app", preset("microservices", hello), tmp_path) == first
    assert {p.name: p.read_text() for p in tmp_path.glob("*.yaml")} == texts
    (tmp_path / "ingress.yaml").write_text("kind: Ingress\n")
    again = export(hello, "examples.hello:app", preset("monolith", hello), tmp_path)
    assert sorted(again) == ["group-main.yaml", "ingress.yaml", "shared.yaml"]  # stale gone


def test_a_file_genweave_did_not_write_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "shared.yaml").write_text("kind: Mine\n")
    with pytest.raises(ExportError, match="shared.yaml exists and was not written by genweave"):
        export(hello, "examples.hello:app", preset("monolith", hello), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.yaml"]
    assert (tmp_path / "shared.yaml").read_text() == "kind: Mine\n"


HELLO = '"Frontend", "Greeter", "Counter"'


@pytest.mark.parametrize(("topology", "arguments", "message"), [
    (f"[groups.my_group]\ncomponents = [{HELLO}]\n", [],
     "ExportError: group 'my_group': the Kubernetes name 'hello-my_group' is not a DNS label"),
    (f"[groups.{'g' * 60}]\ncomponents = [{HELLO}]\n", [],
     "is 66 characters, above 63"),
    ('preset = "microservices"\n[groups.greeter]\ngpus = 0.5\n', [],
     "TopologyError: .*, \\[groups.greeter\\] gpus: 0.5 is not a whole number: whole GPUs only"),
    ('preset = "microservices"\n', ["--image", ""],
     "ExportError: an image is required \\(--image REGISTRY/NAME:TAG\\)"),
    ('preset = "microservices"\n[groups.greter]\nreplicas = 2\n', [],
     "preset 'microservices' has no group 'greter' \\(did you mean 'greeter'\\?\\)"),
    (f"[groups.main]\ncomponents = [{HELLO}, \"Speller\"]\n", [],
     "component 'Speller' is not defined"),
    ('preset = "microservices"\n[groups.greeter.variants.Big_One]\nweight = 10\n', [],
     "ExportError: variant 'Big_One': the Kubernetes name 'hello-greeter-Big_One' is not a DNS "
     "label"),
    ('preset = "monolith"\n', ["--namespace", "Prod"], "namespace 'Prod' is not a DNS label"),
])
def test_bad_input_is_refused_before_anything_is_written(
    topology: str, arguments: list[str], message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.toml"
    source.write_text(topology)
    output = tmp_path / "k8s"
    image = [] if "--image" in arguments else ["--image", IMAGE]
    code = main(["kube", "export", "examples.hello:app", "-t", str(source), "-o", str(output),
                 *image, *arguments])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("genweave: ")
    assert re.search(message, err), err
    assert not output.exists()


def test_the_command_line_writes_the_files_and_says_how_to_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "k8s"
    assert main(["kube", "export", "examples.hello:app", "-t", "hybrid", "--image", IMAGE,
                 "-o", str(output)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {output / 'shared.yaml'}" in out
    assert f"apply with: kubectl apply -f {output}" in out
    assert sorted(p.name for p in output.iterdir()) == ["group-core.yaml", "group-greeter.yaml",
                                                        "shared.yaml"]


def test_a_grace_or_version_kubernetes_cannot_take_is_refused() -> None:
    topology = preset("monolith", hello)
    with pytest.raises(ExportError, match="the grace period must be 0 or more seconds, got -1"):
        export_manifests(hello, "examples.hello:app", topology, ExportOptions(IMAGE, grace=-1))
    odd = msgspec.structs.replace(topology, groups=(
        msgspec.structs.replace(topology.groups[0], version="v 2"),))
    with pytest.raises(ExportError, match="group 'main' version 'v 2' cannot be a Kubernetes "
                                          "label value"):
        export_manifests(hello, "examples.hello:app", odd, ExportOptions(IMAGE))
