"""The main job: run the reference app, ingest its corpus, answer a question, serve.

    python -m genweave.app [--topology hybrid] [--config genweave.toml] [--question TEXT]

It starts every group under the local supervisor, shows the corpus ingestion
(first start only) with a progress bar, asks one question through the
OpenAI-compatible gateway and prints the streamed answer with its sources,
then serves the API and the console until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Final

from genweave._aio import loop_factory
from genweave.app import app
from genweave.app.gateway import Gateway
from genweave.app.ingestor import CORPUS_JOB, Ingestor
from genweave.deploy.local import LocalDeployer
from genweave.deploy.serve import ForegroundService
from genweave.errors import GenweaveError
from genweave.terminal_chat import chat
from genweave.topology import resolve_topology

IMPORT_PATH: Final = "genweave.app:app"
DEFAULT_QUESTION: Final = "What does the yield statement do?"
DEFAULT_TOPOLOGY: Final = "hybrid"
DEFAULT_CONFIG: Final = Path(__file__).with_name("genweave.toml")
"""The app's own settings file: Ref policies that keep optional parts optional."""


async def show_corpus(ingestor: Ingestor) -> None:
    """A progress bar over the corpus ingestion job, until it finishes."""
    from tqdm import tqdm

    bar = None
    async for status in ingestor.watch(CORPUS_JOB):
        if status.total and bar is None:
            bar = tqdm(total=status.total, unit="doc", desc="ingesting the corpus",
                       initial=status.done, file=sys.stdout)
        if bar is not None:
            bar.update(status.done - bar.n)
            bar.set_postfix_str(status.message[:40])
    if bar is not None:
        bar.close()
    if status.state == "failed":
        print(f"corpus ingestion failed: {status.error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genweave.app", description=__doc__)
    parser.add_argument("--topology", "-t", default=DEFAULT_TOPOLOGY)
    parser.add_argument("--config", "-c", type=Path,
                        help="topology file with component settings and Ref policies "
                        "(default: ./genweave.toml, else the app's own genweave/app/genweave.toml)")
    parser.add_argument("--question", "-q", default=DEFAULT_QUESTION)
    parser.add_argument("--rundir", type=Path)
    args = parser.parse_args(argv)
    config = args.config or (Path("genweave.toml") if Path("genweave.toml").exists()
                             else DEFAULT_CONFIG)

    async def on_ready(deployer: LocalDeployer) -> None:
        url = await deployer.get(Gateway).url()
        print(f"console: {url}/   API: {url}/v1   metrics: {url}/metrics", flush=True)
        await show_corpus(deployer.get(Ingestor))
        print(f"\n> {args.question}", flush=True)
        await chat(args.question, url=url)
        print(f"\nserving at {url}; try: genweave chat \"your question\"  (Ctrl-C stops)",
              flush=True)

    try:
        topology = resolve_topology(args.topology, app, config=config)
        service = ForegroundService(app, topology, IMPORT_PATH, args.rundir, on_ready=on_ready)
        with asyncio.Runner(loop_factory=loop_factory()) as loop:
            return loop.run(service.run())
    except GenweaveError as exc:
        print(f"genweave: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
