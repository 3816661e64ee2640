"""PostgreSQL's connections: a server restart costs at most one failed call, an unreachable
server fails fast with an ``Unavailable``, and the URL's password is never shown."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import numpy as np
import pytest

from conftest import eventually
from genweave._storage import DatabaseUnavailable
from genweave._storage.postgres import CONNECT_WAIT
from genweave.app.chunking import Chunk
from genweave.app.extract import Document
from genweave.app.store import VectorStore
from genweave.errors import Unavailable
from genweave.jobs import JobQueue
from postgres_server import PostgresServer

pytestmark = pytest.mark.postgres

SECRET = "s3cret-pw"
RECONNECT_BOUND = 15.0
"""Seconds a listener may take to come back after a restart (its backoff tops at 5 s)."""


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database("restart")
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def test_after_a_restart_at_most_one_call_fails_and_says_so(
    postgres_server: PostgresServer, database_url: str
) -> None:
    with JobQueue(database_url) as queue:
        job = queue.enqueue("work", 1)
        postgres_server.restart()
        try:
            assert queue.get(job.id).id == job.id  # met a fresh connection
        except DatabaseUnavailable as error:
            assert isinstance(error, Unavailable)
            assert "lost the connection to the PostgreSQL server" in str(error)
            assert "retry it" in str(error)
        assert queue.get(job.id).id == job.id


@pytest.mark.slow
def test_an_unreachable_server_fails_fast_without_showing_the_password(
    caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql://app:{SECRET}@/genweave?host=/nonexistent-genweave-socket-dir"
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(DatabaseUnavailable) as raised:
        JobQueue(url)
    assert time.monotonic() - started < CONNECT_WAIT + 5
    message = str(raised.value)
    assert "postgresql://app:***@/genweave" in message and "check that it runs" in message
    assert SECRET not in message and SECRET not in repr(raised.value)
    assert all(SECRET not in record.getMessage() for record in caplog.records)


async def test_a_listener_comes_back_after_a_restart_and_catches_up(
    postgres_server: PostgresServer, database_url: str
) -> None:
    vector = np.ones((1, 4), dtype=np.float32)
    with VectorStore(database_url) as reader, VectorStore(database_url) as writer:
        writer.add_document(Document("a", "A", "alpha"), [Chunk("a", 0, "alpha", 0, 5)], vector)
        reader.search(vector[0])
        postgres_server.restart()
        for attempt in range(2):  # the first call after the restart may fail, once
            try:
                writer.add_document(Document("b", "B", "beta"), [Chunk("b", 0, "beta", 0, 4)],
                                    vector)
                break
            except DatabaseUnavailable:
                assert attempt == 0
        revision = writer.stats().revision
        await eventually(lambda: reader.loaded_revision == revision, RECONNECT_BOUND,
                         what="the reader's listener reconnecting and catching up")

