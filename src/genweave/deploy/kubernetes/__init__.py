"""Kubernetes as an export: manifests and a container build file, from the app and a topology.

Not an operator: ``genweave kube export`` writes plain resources that
``kubectl apply`` takes, and ``genweave kube dockerfile`` the file the image
is built from.  Every pod runs the one worker command (``command``) for one
group; the parts read as:

- ``names``: resource names and labels, and the names Kubernetes refuses;
- ``command``: the worker command, its ports and the topology's mount path;
- ``access``: which groups may call which (the Ref graph);
- ``http``: which groups serve HTTP, on which ports;
- ``state``: where a stateful group keeps its state (a Secret's database URL, or
  a StatefulSet's volume for SQLite), refusing a SQLite file split across pods;
- ``workload``: Deployment or StatefulSet, PodDisruptionBudget, HorizontalPodAutoscaler;
- ``network``: headless and HTTP Services, NetworkPolicies;
- ``manifests``: all of it for an app, checked whole; ``writing``: the YAML files;
- ``dockerfile``: the image's build file.

docs/kubernetes.md says what each resource does and why, and what is verified.

Example::

    manifests = export_manifests(app, "examples.hello:app", preset("microservices", app),
                                 ExportOptions(image="registry.example/hello:1"))
    write_manifests(manifests, Path("k8s"), "examples.hello:app")
"""

from genweave.deploy.kubernetes.dockerfile import dockerfile, write_dockerfile
from genweave.deploy.kubernetes.manifests import ExportOptions, Manifests, export_manifests
from genweave.deploy.kubernetes.names import ExportError
from genweave.deploy.kubernetes.state import DatabaseSecret
from genweave.deploy.kubernetes.writing import render_yaml, write_manifests

__all__ = [
    "DatabaseSecret",
    "ExportError",
    "ExportOptions",
    "Manifests",
    "dockerfile",
    "export_manifests",
    "render_yaml",
    "write_dockerfile",
    "write_manifests",
]
