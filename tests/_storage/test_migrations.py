"""Versioned schemas: an older database is upgraded on open, a newer one refused."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from genweave._storage import Migration, Schema, SchemaTooNew, plan
from genweave.app.store import VectorStore
from genweave.app.store.schema import STORE_SCHEMA
from genweave.jobs import JobQueue, JobState
from genweave.jobs.schema import JOBS_SCHEMA
from postgres_server import Backend

THREE = Schema("test", [Migration(("a",), ("a",))] * 3)


def test_plan_applies_what_is_missing_and_refuses_a_newer_database() -> None:
    assert list(plan(THREE, 0, "db")) == [1, 2, 3]
    assert list(plan(THREE, 2, "db")) == [3]
    assert list(plan(THREE, 3, "db")) == []
    with pytest.raises(SchemaTooNew, match=r"db: the test schema is at version 4, .* knows "
                                           r"versions up to 3\. Upgrade genweave"):
        plan(THREE, 4, "db")


def _blob(backend: Backend, data: bytes) -> str:
    return f"X'{data.hex()}'" if backend.name == "sqlite" else f"'\\x{data.hex()}'::bytea"


def test_a_store_of_the_previous_schema_is_upgraded_with_its_data(backend: Backend) -> None:
    location = backend.location("index")
    for statement in STORE_SCHEMA.migrations[0].statements(backend.name):  # version 1, by hand
        backend.execute(location, statement)
    vector = np.full(4, 0.5, dtype=np.float32)
    for statement in (
        "INSERT INTO meta VALUES ('id', 'old'), ('model', 'm'), ('dimension', '4'),"
        " ('revision', '1')",
        "INSERT INTO documents VALUES ('a', 'Old', 'v1', 'text/plain', '', "
        f"{_blob(backend, bytes([0x80]))}, 1, 0)",
        "INSERT INTO chunks (id, document_id, version, ordinal, title, heading, start, stop,"
        " text, live) VALUES (7, 'a', 'v1', 0, 'Old', '', 0, 9, 'old words', 1)",
        f"INSERT INTO embeddings VALUES (7, {_blob(backend, vector.tobytes())})",
    ):
        backend.execute(location, statement)
    with VectorStore(location, model="m") as store:
        assert [h.text for h in store.search(vector, k=1)] == ["old words"]
        assert (store.id, store.stats().documents, store.stats().revision) == ("old", 1, 1)
    assert backend.execute(location, "SELECT name, version FROM schema_versions") == [
        ("vector store", STORE_SCHEMA.version)]


def test_a_queue_from_before_versioning_is_adopted_with_its_jobs(backend: Backend) -> None:
    location = backend.location("jobs")
    for statement in JOBS_SCHEMA.migrations[0].statements(backend.name):
        backend.execute(location, statement)
    payload = _blob(backend, msgspec.msgpack.encode(None))
    backend.execute(location, "INSERT INTO jobs (id, kind, state, payload, max_attempts, created,"
                              f" updated) VALUES ('j1', 'work', 'queued', {payload}, 3, 1, 1)")
    with JobQueue(location) as queue:
        claimed = queue.claim("work")
        assert claimed is not None and claimed.id == "j1" and claimed.state is JobState.RUNNING
    assert backend.execute(location, "SELECT version FROM schema_versions") == [
        (JOBS_SCHEMA.version,)]


def test_a_newer_schema_is_refused_naming_both_versions(backend: Backend) -> None:
    location = backend.location("index")
    VectorStore(location).close()
    JobQueue(location + ("" if backend.name == "postgresql" else ".jobs")).close()
    newer = STORE_SCHEMA.version + 1
    backend.execute(location, f"UPDATE schema_versions SET version = {newer}"
                              " WHERE name = 'vector store'")
    with pytest.raises(SchemaTooNew, match=rf"vector store schema is at version {newer}, "
                                           rf".* up to {STORE_SCHEMA.version}\. Upgrade"):
        VectorStore(location)
    if backend.name == "postgresql":  # the queue shares the database, with its own version
        JobQueue(location).close()
