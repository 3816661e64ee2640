"""The reference app's routes, over real HTTP on 127.0.0.1: what
``tests/gateway/test_openai_client.py`` (every endpoint through the ``openai`` client) leaves
out: each endpoint's model id, several prompts at once, the documents endpoint and job status,
and the model list when a component is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from reference_app import app_topology

from conftest import eventually
from genweave import deploy
from genweave.app.gateway import Gateway

KEY = "sk-gateway-test-51c0"


@pytest_asyncio.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    topology = app_topology("monolith", tmp_path_factory.mktemp("data"),
                            api_keys=[{"name": "tester", "key": KEY}])
    async with deploy("genweave.app:app", topology, "inprocess") as running:
        url = await running.get(Gateway).url()
        async with httpx.AsyncClient(base_url=url, timeout=30,
                                     headers={"Authorization": f"Bearer {KEY}"}) as c:
            yield c


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


# -- model ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "served"), [
    ("/v1/chat/completions", {"model": "genweave-tinylm",
                              "messages": [{"role": "user", "content": "hi"}]},
     "genweave-assistant"),
    ("/v1/completions", {"model": "genweave-assistant", "prompt": "The"}, "genweave-tinylm"),
    ("/v1/embeddings", {"model": "genweave-tinylm", "input": "hi"}, "all-MiniLM-L6-v2"),
    ("/v1/images/generations", {"model": "all-MiniLM-L6-v2", "prompt": "a 3"},
     "genweave-digits"),
    ("/v1/moderations", {"model": "genweave-assistant", "input": "hi"},
     "genweave-moderation"),
])
async def test_each_endpoint_refuses_another_model_naming_the_one_it_serves(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], served: str,
) -> None:
    error = error_of(await client.post(path, json=body), 404)
    assert error == {"message": f"The model `{body['model']}` does not exist or does not serve "
                                f"this endpoint; use {served}.",
                     "type": "not_found_error", "param": "model", "code": "model_not_found"}


async def test_moderation_and_images_need_no_model(client: httpx.AsyncClient) -> None:
    moderation = await client.post("/v1/moderations", json={"input": "hello"})
    assert moderation.status_code == 200 and moderation.json()["model"] == "genweave-moderation"
    image = await client.post("/v1/images/generations", json={"prompt": "a 3", "size": "64x64"})
    assert image.status_code == 200 and len(image.json()["data"]) == 1


# -- completions ----------------------------------------------------------------------------


async def test_several_prompts_get_one_choice_each_and_usage_adds_up(
    client: httpx.AsyncClient,
) -> None:
    def complete(prompt: str | list[str]) -> dict[str, Any]:
        return {"model": "genweave-tinylm", "prompt": prompt, "max_tokens": 5, "seed": 4}

    together = (await client.post("/v1/completions", json=complete(["The", "A list"]))).json()
    alone = [(await client.post("/v1/completions", json=complete(p))).json()
             for p in ("The", "A list")]
    assert [c["index"] for c in together["choices"]] == [0, 1]
    assert [c["text"] for c in together["choices"]] == [a["choices"][0]["text"] for a in alone]
    for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert together["usage"][field] == sum(a["usage"][field] for a in alone)


async def test_a_stream_takes_a_single_prompt(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/completions", json={
        "model": "genweave-tinylm", "prompt": ["The", "A"], "stream": True})
    error = error_of(response, 400)
    assert (error["message"], error["param"]) == ("Streaming takes a single prompt.", "prompt")


async def test_one_stop_string_works_as_a_list_of_one(client: httpx.AsyncClient) -> None:
    body = {"model": "genweave-tinylm", "prompt": "The for statement", "max_tokens": 24,
            "temperature": 0}
    full = (await client.post("/v1/completions", json=body)).json()["choices"][0]["text"]
    stop = full[len(full) // 2:len(full) // 2 + 2]
    as_string = (await client.post("/v1/completions", json=body | {"stop": stop})).json()
    as_list = (await client.post("/v1/completions", json=body | {"stop": [stop]})).json()
    assert as_string["choices"] == as_list["choices"]
    assert as_string["choices"][0]["text"] == full[:full.find(stop)]
    assert as_string["choices"][0]["finish_reason"] == "stop"


# -- chat and embeddings --------------------------------------------------------------------


async def test_max_completion_tokens_wins_over_max_tokens(client: httpx.AsyncClient) -> None:
    reply = (await client.post("/v1/chat/completions", json={
        "model": "genweave-assistant", "max_tokens": 60, "max_completion_tokens": 3,
        "retrieval": False, "messages": [{"role": "developer", "content": "Be brief."},
                                         {"role": "user", "content": "What is a set?"}]})).json()
    assert 0 < reply["usage"]["completion_tokens"] <= 3


async def test_an_empty_text_among_inputs_is_refused(client: httpx.AsyncClient) -> None:
    error = error_of(await client.post("/v1/embeddings", json={
        "model": "all-MiniLM-L6-v2", "input": ["fine", ""]}), 400)
    assert (error["message"], error["param"]) == ("Inputs must be non-empty strings.", "input")


# -- documents and jobs ---------------------------------------------------------------------


async def test_a_document_is_ingested_as_a_job_whose_status_can_be_followed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/genweave/documents", json={
        "title": "Sets", "media_type": "text/markdown",
        "text": "# Sets\n\nA set is an unordered collection of distinct hashable objects."})
    assert response.status_code == 200
    job = response.json()
    assert job["state"] in ("queued", "running", "done") and job["error"] == ""

    async def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = (await client.get(f"/v1/genweave/jobs/{job['id']}")).json()
        return status if status["state"] in ("done", "failed") else None

    status = await eventually(finished, timeout=20, interval=0.05, what="the ingestion job")
    assert status["state"] == "done" and status["id"] == job["id"]
    assert status["done"] == status["total"] > 0


async def test_an_unknown_job_is_404_naming_it(client: httpx.AsyncClient) -> None:
    error = error_of(await client.get("/v1/genweave/jobs/job-that-never-was"), 404)
    assert error["message"] == "no ingestion job 'job-that-never-was'"
    assert error["code"] == "not_found"


@pytest.mark.parametrize(("document", "param"), [
    ({"title": "Blank", "text": " \n\t "}, "text"),
    ({"title": "x" * 501, "text": "fine"}, "title"),
    ({"text": "no title"}, "title"),
    ({"title": "PDF", "text": "fine", "media_type": "application/pdf"}, "media_type"),
])
async def test_a_bad_document_is_refused_naming_the_field(
    client: httpx.AsyncClient, document: dict[str, str], param: str,
) -> None:
    error = error_of(await client.post("/v1/genweave/documents", json=document), 400)
    assert error["param"] == param and error["type"] == "invalid_request_error"


# -- a component down -----------------------------------------------------------------------


async def test_the_model_list_leaves_out_a_component_that_is_down(tmp_path: Path) -> None:
    topology = app_topology("microservices", tmp_path)
    async with deploy("genweave.app:app", topology, "codec") as running:
        await running.stop_group("illustrator")  # type: ignore[attr-defined]
        url = await running.get(Gateway).url()
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            response = await c.get("/v1/models")
    assert response.status_code == 200
    assert {m["id"] for m in response.json()["data"]} == {
        "genweave-assistant", "genweave-tinylm", "all-MiniLM-L6-v2", "genweave-moderation"}
