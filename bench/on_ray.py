"""genweave calls between Ray actors against Ray actor calls and Ray Serve, on two Ray nodes.

Ray places the replicas; genweave carries the calls.  This bench measures what
that buys, in one run on a local two-node cluster (``ray.cluster_utils``, a
custom resource per node so that caller and callee are on distinct nodes):

1. ``genweave hop``: ``Prober`` (a replica on node a) calls ``Echo`` (a
   replica on node b) through a Ref, over genweave's TCP transport, and times
   each call inside its own process;
2. ``ray actor call`` (the floor to beat): a Ray actor on node a calls a Ray
   actor on node b, ``ray.get(echo.echo.remote(payload))``, timed the same way;
3. ``ray actor call from the driver``: the same call from this process, as
   most Ray code makes it;
4. ``HTTP -> A -> B``: ``POST /work`` into ``bench/gateway_app.py``'s
   Gateway, which calls A, which calls B (Gateway and B on node a, A on node
   b), every replica a Ray actor, against the same three steps as Ray Serve
   deployments (an ingress deployment calling A's handle calling B's, the same
   pinning), both through the same keep-alive HTTP client, one request at a time.

Same payload (``PAYLOAD_BYTES`` bytes), sequential calls, median of repeats.
Goals: the genweave hop's p50 at most ``MAX_HOP_RATIO`` x the Ray actor call's;
HTTP -> A -> B's p50 on genweave at most ``MAX_HTTP_RATIO`` x Ray Serve's.

Run::

    .venv/bin/python bench/on_ray.py          # about two minutes; writes results/on_ray.*
    .venv/bin/python bench/on_ray.py --quick  # smoke run; saves only with --out
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import ray
from _common import (
    Run,
    bench_main,
    environment,
    goal,
    goals_table,
    markdown_table,
    median_summary,
    sequential,
)
from _http_client import KeepAliveClient, post
from ray import serve
from ray.cluster_utils import Cluster

import genweave
from genweave.deploy.ray import RayDeployer

BENCH_DIR: Final = Path(__file__).resolve().parent
PAYLOAD_BYTES: Final = 32
MAX_HOP_RATIO: Final = 0.2
MAX_HTTP_RATIO: Final = 0.1
WORK: Final = post("/work", b'{"text": "' + b"x" * PAYLOAD_BYTES + b'"}')
NODE_A: Final = "node_a"
NODE_B: Final = "node_b"


@dataclass(frozen=True)
class Sizes:
    name: str
    repeats: int
    calls: int


FULL: Final = Sizes("full", repeats=3, calls=1_000)
QUICK: Final = Sizes("quick", repeats=1, calls=200)


class RayEcho:
    def echo(self, payload: bytes) -> bytes:
        return payload


class RayProber:
    def hops(self, target: Any, payload: bytes, n: int) -> list[int]:
        clock = time.perf_counter_ns
        latencies = []
        for _ in range(n):
            start = clock()
            ray.get(target.echo.remote(payload))
            latencies.append(clock() - start)
        return latencies


@serve.deployment(ray_actor_options={"resources": {NODE_A: 1}, "num_cpus": 0})
class ServeB:
    async def transform(self, text: str) -> str:
        return text.upper()


@serve.deployment(ray_actor_options={"resources": {NODE_B: 1}, "num_cpus": 0})
class ServeA:
    def __init__(self, b: Any) -> None:
        self.b = b

    async def handle(self, text: str) -> dict[str, Any]:
        return {"text": await self.b.transform.remote(text), "chars": len(text)}


@serve.deployment(ray_actor_options={"resources": {NODE_A: 1}, "num_cpus": 0})
class ServeIngress:
    def __init__(self, a: Any) -> None:
        self.a = a

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        body = await request.json()
        return JSONResponse(await self.a.handle.remote(body["text"]))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _timed(latencies: list[int]) -> dict[str, float]:
    return Run(latencies, sum(latencies)).summary()


async def _http(url: str, calls: int) -> dict[str, float]:
    client = await KeepAliveClient.connect(url, 1)
    try:
        await sequential(client.call, WORK, calls // 4)  # warm up
        return (await sequential(client.call, WORK, calls)).summary()
    finally:
        client.close()


async def measure(sizes: Sizes) -> dict[str, Any]:
    # Ray's workers import the apps (ray_app) from here, like the bench itself.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(BENCH_DIR), os.environ.get("PYTHONPATH")) if p)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "resources": {NODE_A: 10}, "include_dashboard": False})
    cluster.add_node(num_cpus=2, resources={NODE_B: 10})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    payload = b"x" * PAYLOAD_BYTES
    runs: dict[str, list[dict[str, float]]] = {
        "genweave": [], "ray": [], "ray_driver": [], "genweave_http": [], "serve_http": []}
    try:
        async with contextlib.AsyncExitStack() as stack:
            await _hops(stack, sizes, payload, runs)
            await _http_paths(stack, sizes, runs)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return {
        "bench": "on_ray",
        "environment": environment(ray=ray.__version__, repeats=sizes.repeats,
                                   calls=sizes.calls, payload_bytes=PAYLOAD_BYTES,
                                   sizes=sizes.name, nodes=2),
        "cases": {key: {"median": median_summary(r), "repeats": r} for key, r in runs.items()},
    }


async def _hops(stack: contextlib.AsyncExitStack, sizes: Sizes, payload: bytes,
                runs: dict[str, list[dict[str, float]]]) -> None:
    from ray_app import Prober

    pinned = {"prober": {NODE_A: 1}, "echo": {NODE_B: 1}}
    deployer = await stack.enter_async_context(genweave.deploy(
        "ray_app:app", "microservices", "ray", resources=pinned, log=lambda line: None))
    assert isinstance(deployer, RayDeployer)
    nodes = {g: deployer.replicas[g][0].node for g in ("prober", "echo")}
    assert nodes["prober"] != nodes["echo"], nodes
    echo = ray.remote(RayEcho).options(resources={NODE_B: 1}, num_cpus=0).remote()
    prober = ray.remote(RayProber).options(resources={NODE_A: 1}, num_cpus=0).remote()
    genweave_prober = deployer.get(Prober)
    await genweave_prober.hops(payload, sizes.calls // 4)  # warm up
    ray.get(prober.hops.remote(echo, payload, sizes.calls // 4))
    for repeat in range(sizes.repeats):
        print(f"hops: repeat {repeat + 1}/{sizes.repeats}", file=sys.stderr, flush=True)
        runs["genweave"].append(_timed(await genweave_prober.hops(payload, sizes.calls)))
        runs["ray"].append(_timed(ray.get(prober.hops.remote(echo, payload, sizes.calls))))
        runs["ray_driver"].append(_timed(RayProber().hops(echo, payload, sizes.calls)))


async def _http_paths(stack: contextlib.AsyncExitStack, sizes: Sizes,
                      runs: dict[str, list[dict[str, float]]]) -> None:
    from gateway_app import Gateway

    pinned = {"gateway": {NODE_A: 1}, "a": {NODE_B: 1}, "b": {NODE_A: 1}}
    deployer = await stack.enter_async_context(genweave.deploy(
        "gateway_app:app", "microservices", "ray", resources=pinned, log=lambda line: None))
    genweave_url = await deployer.get(Gateway).url()
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    stack.callback(serve.shutdown)
    serve.run(ServeIngress.bind(ServeA.bind(ServeB.bind())), route_prefix="/work")
    serve_url = f"http://127.0.0.1:{port}"
    for repeat in range(sizes.repeats):
        print(f"http: repeat {repeat + 1}/{sizes.repeats}", file=sys.stderr, flush=True)
        runs["genweave_http"].append(await _http(genweave_url, sizes.calls))
        runs["serve_http"].append(await _http(serve_url, sizes.calls))


def goals(cases: dict[str, Any]) -> list[dict[str, Any]]:
    ratio = cases["genweave"]["median"]["p50_us"] / cases["ray"]["median"]["p50_us"]
    http = cases["genweave_http"]["median"]["p50_us"] / cases["serve_http"]["median"]["p50_us"]
    return [goal("genweave hop p50 / Ray actor call p50 (actor to actor, two nodes)", ratio,
                 f"<= {MAX_HOP_RATIO:g}x", ratio <= MAX_HOP_RATIO),
            goal("HTTP -> A -> B p50: genweave on Ray / Ray Serve", http,
                 f"<= {MAX_HTTP_RATIO:g}x", http <= MAX_HTTP_RATIO)]


def render(report: dict[str, Any]) -> str:
    env, cases = report["environment"], report["cases"]
    labels = {"genweave": "genweave hop, actor -> actor", "ray": "Ray actor call, actor -> actor",
              "ray_driver": "Ray actor call, driver -> actor",
              "genweave_http": "HTTP -> A -> B, genweave on Ray",
              "serve_http": "HTTP -> A -> B, Ray Serve"}
    rows = [[label, cases[key]["median"]["p50_us"], cases[key]["median"]["p99_us"],
             cases[key]["median"]["calls_per_s"]] for key, label in labels.items()]
    return "\n".join([
        "# on_ray: genweave calls between Ray actors against Ray actor calls and Ray Serve",
        "",
        f"{env['date']}, Python {env['python']}, Ray {env['ray']}, {env['cpu_count']} CPUs, "
        f"load {env['load_average'][0]}; a local cluster of {env['nodes']} Ray nodes, caller "
        f"and callee on distinct nodes; {env['payload_bytes']}-byte payload, "
        f"{env['calls']} sequential calls, median of {env['repeats']} repeats.",
        "",
        markdown_table(["case", "p50 µs", "p99 µs", "calls/s"], rows),
        "",
        goals_table(report["goals"]),
    ])


def main(argv: list[str] | None = None) -> int:
    return bench_main("on_ray", __doc__ or "", full=FULL, quick=QUICK, measure=measure,
                      goals=goals, render=render, argv=argv,
                      quick_help="a few hundred calls per case")


if __name__ == "__main__":
    sys.exit(main())
