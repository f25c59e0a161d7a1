"""Contract test of the `openai` backend against a small in-process server that speaks the OpenAI
completions API over real HTTP (FastAPI + uvicorn on a free loopback port, in a thread)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from model.dialogue import MESSAGE_SEPARATOR, Dialogue, Turn
from model.openai_backend import (
    BackendResponseError,
    BackendTimeout,
    BackendUnavailable,
    OpenAIBackend,
    prompt_text,
)
from model.prompt import PromptFormat
from settings import Settings

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CHAT = PromptFormat(style="chat_template", end_of_turn="<|im_end|>", chat_template=CHATML,
                    stop_markers=("<|im_start|>",))
PLAIN = PromptFormat(style="plain", end_of_turn="</s>", bos_token="<s>", add_bos=True)
DIALOGUE = Dialogue(
    turns=(
        Turn("partner", ("hi", "are you coming tonight?"), "Anna"),
        Turn("owner", ("yes",)),
        Turn("partner", ("great, at 8?",), "Anna"),
    ),
    partner_name="Anna",
    relationship="sister",
)


@dataclass
class FakeServer:
    """What the fake server answers next, and every request it saw."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    reply: str = "ok"
    replies: list[str] = field(default_factory=list)
    """When set, answered in turn (cycling) instead of `reply`."""
    status: int = 200
    delay_s: float = 0.0
    models: list[str] = field(default_factory=lambda: ["tgtwin"])

    def reset(self) -> None:
        self.requests.clear()
        self.headers.clear()
        self.reply, self.status, self.delay_s, self.models = "ok", 200, 0.0, ["tgtwin"]
        self.replies = []

    def next_text(self) -> str:
        return self.replies[(len(self.requests) - 1) % len(self.replies)] if self.replies else self.reply


def _app(server: FakeServer) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model"} for name in server.models]}

    @app.post("/v1/completions")
    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        server.requests.append(body)
        text = server.next_text()
        server.headers.append(dict(request.headers))
        if server.delay_s:
            await asyncio.sleep(server.delay_s)
        if server.status != 200:
            return JSONResponse({"error": {"message": "model overloaded", "type": "server_error"}}, server.status)
        return JSONResponse({
            "id": "cmpl-1", "object": "text_completion", "model": body["model"],
            "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        })

    return app


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = FakeServer(url=f"http://127.0.0.1:{sock.getsockname()[1]}/v1")
    uv = uvicorn.Server(uvicorn.Config(_app(server), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake server did not start")
        time.sleep(0.02)
    yield server
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def server(fake_server: FakeServer) -> FakeServer:
    fake_server.reset()
    return fake_server


def _settings(settings: Settings, server: FakeServer, **changes: Any) -> Settings:
    """A validated copy (model_copy alone would not turn strings into SecretStr etc.)."""
    values = {"model_backend": "openai", "openai_base_url": server.url, "temperature": 0.3, "top_p": 0.8,
              "max_new_tokens": 48, **changes}
    return Settings.model_validate({**settings.model_dump(), **values})


@pytest.mark.parametrize("fmt", [CHAT, PLAIN], ids=["chat_template", "plain"])
async def test_sends_the_local_prompt_and_stops(fmt: PromptFormat, settings: Settings, server: FakeServer) -> None:
    async with OpenAIBackend(_settings(settings, server), prompt_format=fmt) as backend:
        await backend.reply(DIALOGUE)
    body = server.requests[-1]
    local = fmt.render_prompt(DIALOGUE)
    assert body["prompt"] == (fmt.bos_token + local if fmt.add_bos else local)
    assert body["stop"] == fmt.stop_strings(DIALOGUE)
    assert fmt.end_of_turn in body["stop"] and "\nAnna:" in body["stop"]
    assert (body["model"], body["temperature"], body["top_p"], body["max_tokens"]) == ("tgtwin", 0.3, 0.8, 48)
    assert body.get("add_special_tokens", True) is (not fmt.add_bos)
    assert "authorization" not in server.headers[-1]


async def test_chat_template_prompt_is_rendered_not_delegated(settings: Settings, server: FakeServer) -> None:
    """The server gets finished prompt text (completions API), never chat messages."""
    async with OpenAIBackend(_settings(settings, server), prompt_format=CHAT) as backend:
        await backend.reply(DIALOGUE)
    prompt = server.requests[-1]["prompt"]
    assert "messages" not in server.requests[-1]
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    assert "hi" + MESSAGE_SEPARATOR + "are you coming tonight?" in prompt


async def test_multi_message_reply_is_split(settings: Settings, server: FakeServer) -> None:
    server.reply = "yes" + MESSAGE_SEPARATOR + "see you at 8" + MESSAGE_SEPARATOR + " "
    async with OpenAIBackend(_settings(settings, server), prompt_format=PLAIN) as backend:
        assert await backend.reply(DIALOGUE) == ["yes", "see you at 8"]


async def test_reply_is_cut_at_a_stop_the_server_ignored(settings: Settings, server: FakeServer) -> None:
    server.reply = "sure</s>\nAnna: invented partner text"
    async with OpenAIBackend(_settings(settings, server), prompt_format=PLAIN) as backend:
        assert await backend.reply(DIALOGUE) == ["sure"]


async def test_reply_that_opens_a_partner_turn_is_nobodys(settings: Settings, server: FakeServer) -> None:
    server.reply = "Anna: I will be there"
    async with OpenAIBackend(_settings(settings, server), prompt_format=PLAIN) as backend:
        assert await backend.reply(DIALOGUE) == []


async def test_a_candidate_with_a_banned_phrase_is_dropped(settings: Settings, server: FakeServer) -> None:
    server.reply = "send me the Password please"
    changed = _settings(settings, server, banned_phrases="password", reply_candidates=3)
    async with OpenAIBackend(changed, prompt_format=PLAIN) as backend:
        assert await backend.reply(DIALOGUE) == []  # every candidate had it: nothing is sent
        assert len(server.requests) == 3
        server.replies = ["send me the password", "fine"]
        assert await backend.reply(DIALOGUE) == ["fine"]


async def test_candidates_are_independent_requests_filtered_as_locally(settings: Settings, server: FakeServer) -> None:
    server.replies = ["ok", "ok", "great, at 8?", "Anna: me too", "sure", "ha ha ha ha ha ha"]
    async with OpenAIBackend(_settings(settings, server, reply_candidates=2), prompt_format=PLAIN) as backend:
        results = await backend.candidates(DIALOGUE, 6)
    assert len(server.requests) == 6  # max(n, reply_candidates) requests
    # kept: "ok" once (the duplicate, the echo of the partner's turn, the partner's turn and the
    # repetition are dropped) and "sure"
    assert sorted(results.replies) == [["ok"], ["sure"]]


async def test_a_reply_is_the_first_candidate_kept(settings: Settings, server: FakeServer) -> None:
    server.replies = ["Great, at 8?", "great at 8", "yes see you then", "great, at 8?"]
    async with OpenAIBackend(_settings(settings, server, reply_candidates=4), prompt_format=PLAIN) as backend:
        assert await backend.reply(DIALOGUE) == ["yes see you then"]  # the echoes are dropped


async def test_api_key_is_sent_as_bearer(settings: Settings, server: FakeServer) -> None:
    changed = _settings(settings, server, openai_api_key="sk-test-0123456789")
    async with OpenAIBackend(changed, prompt_format=PLAIN) as backend:
        await backend.reply(DIALOGUE)
    assert server.headers[-1]["authorization"] == "Bearer sk-test-0123456789"


async def test_server_error_is_named_and_reported(settings: Settings, server: FakeServer) -> None:
    server.status = 503
    async with OpenAIBackend(_settings(settings, server), prompt_format=PLAIN) as backend:
        with pytest.raises(BackendResponseError, match="503: model overloaded"):
            await backend.reply(DIALOGUE)
        assert backend.status().state == "error"
        server.status = 200
        assert await backend.reply(DIALOGUE) == ["ok"]
        assert backend.status().state == "ready" and backend.status().error is None


async def test_timeout_is_named(settings: Settings, server: FakeServer) -> None:
    server.delay_s = 2.0
    async with OpenAIBackend(_settings(settings, server, generation_timeout_s=0.3), prompt_format=PLAIN) as backend:
        started = time.monotonic()
        with pytest.raises(BackendTimeout):
            await backend.reply(DIALOGUE)
    assert time.monotonic() - started < 1.5


async def test_unreachable_server_is_named(settings: Settings) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    changed = settings.model_copy(update={"openai_base_url": f"http://127.0.0.1:{port}/v1"})
    async with OpenAIBackend(changed, prompt_format=PLAIN) as backend:
        with pytest.raises(BackendUnavailable):
            await backend.reply(DIALOGUE)


async def test_adapter_format_and_lora_name(settings: Settings, server: FakeServer, tmp_path: Path) -> None:
    """The adapter's saved format is what is rendered; its id is the model name when the server
    serves that LoRA (vLLM `--lora-modules`), else the configured model name."""
    adapter = tmp_path / "20260101-000000-r7"
    adapter.mkdir()
    saved = PromptFormat(style="plain", end_of_turn="<|end|>", owner_label="Me")
    saved.save(adapter)
    server.models = ["tgtwin", adapter.name]
    async with OpenAIBackend(_settings(settings, server), adapter_dir=str(adapter)) as backend:
        await backend.reply(DIALOGUE)
        assert server.requests[-1]["model"] == adapter.name
        assert server.requests[-1]["prompt"] == saved.render_prompt(DIALOGUE)
        assert backend.status().adapter_id == adapter.name

        server.models = ["tgtwin"]
        other = tmp_path / "20260102-000000-r8"
        other.mkdir()
        PromptFormat(style="plain", end_of_turn="<|eot|>").save(other)
        await backend.swap_adapter(str(other))
        await backend.reply(DIALOGUE)
    assert server.requests[-1]["model"] == "tgtwin"
    assert server.requests[-1]["stop"][0] == "<|eot|>"


def test_prompt_text_spells_bos_only_when_the_format_adds_it() -> None:
    assert prompt_text(PLAIN, DIALOGUE).startswith("<s>")
    no_bos = PromptFormat(style="plain", end_of_turn="</s>", bos_token="<s>", add_bos=False)
    assert prompt_text(no_bos, DIALOGUE) == no_bos.render_prompt(DIALOGUE)


async def test_without_adapter_the_base_tokenizer_format_is_used(settings: Settings, server: FakeServer) -> None:
    """No adapter: the format comes from the base model's tokenizer (`tiny`: the plain style)."""
    from transformers import AutoTokenizer

    from model.sources import resolve_base_dir

    async with OpenAIBackend(_settings(settings, server)) as backend:
        await backend.reply(DIALOGUE)
        assert backend.status().prompt_style == "plain" and backend.status().adapter_id is None
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_base_dir("tiny", settings.models_dir)))
    local = PromptFormat.for_tokenizer(tokenizer)
    assert server.requests[-1]["prompt"] == prompt_text(local, DIALOGUE)
    assert server.requests[-1]["stop"] == local.stop_strings(DIALOGUE)
