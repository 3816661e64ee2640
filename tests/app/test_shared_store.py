"""Shared state across replicas: the reference app with two Ingestor and two Retriever
replicas, in separate processes, on one PostgreSQL database.

An Ingestor replica is SIGKILLed while it holds a job: the other (or the restarted
one) takes the job over once its lease runs out, and in the end every document
is published exactly once, with no chunk lost or duplicated (checked in the
database).  A document published through the Ingestors is then found by a
search through each Retriever replica at once: the stated bound (docs/storage.md)
is that a search started after the publication committed sees it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
import pytest
import pytest_asyncio
from reference_app import app_topology

from conftest import eventually
from genweave import deploy
from genweave.app.chunking import Chunker
from genweave.app.corpus import pydoc_corpus
from genweave.app.extract import Document
from genweave.app.ingestor import Ingestor
from genweave.app.retriever import Retriever
from genweave.app.types import DocumentIn, Passage
from genweave.component import spec_of
from genweave.deploy.local import LocalDeployer
from genweave.runtime.membership import Membership
from genweave.runtime.router import Router
from postgres_server import PostgresServer

pytestmark = [pytest.mark.process, pytest.mark.slow, pytest.mark.postgres]

DOCUMENTS = 8
LEASE = 4.0
"""Short, so that the killed replica's job is taken over quickly; it outlasts one batch."""
REPLICATED = ("ingestor", "retriever")


class Deployed(msgspec.Struct):
    deployment: LocalDeployer
    url: str


@pytest_asyncio.fixture(scope="module")
async def deployed(postgres_server: PostgresServer,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployed]:
    name = postgres_server.create_database("replicas")
    url = postgres_server.url(name)
    topology = app_topology("microservices", tmp_path_factory.mktemp("data"))
    settings = {**topology.settings,
                "Ingestor": {**topology.settings["Ingestor"], "database_url": url,
                             "lease": LEASE, "batch_size": 4},
                "Retriever": {**topology.settings["Retriever"], "database_url": url}}
    groups = tuple(msgspec.structs.replace(g, replicas=2) if g.name in REPLICATED else g
                   for g in topology.groups)
    topology = msgspec.structs.replace(topology, groups=groups, settings=settings)
    try:
        async with deploy("genweave.app:app", topology, "process",
                          log=lambda line: None) as deployment:
            assert isinstance(deployment, LocalDeployer)
            yield Deployed(deployment, url)
    finally:
        postgres_server.drop_database(name)


def _rows(url: str, statement: str) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement.encode()).fetchall()


def _document_in(document: Document) -> DocumentIn:
    return DocumentIn(document.title, document.text, document.media_type, document.id)


async def test_a_killed_ingestor_replica_loses_nothing_and_duplicates_nothing(
    deployed: Deployed,
) -> None:
    running, url = deployed.deployment, deployed.url
    corpus = pydoc_corpus()[:DOCUMENTS]
    ingestor = running.get(Ingestor)
    jobs = [await ingestor.submit(_document_in(d)) for d in corpus]
    # Each replica runs one job at a time: with two running, replica 0 holds one.
    await eventually(lambda: _rows(url, "SELECT count(*) FROM jobs WHERE state = 'running'")
                     [0][0] == len(REPLICATED), timeout=120, what="both replicas at work")
    victim = running.pid("ingestor", 0)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)

    async def all_done() -> bool:
        states = {(await ingestor.job(job.id)).state for job in jobs}
        assert "failed" not in states, states
        return states == {"done"}

    await eventually(all_done, timeout=300, interval=0.5, what="every ingestion job done")
    assert max(r[0] for r in _rows(url, "SELECT attempts FROM jobs")) >= 2  # taken over
    expected = {d.id: len(Chunker().chunk(d)) for d in corpus}
    assert dict(_rows(url, "SELECT id, chunks FROM documents")) == expected
    assert dict(_rows(url, "SELECT document_id, count(*) FROM chunks WHERE live = 1"
                           " GROUP BY document_id")) == expected  # none lost, none twice
    assert _rows(url, "SELECT count(*) FROM chunks WHERE live = 0") == [(0,)]  # none staged
    assert _rows(url, "SELECT count(*) FROM embeddings") == [(sum(expected.values()),)]
    # Every publication bumps the revision once: each version was published exactly once.
    assert _rows(url, "SELECT value FROM meta WHERE key = 'revision'") == [(str(DOCUMENTS),)]


async def test_a_published_document_is_found_through_each_retriever_replica(
    deployed: Deployed,
) -> None:
    running = deployed.deployment
    ingestor = running.get(Ingestor)
    document = DocumentIn("Zorblax", "The zorblax protocol negotiates quantum teapots over "
                          "carrier pigeons, twice a fortnight.", id="test:zorblax")
    job = await ingestor.submit(document)
    await eventually(lambda: _done(ingestor, job.id), timeout=120, what="the ingestion")
    search = spec_of(Retriever).methods["search"]
    router = Router("assistant", "client", Membership())
    try:
        addresses = [r.address for r in running.replicas["retriever"]]
        assert len(addresses) == 2 and None not in addresses
        for address in addresses:  # no waiting: a search after the publication sees it
            passages: list[Passage] = await router.call_at(
                address, search, search.args_type(query="zorblax quantum teapots", k=3), 30)
            assert passages[0].document == "test:zorblax", (address, passages)
    finally:
        await router.close()


async def _done(ingestor: Ingestor, job_id: str) -> bool:
    return (await ingestor.job(job_id)).state == "done"
