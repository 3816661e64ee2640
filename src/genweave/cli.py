"""The ``genweave`` command. Thin: it parses flags and calls programmatic functions."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from genweave._aio import loop_factory
from genweave.application import App, load_app
from genweave.deploy.attach import attach, default_rundir
from genweave.deploy.invoke import invoke
from genweave.deploy.kubernetes import (
    ExportOptions,
    dockerfile,
    export_manifests,
    write_dockerfile,
    write_manifests,
)
from genweave.deploy.kubernetes.dockerfile import DEFAULT_BASE_IMAGE
from genweave.deploy.local import DEFAULT_GRACE
from genweave.deploy.ray.service import RayService
from genweave.deploy.serve import ForegroundService
from genweave.deploy.worker import DISCOVERIES, WorkerOptions, serve_replica
from genweave.errors import GenweaveError
from genweave.runtime.authorization import CONTROL
from genweave.runtime.discovery import DEFAULT_PEER_PORT
from genweave.status import render_status
from genweave.terminal_chat import chat
from genweave.topology import PRESETS, Topology, resolve_topology

__all__ = ["main"]

DEFAULT_TOPOLOGY_FILE = "genweave.toml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genweave", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run an app under the local supervisor, or on Ray")
    run.add_argument("app", help="MODULE:APP, e.g. examples.hello:app")
    _topology_flags(run)
    run.add_argument("--on", choices=("local", "ray"), default="local",
                     help="where the replicas run: processes under the local supervisor, or "
                     "Ray actors (needs genweave[ray])")
    run.add_argument("--address", help="with --on ray: the Ray cluster (auto, HOST:6379, "
                     "ray://HOST:10001; default: the one RAY_ADDRESS names, else a new local one)")
    run.add_argument("--rundir", type=Path, help="where sockets live (default: per app in /tmp)")
    run.add_argument("--call", help="once ready, make this call and print the result: "
                     "'Component.method {\"arg\": value}'")

    call = commands.add_parser("call", help="call a method of a running app")
    call.add_argument("target", help="Component.method")
    call.add_argument("args", nargs="?", default="{}", help="JSON object of arguments")
    where = call.add_mutually_exclusive_group(required=True)
    where.add_argument("--app", help="name of the running app (as in App('name', ...))")
    where.add_argument("--rundir", type=Path, help="rundir of the running app")

    status = commands.add_parser("status", help="print a running app's groups, replicas, "
                                 "health and traffic")
    where = status.add_mutually_exclusive_group(required=True)
    where.add_argument("--app", help="name of the running app")
    where.add_argument("--rundir", type=Path, help="rundir of the running app")
    status.add_argument("--interval", type=float, default=1.0,
                        help="seconds over which request rates are measured")

    scale = commands.add_parser("scale", help="change a running group's replica count")
    scale.add_argument("group")
    scale.add_argument("replicas", type=int)
    where = scale.add_mutually_exclusive_group(required=True)
    where.add_argument("--app", help="name of the running app")
    where.add_argument("--rundir", type=Path, help="rundir of the running app")

    rollout = commands.add_parser(
        "rollout", help="replace a running group's replicas with a new version (new settings) "
        "without dropping a call")
    rollout.add_argument("group")
    rollout.add_argument("--set", action="append", default=[], dest="assignments",
                         metavar="COMPONENT.KEY=VALUE",
                         help="a setting of the new version (VALUE is JSON, else a string); "
                         "repeatable")
    rollout.add_argument("--config", "-c", type=Path, help="take the group's [components.NAME] "
                         "settings from this topology file")
    rollout.add_argument("--version", default="", help="name of the new version "
                         "(default: the current one plus one)")
    where = rollout.add_mutually_exclusive_group(required=True)
    where.add_argument("--app", help="name of the running app")
    where.add_argument("--rundir", type=Path, help="rundir of the running app")

    chat = commands.add_parser("chat", help="ask the app a question through its gateway")
    chat.add_argument("question")
    chat.add_argument("--url", default=os.environ.get("GENWEAVE_URL", "http://127.0.0.1:8000"))
    chat.add_argument("--key", default=os.environ.get("GENWEAVE_API_KEY"),
                      help="API key (default: $GENWEAVE_API_KEY)")
    chat.add_argument("--model", default="genweave-assistant")
    chat.add_argument("--no-retrieval", action="store_true", help="answer without documents")
    chat.add_argument("--max-tokens", type=int, default=200)

    topology = commands.add_parser("topology", help="validate a topology and print its groups")
    topology.add_argument("app", help="MODULE:APP")
    _topology_flags(topology)

    kube = commands.add_parser("kube", help="write Kubernetes manifests or the image's build file")
    kube_commands = kube.add_subparsers(dest="kube_command", required=True)
    export = kube_commands.add_parser("export", help="write each group's Deployment, Services, "
                                      "disruption budget, autoscaler and NetworkPolicy")
    export.add_argument("app", help="MODULE:APP")
    _topology_flags(export)
    export.add_argument("--image", default="", help="the container image (required)")
    export.add_argument("--namespace", help="default: the one kubectl is pointed at")
    export.add_argument("--output", "-o", type=Path, default=Path("k8s"), help="directory")
    export.add_argument("--grace", type=float, default=DEFAULT_GRACE,
                        help="seconds a stopping replica may finish its calls in")
    export.add_argument("--database-secret", metavar="NAME[:KEY]",
                        help="a Secret holding the PostgreSQL URL of the groups that keep state "
                        "(key default: url); without it such a group keeps SQLite on a volume, "
                        "one replica")
    export.add_argument("--tls", action="store_true",
                        help="mutual TLS between pods: each group mounts the Secret "
                        "APP-GROUP-tls made from 'genweave certs' files")
    build = kube_commands.add_parser("dockerfile", help="write the container build file")
    build.add_argument("app", help="MODULE:APP")
    _topology_flags(build)
    build.add_argument("--output", "-o", type=Path, default=Path("Dockerfile"))
    build.add_argument("--context", type=Path, default=Path("."),
                       help="the project directory the image is built from")
    build.add_argument("--base-image", default=DEFAULT_BASE_IMAGE)

    certs = commands.add_parser("certs", help="create an app's CA and its groups' certificates "
                                "for mutual TLS between replicas")
    certs_commands = certs.add_subparsers(dest="certs_command", required=True)
    init = certs_commands.add_parser("init", help="create the app's certificate authority")
    issue = certs_commands.add_parser("issue", help="issue a group's certificate from the CA")
    for command in (init, issue):
        command.add_argument("app", help="MODULE:APP, or the app's name")
        command.add_argument("--dir", type=Path, default=Path("certs"),
                             help="where the CA and certificates are (default: ./certs)")
    init.add_argument("--days", type=float, default=3650, help="how long the CA is valid")
    issue.add_argument("group", nargs="?", help="the group the certificate names")
    issue.add_argument("--control", action="store_true", help="issue the deployer's control "
                       "identity instead (the supervisor, genweave call, status, scale)")
    issue.add_argument("--days", type=float, default=90,
                       help="how long the certificate is valid")
    issue.add_argument("--host", action="append", default=[], help="a DNS name or IP address "
                       "to add beside the identity (repeatable)")

    worker = commands.add_parser("worker", help="run one replica of one group (what the local "
                                 "supervisor, Kubernetes and a VM's service manager start)")
    worker.add_argument("app", help="MODULE:APP")
    worker.add_argument("--group", required=True, help="the group this replica runs")
    worker.add_argument("--topology", "-t", help=f"a preset ({', '.join(PRESETS)}) or a .toml "
                        "file (default: monolith); --discovery local takes the supervisor's")
    worker.add_argument("--listen", required=True, help="where to serve calls: "
                        "tcp:HOST:PORT (e.g. tcp:0.0.0.0:7070) or unix:PATH")
    worker.add_argument("--advertise", help="HOST:PORT where callers reach this replica "
                        "(default: the listen address; required when it is 0.0.0.0)")
    worker.add_argument("--discovery", choices=DISCOVERIES, default="static",
                        help="how it finds other groups: the local supervisor, DNS (Kubernetes "
                        "headless Services) or static addresses (topology file or environment)")
    worker.add_argument("--probe-port", type=int, default=0, help="serve /healthz, /readyz and "
                        "/metrics on this port, beside --listen's host (default 0: none)")
    worker.add_argument("--grace", type=float, default=DEFAULT_GRACE,
                        help="seconds a stopping replica may finish its calls in")
    worker.add_argument("--variant", help="the experiment variant of the group it runs")
    worker.add_argument("--peer-port", type=int, default=DEFAULT_PEER_PORT,
                        help="the port other replicas serve calls on (DNS discovery)")
    return parser


def _topology_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topology", "-t", help=f"a preset ({', '.join(PRESETS)}) or a .toml "
                        "file; default: the config file's grouping, else monolith")
    parser.add_argument("--config", "-c", type=Path, help="topology file whose component "
                        f"settings apply (default: ./{DEFAULT_TOPOLOGY_FILE} if present)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Like uvicorn: the current directory is importable, so MODULE:APP works from a project root.
    sys.path.insert(0, os.getcwd())
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            if args.command == "run":
                return runner.run(_run(args))
            if args.command == "call":
                return runner.run(_call(args))
            if args.command == "status":
                return runner.run(_status(args))
            if args.command == "scale":
                return runner.run(_scale(args))
            if args.command == "rollout":
                return runner.run(_rollout(args))
            if args.command == "chat":
                return runner.run(chat(args.question, url=args.url, key=args.key,
                                       model=args.model, retrieval=not args.no_retrieval,
                                       max_tokens=args.max_tokens))
            if args.command == "kube":
                return _kube(args)
            if args.command == "worker":
                return runner.run(_worker(args))
            if args.command == "certs":
                return _certs(args)
            return _topology(args)
    except (GenweaveError, ValueError, ConnectionError) as exc:
        print(f"genweave: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


async def _worker(args: argparse.Namespace) -> int:
    return await serve_replica(WorkerOptions(
        app=args.app, group=args.group, listen=args.listen, discovery=args.discovery,
        topology=args.topology, advertise=args.advertise, probe_port=args.probe_port,
        grace=args.grace, variant=args.variant, peer_port=args.peer_port))


def _certs(args: argparse.Namespace) -> int:
    # Imported here: every replica runs this module, and only this command needs cryptography.
    from genweave.deploy.certs import create_ca, issue

    name = load_app(args.app).name if ":" in args.app else args.app
    if args.certs_command == "init":
        path = create_ca(name, args.dir, args.days)
        print(f"wrote {path} and its key; issue each group's certificate with: "
              f"genweave certs issue {args.app} GROUP --dir {args.dir}")
        return 0
    if args.control == (args.group is not None):
        raise ValueError("genweave certs issue: name a GROUP, or --control (not both)")
    files = issue(name, CONTROL if args.control else args.group, args.dir, args.days, args.host)
    print(f"wrote {files.certificate} and {files.key}")
    return 0


def _resolve(args: argparse.Namespace, app: App) -> Topology:
    config = args.config
    if config is None and Path(DEFAULT_TOPOLOGY_FILE).exists():
        config = Path(DEFAULT_TOPOLOGY_FILE)
    return resolve_topology(args.topology, app, config=config)


async def _run(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    topology = _resolve(args, app)
    if args.on == "ray":
        return await RayService(app, topology, args.app, address=args.address,
                                rundir=args.rundir, call=args.call).run()
    if args.address:
        raise ValueError("--address names a Ray cluster; add --on ray")
    return await ForegroundService(app, topology, args.app, args.rundir, args.call).run()


async def _call(args: argparse.Namespace) -> int:
    rundir = args.rundir or default_rundir(args.app)
    running = await attach(rundir)
    try:
        await invoke(running, f"{args.target} {args.args}", print)
    finally:
        await running.stop()
    return 0


async def _status(args: argparse.Namespace) -> int:
    running = await attach(args.rundir or default_rundir(args.app))
    try:
        await render_status(running, running.runtime, args.interval)
    finally:
        await running.stop()
    return 0


async def _scale(args: argparse.Namespace) -> int:
    running = await attach(args.rundir or default_rundir(args.app))
    try:
        status = await running.control.scale(args.group, args.replicas)
    finally:
        await running.stop()
    replicas = [r for r in status.replicas if r.group == args.group]
    print(f"{args.group}: {len(replicas)} replica(s): "
          + ", ".join(f"{r.name} {r.state} pid {r.pid}" for r in replicas))
    return 0


async def _rollout(args: argparse.Namespace) -> int:
    running = await attach(args.rundir or default_rundir(args.app))
    try:
        components = running.topology.group(args.group).components
        settings = _file_settings(args.config, components) if args.config else {}
        for name, table in parse_assignments(args.assignments).items():
            settings[name] = {**settings.get(name, {}), **table}
        print(f"{args.group}: rolling out; new replicas start beside the old ones", flush=True)
        status = await running.control.rollout(args.group, settings, args.version)
    finally:
        await running.stop()
    replicas = [r for r in status.replicas if r.group == args.group and not r.variant]
    print(f"{args.group}: version {replicas[0].version if replicas else '?'} serves: "
          + ", ".join(f"{r.name} {r.state} pid {r.pid}" for r in replicas))
    return 0


def parse_assignments(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["Generator.backend=transformers", "Generator.seed=3"]`` -> nested settings."""
    settings: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        component, dot, key = target.partition(".")
        if not sep or not dot or not component or not key:
            raise ValueError(f"--set {item!r}: expected COMPONENT.KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        settings.setdefault(component, {})[key] = value
    return settings


def _file_settings(path: Path, components: Sequence[str]) -> dict[str, dict[str, Any]]:
    try:
        tables = tomllib.loads(path.read_text()).get("components", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return {name: dict(tables[name]) for name in components if name in tables}


def _topology(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    topology = _resolve(args, app)
    print(f"topology '{topology.name}' for app '{app.name}' ({topology.transport} transport)")
    for group in topology.groups:
        options = group.describe()
        print(f"  {group.name:<16} x{group.replicas}  {', '.join(group.components)}"
              + (f"  [{options}]" if options else ""))
    for key, policy in topology.refs.items():
        print(f"  refs {key}: {msgspec.json.encode(policy).decode()}")
    return 0


def _kube(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    topology = _resolve(args, app)
    if args.kube_command == "dockerfile":
        write_dockerfile(dockerfile(app, args.app, topology, args.context, args.base_image),
                         args.output)
        print(f"wrote {args.output}; build it with: docker build -f {args.output} -t IMAGE "
              f"{args.context}")
        return 0
    manifests = export_manifests(app, args.app, topology,
                                 ExportOptions(args.image, args.namespace, args.grace,
                                               args.database_secret, tls=args.tls))
    for path in write_manifests(manifests, args.output, args.app):
        print(f"wrote {path}")
    for note in manifests.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"apply with: kubectl apply -f {args.output}")
    return 0
