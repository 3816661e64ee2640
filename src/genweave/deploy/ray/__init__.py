"""Running on a Ray cluster: each group replica a Ray actor, calls over genweave's transport.

- ``cluster``: ``RayCluster``, the one class that calls into Ray (imported lazily);
- ``options``: the rule from a group's resources to a Ray actor's options;
- ``registry``: the membership registry actor every replica follows;
- ``discovery``: ``RayDiscovery``, a caller following that registry;
- ``replica``: the actor that hosts one replica with the same ``Worker`` as everywhere;
- ``deployer``: ``RayDeployer``, ``deploy(app, placement="ray")``.
"""

from __future__ import annotations

from genweave.deploy.ray.cluster import RAY_EXTRA, RayCluster
from genweave.deploy.ray.deployer import RayDeployer, RayReplica
from genweave.deploy.ray.discovery import RayDiscovery
from genweave.deploy.ray.options import actor_options

__all__ = ["RAY_EXTRA", "RayCluster", "RayDeployer", "RayDiscovery", "RayReplica",
           "actor_options"]
