"""genweave kube export and state: a Secret's database URL, or a StatefulSet with a volume.

With ``--database-secret`` every stateful group's containers read
``GENWEAVE_DATABASE_URL`` from the Secret and may have replicas; without it a
group holding SQLite files is one StatefulSet pod with a volume where its
``data_dir`` points, and a SQLite store that pods on several nodes would each
have a copy of is refused before a file is written.  Manifests are read back
from the files, as ``kubectl apply`` reads them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest
import stateful_app
import yaml
from kube_manifests import IMAGE, Documents, container, export, find

from genweave.app import app as reference
from genweave.cli import main
from genweave.deploy.kubernetes import DatabaseSecret, ExportError, ExportOptions, export_manifests
from genweave.topology import Autoscale, Topology, Variant, preset

SECRET_ENV = {"name": "GENWEAVE_DATABASE_URL",
              "valueFrom": {"secretKeyRef": {"name": "assistant-db", "key": "url"}}}


def changed(topology: Topology, group: str, **changes: Any) -> Topology:
    return msgspec.structs.replace(topology, groups=tuple(
        msgspec.structs.replace(g, **changes) if g.name == group else g
        for g in topology.groups))


def exported_settings(documents: Documents) -> dict[str, Any]:
    config = find(documents, "ConfigMap", "assistant-topology")["data"]["topology.toml"]
    settings: dict[str, Any] = tomllib.loads(config).get("components", {})
    return settings


def kinds(documents: Documents) -> dict[str, str]:
    """Workload name -> Deployment or StatefulSet."""
    return {d["metadata"]["name"]: d["kind"] for docs in documents.values() for d in docs
            if d["kind"] in ("Deployment", "StatefulSet")}


def test_without_a_secret_the_group_holding_sqlite_is_a_stateful_set_with_a_volume(
    tmp_path: Path
) -> None:
    documents = export(reference, "genweave.app:app", preset("hybrid", reference), tmp_path)
    assert kinds(documents) == {"assistant-core": "StatefulSet", "assistant-embedder": "Deployment",
                                "assistant-generator": "Deployment",
                                "assistant-illustrator": "Deployment"}
    core = find(documents, "StatefulSet", "assistant-core")["spec"]
    assert core["replicas"] == 1
    assert core["serviceName"] == "assistant-core"
    assert find(documents, "Service", "assistant-core")["spec"]["clusterIP"] == "None"
    assert core["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert core["volumeClaimTemplates"][0]["spec"] == {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    worker = container(documents, "assistant-core", "StatefulSet")
    assert {"name": "data", "mountPath": "/var/lib/genweave"} in worker["volumeMounts"]
    assert "GENWEAVE_DATABASE_URL" not in {e["name"] for e in worker["env"]}
    security = core["template"]["spec"]["securityContext"]
    assert (security["fsGroup"], security["runAsUser"]) == (10001, 10001)  # it may write there
    assert exported_settings(documents)["Retriever"] == {"data_dir": "/var/lib/genweave"}
    assert exported_settings(documents)["Ingestor"] == {"data_dir": "/var/lib/genweave"}
    group = [d["kind"] for d in documents["group-core.yaml"]]
    assert group == ["StatefulSet", "Service", "Service", "PodDisruptionBudget", "NetworkPolicy"]
    embedder = find(documents, "Deployment", "assistant-embedder")["spec"]["template"]["spec"]
    assert "fsGroup" not in embedder["securityContext"]


def test_with_a_secret_every_stateful_groups_containers_read_the_url_from_it(
    tmp_path: Path
) -> None:
    topology = changed(preset("microservices", reference), "retriever", replicas=3,
                       variants=(Variant("fresh", weight=10),))
    documents = export(reference, "genweave.app:app", topology, tmp_path,
                       database_secret="assistant-db")
    assert set(kinds(documents).values()) == {"Deployment"}
    for name in ("assistant-retriever", "assistant-retriever-fresh", "assistant-ingestor"):
        assert SECRET_ENV in container(documents, name)["env"]
    for name in ("assistant-gateway", "assistant-embedder", "assistant-assistant"):
        assert [e["name"] for e in container(documents, name)["env"]] == ["POD_IP"]
    assert find(documents, "Deployment", "assistant-retriever")["spec"]["replicas"] == 3
    assert "Retriever" not in exported_settings(documents)  # data_dir unchanged: not used
    text = "".join(path.read_text() for path in tmp_path.glob("*.yaml"))
    assert "postgresql://" not in text


def test_the_secrets_key_may_be_named() -> None:
    assert DatabaseSecret.parse("assistant-db") == DatabaseSecret("assistant-db", "url")
    assert DatabaseSecret.parse("db.prod:DATABASE_URL").env() == {
        "name": "GENWEAVE_DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "db.prod", "key": "DATABASE_URL"}}}


@pytest.mark.parametrize(("text", "message"), [
    ("Assistant_DB", "'Assistant_DB' is not a Secret name"),
    (":url", "'' is not a Secret name"),
    ("db:the url", "'the url' is not a Secret key"),
    ("db:", "'' is not a Secret key"),
])
def test_a_secret_kubernetes_would_refuse_is_an_error(text: str, message: str) -> None:
    with pytest.raises(ExportError, match=re.escape(message)):
        DatabaseSecret.parse(text)


def test_the_exporting_processs_own_database_url_does_not_reach_the_pods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pods get their environment from the manifest, so the export ignores its own."""
    monkeypatch.setenv("GENWEAVE_DATABASE_URL", "postgresql://genweave@db/genweave")
    documents = export(reference, "genweave.app:app", preset("hybrid", reference), tmp_path)
    assert kinds(documents)["assistant-core"] == "StatefulSet"
    with pytest.raises(ExportError, match="groups 'ingestor' and 'retriever' keep state"):
        export_manifests(reference, "genweave.app:app", preset("microservices", reference),
                         ExportOptions(IMAGE))


def test_a_group_whose_settings_name_postgresql_needs_no_secret_and_no_volume(
    tmp_path: Path
) -> None:
    url = "postgresql://genweave@db.internal/genweave"
    topology = msgspec.structs.replace(
        changed(preset("hybrid", reference), "core", replicas=2),
        settings={"Retriever": {"database_url": url}, "Ingestor": {"database_url": url}})
    documents = export(reference, "genweave.app:app", topology, tmp_path)
    assert kinds(documents)["assistant-core"] == "Deployment"
    assert [e["name"] for e in container(documents, "assistant-core")["env"]] == ["POD_IP"]


def test_an_autoscaler_of_a_stateful_set_targets_it(tmp_path: Path) -> None:
    topology = changed(preset("hybrid", reference), "core", autoscale=Autoscale(min=1, max=1))
    documents = export(reference, "genweave.app:app", topology, tmp_path)
    target = find(documents, "HorizontalPodAutoscaler", "assistant-core")["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "assistant-core"}
    assert "replicas" not in find(documents, "StatefulSet", "assistant-core")["spec"]


def test_the_volume_size_is_an_option() -> None:
    manifests = export_manifests(reference, "genweave.app:app", preset("monolith", reference),
                                 ExportOptions(IMAGE, volume_size="20Gi"))
    [stateful] = manifests.files["group-main.yaml"][:1]
    assert stateful["spec"]["volumeClaimTemplates"][0]["spec"]["resources"] == {
        "requests": {"storage": "20Gi"}}
    assert manifests.notes[0] == (
        "group 'main' keeps state in SQLite (Ingestor, Retriever): it runs as a StatefulSet of "
        "one replica with a 20Gi volume at /var/lib/genweave; for more replicas, give it "
        "PostgreSQL with --database-secret NAME[:KEY]")
    with pytest.raises(ExportError, match="volume size: '20GB' is not a Kubernetes quantity"):
        export_manifests(reference, "genweave.app:app", preset("monolith", reference),
                         ExportOptions(IMAGE, volume_size="20GB"))


@pytest.mark.parametrize(("settings", "message"), [
    ({"Cache": {"database_url": "/srv/cache.db"}},
     "group 'main': component 'Cache' names the SQLite file '/srv/cache.db' in its database_url "
     "setting, which a pod would lose with its container"),
    ({}, "group 'main': component 'Cache' keeps state in a local SQLite file but has no "
         "data_dir setting, so the export cannot put it on a persistent volume"),
    ({"Cache": {"database_url": "postgresql://db/cache"}, "Indexer": {"data_dir": "index"}},
     "group 'main' keeps SQLite files under several data_dirs \\('index', 'state'\\), and a "
     "pod has one persistent volume"),
])
def test_sqlite_the_export_cannot_put_on_the_volume_is_refused(
    settings: dict[str, Any], message: str
) -> None:
    app = stateful_app.app
    topology = msgspec.structs.replace(preset("monolith", app), settings=settings)
    with pytest.raises(ExportError, match=message):
        export_manifests(app, "stateful_app:app", topology, ExportOptions(IMAGE))


REFERENCE = '"Assistant", "Gateway", "Ingestor", "Moderator", "PostProcessor", "Retriever"'
INFERENCE = '"Embedder", "Generator", "Illustrator"'


@pytest.mark.parametrize(("topology", "message"), [
    ('preset = "microservices"\n',
     "ExportError: groups 'ingestor' and 'retriever' keep state in a local SQLite file under "
     "'.genweave-data' (components 'Ingestor' and 'Retriever') but would run on more than one "
     "host (separate groups never share a replica)"),
    ('preset = "hybrid"\n[groups.core]\nreplicas = 2\n',
     "ExportError: group 'core' keeps state in a local SQLite file under '.genweave-data' "
     "(components 'Ingestor' and 'Retriever') but would run on more than one host (group "
     "'core' has replicas = 2)"),
    ('preset = "hybrid"\n[groups.core]\nautoscale = { max = 4 }\n',
     "(group 'core' autoscales up to 4 replicas)"),
    ('preset = "hybrid"\n[groups.core.variants.fresh]\nweight = 5\n',
     "(group 'core' has a variant 'fresh', with replicas of its own)"),
    (f"[groups.front]\ncomponents = [{REFERENCE}]\n[groups.models]\ncomponents = [{INFERENCE}]\n"
     '[groups.front.variants.b]\nreplicas = 2\n', "group 'front' has a variant 'b'"),
])
def test_a_split_sqlite_store_is_refused_naming_the_fix_before_anything_is_written(
    topology: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "topology.toml"
    source.write_text(topology)
    output = tmp_path / "k8s"
    assert main(["kube", "export", "genweave.app:app", "-t", str(source), "--image", IMAGE,
                 "-o", str(output)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("genweave: ExportError: ")
    assert message in err, err
    assert 'Keep the state in PostgreSQL (database_url = "postgresql://..." in ' in err
    assert "or place them in one group of one replica, with a persistent volume" in err
    assert "give the groups PostgreSQL with --database-secret NAME[:KEY]" in err
    assert not output.exists()


def test_the_command_line_takes_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "k8s"
    assert main(["kube", "export", "genweave.app:app", "-t", "microservices", "--image", IMAGE,
                 "-o", str(output), "--database-secret", "assistant-db"]) == 0
    assert "SQLite" not in capsys.readouterr().err  # no group keeps a volume
    documents = {"group-retriever.yaml": list(yaml.safe_load_all(
        (output / "group-retriever.yaml").read_text()))}
    assert SECRET_ENV in container(documents, "assistant-retriever")["env"]
