"""genweave: write a generative-AI app once as components; run it as a monolith,
as microservices, or any hybrid, chosen in a config file."""

from genweave.application import App
from genweave.component import Ref, component, method
from genweave.context import call_metadata, deadline, with_metadata
from genweave.deploy import Deployment, deploy, deployment
from genweave.errors import (
    CallError,
    CircuitOpen,
    ComponentError,
    ConnectionLost,
    DeadlineExceeded,
    DefinitionError,
    GenweaveError,
    InterfaceMismatch,
    InvalidArgument,
    MessageTooLarge,
    NotFound,
    Overloaded,
    PermissionDenied,
    ProtocolError,
    TopologyError,
    Unavailable,
)
from genweave.topology import Topology

__version__ = "0.1.0"

__all__ = [
    "App",
    "CallError",
    "CircuitOpen",
    "ComponentError",
    "ConnectionLost",
    "DeadlineExceeded",
    "DefinitionError",
    "Deployment",
    "GenweaveError",
    "InterfaceMismatch",
    "InvalidArgument",
    "MessageTooLarge",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "ProtocolError",
    "Ref",
    "Topology",
    "TopologyError",
    "Unavailable",
    "call_metadata",
    "component",
    "deadline",
    "deploy",
    "deployment",
    "method",
    "with_metadata",
]
