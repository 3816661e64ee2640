"""Where a database is, and how its password stays out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from genweave._storage import DATABASE_URL_ENV, Location, StorageError, redact, resolve_location

URL = "postgresql://app:s3cret@db.internal:5432/genweave?sslmode=require"


def test_a_path_or_a_url_names_the_backend() -> None:
    assert Location.parse("data/index.db").backend == "sqlite"
    assert Location.parse(Path("data/index.db")).path == Path("data/index.db")
    assert Location.parse("sqlite:///data/index.db").path == Path("data/index.db")
    assert Location.parse("sqlite:////var/lib/index.db").path == Path("/var/lib/index.db")
    for url in (URL, "postgres://app@db/genweave"):
        assert Location.parse(url).backend == "postgresql"
        assert Location.parse(url).shared
    assert not Location.parse("index.db").shared


def test_an_unknown_scheme_is_refused_without_its_password() -> None:
    with pytest.raises(StorageError, match=r"mysql://app:\*\*\*@db/x.*postgresql://") as raised:
        Location.parse("mysql://app:hunter2@db/x")
    assert "hunter2" not in str(raised.value)


def test_the_password_is_redacted_wherever_it_is() -> None:
    assert redact(URL) == "postgresql://app:***@db.internal:5432/genweave?sslmode=require"
    assert redact("postgresql:///db?host=/run/pg&password=pw") == (
        "postgresql:///db?host=/run/pg&password=***")
    assert redact("postgresql://app@db/genweave") == "postgresql://app@db/genweave"
    location = Location.parse(URL)
    assert "s3cret" not in str(location) and "s3cret" not in repr(location)
    with pytest.raises(StorageError) as raised:
        _ = location.path
    assert "s3cret" not in str(raised.value)


def test_scrub_takes_the_password_out_of_a_message() -> None:
    location = Location.parse("postgresql://app:p%40ss@db/genweave")
    message = location.scrub("failed for postgresql://app:p%40ss@db/genweave (password p@ss)")
    assert message == "failed for postgresql://app:***@db/genweave (password ***)"


def test_the_setting_then_the_environment_then_the_file() -> None:
    environ = {DATABASE_URL_ENV: URL}
    assert resolve_location("postgresql://other@db/x", default="a.db", environ=environ).target \
        == "postgresql://other@db/x"
    assert resolve_location("", default="a.db", environ=environ).target == URL
    assert resolve_location("", default="data/a.db", environ={}).path == Path("data/a.db")


def test_a_companion_is_a_file_beside_or_the_same_database() -> None:
    assert Location.parse("data/index.db").companion(".jobs").path == Path("data/index.db.jobs")
    assert Location.parse(URL).companion(".jobs") == Location.parse(URL)
