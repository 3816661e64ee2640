"""What a kubelet would run for an exported workload: its container's argv and environment.

The multi-host test never writes a replica's command itself: it reads the
Deployments and StatefulSets that ``genweave kube export`` wrote and turns a
pod template into a process the way Kubernetes does:

- argv is the container's ``command`` then ``args``; ``$(NAME)`` in them is
  replaced by the container's env var ``NAME`` (Kubernetes' own expansion);
- env is the container's ``env``: plain values, and ``fieldRef:
  status.podIP`` as the pod's address;
- ``genweave`` is found on ``PATH`` as in the image: this virtual
  environment's ``bin`` goes first;
- volumes: a pod has no mount namespace of its own here, so each volume
  becomes a directory of the pod's (a ConfigMap's items written into it, a
  volume claim empty) and **the mount path is rewritten**: a path under a
  volume's ``mountPath`` becomes the same path under that directory, in argv
  and in the files the ConfigMap holds (the exported topology names the
  StatefulSet's ``/var/lib/genweave`` as ``data_dir``).  Nothing else changes.

Example::

    manifests = Manifests.read(Path("k8s"))
    pod = manifests.pod("generator", address="10.232.0.3", root=tmp / "generator-0")
    pod.argv  # ['genweave', 'worker', 'genweave.app:app', '--group', 'generator', ...]
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

__all__ = ["Manifests", "PodCommand", "expand"]

WORKLOADS: Final = ("Deployment", "StatefulSet")
GROUP_LABEL: Final = "genweave.dev/group"
_REFERENCE: Final = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """``$(NAME)`` replaced by ``env[NAME]`` where defined, as Kubernetes expands argv."""
    return _REFERENCE.sub(lambda found: env.get(found[1], found[0]), text)


@dataclass(frozen=True)
class PodCommand:
    """One pod's process: what to run, with what environment, and its probe port."""

    group: str
    argv: list[str]
    env: dict[str, str]
    probe_port: int
    kind: str
    pre_stop: list[str]
    """The ``preStop`` hook's command, run before SIGTERM as the kubelet does."""


class Manifests:
    """Every document of an export directory, by kind and name."""

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = documents

    @classmethod
    def read(cls, directory: Path) -> Manifests:
        documents = [document for path in sorted(directory.glob("*.yaml"))
                     for document in yaml.safe_load_all(path.read_text()) if document]
        return cls(documents)

    def replicas(self) -> dict[str, int]:
        """Each group (of a Deployment or StatefulSet) -> its ``spec.replicas``."""
        return {document["metadata"]["labels"][GROUP_LABEL]: int(document["spec"]["replicas"])
                for document in self.documents if document["kind"] in WORKLOADS}

    def headless_service(self, group: str) -> str:
        """The name of the group's headless Service (its pods' A records)."""
        for document in self.documents:
            spec = document.get("spec", {})
            if (document["kind"] == "Service" and spec.get("clusterIP") == "None"
                    and spec["selector"].get(GROUP_LABEL) == group):
                return str(document["metadata"]["name"])
        raise LookupError(f"no headless Service for group {group!r} in the export")

    def workload(self, group: str) -> dict[str, Any]:
        """The group's primary Deployment or StatefulSet."""
        for document in self.documents:
            labels = document["metadata"].get("labels", {})
            if document["kind"] in WORKLOADS and labels.get(GROUP_LABEL) == group:
                return document
        raise LookupError(f"no Deployment or StatefulSet for group {group!r} in the export")

    def config_map(self, name: str) -> dict[str, str]:
        for document in self.documents:
            if document["kind"] == "ConfigMap" and document["metadata"]["name"] == name:
                data: dict[str, str] = document["data"]
                return data
        raise LookupError(f"no ConfigMap {name!r} in the export")

    def pod(self, group: str, address: str, root: Path) -> PodCommand:
        """The group's container as a process of the pod at ``address`` (volumes under
        ``root``)."""
        workload = self.workload(group)
        spec = workload["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        env = {item["name"]: _value(item, address) for item in container.get("env", [])}
        mounts = self._volumes(spec, container, root)
        argv = [_rewrite(expand(word, env), mounts)
                for word in [*container.get("command", []), *container.get("args", [])]]
        probe = next(port["containerPort"] for port in container["ports"]
                     if port["name"] == container["readinessProbe"]["httpGet"]["port"])
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        hook = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        return PodCommand(group, argv, {**env, "PATH": path}, int(probe), workload["kind"],
                          list(hook.get("command", [])))

    def _volumes(self, spec: dict[str, Any], container: dict[str, Any],
                 root: Path) -> dict[str, Path]:
        """Each mount path -> the pod's directory for it, ConfigMap files written in."""
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        mounts = {mount["mountPath"]: root / mount["name"]
                  for mount in container.get("volumeMounts", [])}
        for mount in container.get("volumeMounts", []):
            directory = mounts[mount["mountPath"]]
            directory.mkdir(parents=True, exist_ok=True)
            source = volumes.get(mount["name"], {}).get("configMap")
            if source is not None:
                data = self.config_map(source["name"])
                for item in source.get("items", [{"key": k, "path": k} for k in data]):
                    (directory / item["path"]).write_text(_rewrite(data[item["key"]], mounts))
        return mounts


def _value(item: dict[str, Any], address: str) -> str:
    if "value" in item:
        return str(item["value"])
    field = item["valueFrom"]["fieldRef"]["fieldPath"]
    if field != "status.podIP":
        raise LookupError(f"env {item['name']} asks for {field}, which this test cannot give")
    return address


def _rewrite(text: str, mounts: dict[str, Path]) -> str:
    for mount_path, directory in mounts.items():
        text = text.replace(mount_path, str(directory))
    return text
