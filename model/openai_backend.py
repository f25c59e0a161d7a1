"""`TGTWIN_MODEL_BACKEND=openai`: replies come from an OpenAI-compatible completions server
(vLLM with `--enable-lora`, llama.cpp's `llama-server`, Ollama) instead of an in-process model.

The prompt is rendered here with the same `PromptFormat` the adapter was trained with (its
`prompt_format.json`; for the bare base model, the format built from the base model's tokenizer)
and sent as raw text to `/v1/completions`, never to `/v1/chat/completions`: the server's own chat
template could differ from the one used in training. The format's stop strings go along, and the
reply is cut again here with local generation's own `cut_reply`, since servers differ in how they
apply stops (and a reply that starts with a partner's marker is nobody's reply).

Which model name is asked for: the promoted adapter's id when the server lists it in `/v1/models`
(vLLM `--enable-lora --lora-modules <adapter id>=<adapter dir>`), else `TGTWIN_OPENAI_MODEL`
(a merged model in llama.cpp or Ollama).

Candidates: as locally, `TGTWIN_REPLY_CANDIDATES` completions are sampled (concurrent requests:
`n>1` in one request is not supported by every server) and filtered with the local filters (empty,
echo, speaker markers, repeats, duplicates, banned phrases); the first one kept is sent. They are
not ranked: a server's token log-probabilities are not comparable across servers (some report them
after temperature), so the sampled order stands, which keeps the sampled rhythm as local serving does.

Token-exactness: with a plain-style format whose tokenizer adds BOS, the BOS text is put in front
of the prompt and the request asks the server not to add special tokens (`add_special_tokens`, a
vLLM extension that other servers ignore), so the server sees the tokens local serving would.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

# model.prompt's sandbox names `jinja2.ext.loopcontrols` but imports only `jinja2`; the local path
# gets the submodule through transformers, this backend (a saved format, no tokenizer) does not.
import jinja2.ext  # noqa: F401

from model.adapter_format import serving_format
from model.candidates import ChosenReplies, filter_candidates, last_partner_messages, markers_for
from model.dialogue import Dialogue, split_reply
from model.generation import cut_reply
from model.prompt import PromptFormat
from model.status import ModelState, ModelStatus
from settings import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0


class OpenAIBackendError(RuntimeError):
    """The OpenAI-compatible server could not produce a reply."""


class BackendUnavailable(OpenAIBackendError):
    """The server could not be reached (refused, DNS, TLS)."""


class BackendTimeout(OpenAIBackendError):
    """The server did not answer within `TGTWIN_GENERATION_TIMEOUT_S`."""


class BackendResponseError(OpenAIBackendError):
    """The server answered with an error status or with something that is not a completion."""


class OpenAIBackend:
    """A `services.ReplyModel` backed by an OpenAI-compatible `/v1/completions` endpoint.

    Use as an async context manager (it owns an HTTP connection pool). `prompt_format` overrides
    the format lookup (tests, or a caller that already has it).
    """

    def __init__(
        self,
        settings: Settings,
        adapter_dir: str | None = None,
        *,
        prompt_format: PromptFormat | None = None,
    ) -> None:
        self.settings = settings
        self._adapter_dir = adapter_dir
        self._fixed_format = prompt_format
        self._format: PromptFormat | None = prompt_format
        self._model_name = settings.openai_model
        self._client: httpx.AsyncClient | None = None
        self._state: ModelState = "loading"
        self._last_error: str | None = None
        self._last_latency_s: float | None = None
        self._swap_lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> OpenAIBackend:
        headers = {}
        if self.settings.openai_api_key is not None:
            headers["Authorization"] = f"Bearer {self.settings.openai_api_key.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=self.settings.openai_base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(self.settings.generation_timeout_s, connect=CONNECT_TIMEOUT_S),
        )
        try:
            await self.swap_adapter(self._adapter_dir)
        except Exception:
            await self._client.aclose()
            self._client = None
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------------ ReplyModel

    async def reply(self, dialogue: Dialogue) -> list[str]:
        """The first kept candidate, split into Telegram messages ([] when every one was dropped)."""
        return (await self.candidates(dialogue, 1)).replies[0]

    async def candidates(self, dialogue: Dialogue, n: int) -> ChosenReplies:
        """Up to `n` kept replies out of `max(n, reply_candidates)` sampled ones, in sampled order
        (`[[]]` when every one was dropped), with the memory the prompt showed (the server gets the
        whole dialogue: no cut here)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        fmt, model_name = self._current()
        count = max(n, self.settings.reply_candidates)
        texts = await asyncio.gather(*(self._complete(fmt, model_name, dialogue) for _ in range(count)))
        stops = fmt.stop_strings(dialogue)
        sampled = [split_reply(cut_reply(t, stops, fmt.speaker_prefixes(dialogue), fmt.owner_label)) for t in texts]
        allowed = [r for r in sampled if not has_banned_phrase(r, self.settings.banned_phrases)]
        checked = filter_candidates(allowed, last_partner_messages(dialogue), markers_for(fmt, dialogue))
        kept = [list(c.messages) for c in checked if c.dropped is None]
        log.debug("openai backend: %s of %s candidates kept (%s had a banned phrase)",
                  len(kept), count, count - len(allowed))
        return ChosenReplies.shown(kept[:n] or [[]], fmt, dialogue)

    async def swap_adapter(self, adapter_dir: str | None) -> None:
        """Use this adapter's prompt format and, when the server serves it, its LoRA name.
        The format and name change together, so a request sees the old pair or the new one."""
        async with self._swap_lock:
            fmt = self._fixed_format or await asyncio.to_thread(resolve_prompt_format, self.settings, adapter_dir)
            model_name = await self._served_name(adapter_dir)
            self._format, self._model_name, self._adapter_dir = fmt, model_name, adapter_dir
            self._state = "ready"
            log.info("openai backend: model %s at %s (adapter %s)", model_name, self.settings.openai_base_url,
                     Path(adapter_dir).name if adapter_dir else "none")

    def status(self) -> ModelStatus:
        adapter = self._adapter_dir
        return ModelStatus(
            backend="openai", state=self._state, base_model=self.settings.base_model,
            adapter_id=Path(adapter).name if adapter else None, adapter_path=adapter,
            error=self._last_error, device="remote", server=self.settings.openai_base_url,
            served_model=self._model_name, prompt_style=self._format.style if self._format else None,
            prompt_memory=self._format.memory if self._format else None,
            last_latency_s=self._last_latency_s,
        )

    # ------------------------------------------------------------------ HTTP

    def _current(self) -> tuple[PromptFormat, str]:
        if self._client is None or self._format is None:
            raise OpenAIBackendError("the openai backend is not started (use it as `async with`)")
        return self._format, self._model_name

    def request_body(self, fmt: PromptFormat, model_name: str, dialogue: Dialogue) -> dict[str, Any]:
        """The `/v1/completions` request for a dialogue (pure; the contract test checks it)."""
        body: dict[str, Any] = {
            "model": model_name,
            "prompt": prompt_text(fmt, dialogue),
            "max_tokens": self.settings.max_new_tokens,
            "temperature": self.settings.temperature,
            "top_p": self.settings.top_p,
            "top_k": self.settings.top_k,  # vLLM and llama.cpp's server take it; 0 = no limit
            "stop": fmt.stop_strings(dialogue),
            "n": 1,
            "stream": False,
        }
        if fmt.style == "plain" and fmt.add_bos and fmt.bos_token:
            body["add_special_tokens"] = False
        return body

    async def _complete(self, fmt: PromptFormat, model_name: str, dialogue: Dialogue) -> str:
        assert self._client is not None
        body = self.request_body(fmt, model_name, dialogue)
        started = time.perf_counter()
        try:
            # httpx's timeout is per read; this bounds the whole request, as local generation is.
            response = await asyncio.wait_for(
                self._client.post("completions", json=body), self.settings.generation_timeout_s
            )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise self._failed(BackendTimeout(
                f"no answer from {self.settings.openai_base_url} within {self.settings.generation_timeout_s:g}s"
            )) from exc
        except httpx.TransportError as exc:
            raise self._failed(BackendUnavailable(
                f"cannot reach {self.settings.openai_base_url}: {type(exc).__name__}"
            )) from exc
        if response.status_code != 200:
            raise self._failed(BackendResponseError(
                f"{self.settings.openai_base_url} answered HTTP {response.status_code}: {_error_message(response)}"
            ))
        try:
            text = response.json()["choices"][0]["text"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise self._failed(BackendResponseError("the server's answer is not a completion")) from exc
        if not isinstance(text, str):
            raise self._failed(BackendResponseError("the server's completion text is not a string"))
        self._state, self._last_error = "ready", None
        self._last_latency_s = round(time.perf_counter() - started, 3)
        return text

    def _failed(self, error: OpenAIBackendError) -> OpenAIBackendError:
        self._state, self._last_error = "error", str(error)
        log.warning("openai backend: %s", error)
        return error

    async def _served_name(self, adapter_dir: str | None) -> str:
        """The adapter's id if the server lists a model of that name, else `TGTWIN_OPENAI_MODEL`."""
        if adapter_dir is None:
            return self.settings.openai_model
        adapter_id = Path(adapter_dir).name
        assert self._client is not None
        try:
            response = await self._client.get("models")
            listed = response.json().get("data", []) if response.status_code == 200 else []
            names = {entry.get("id") for entry in listed}
        except (httpx.HTTPError, ValueError, AttributeError):
            names = set()
        if adapter_id in names:
            return adapter_id
        log.info("openai backend: server does not list adapter %s; using model %s",
                 adapter_id, self.settings.openai_model)
        return self.settings.openai_model


# ---------------------------------------------------------------------- pure helpers

def prompt_text(fmt: PromptFormat, dialogue: Dialogue) -> str:
    """The exact text local serving would tokenise (BOS spelled out when the format adds it)."""
    prompt = fmt.render_prompt(dialogue)
    if fmt.style == "plain" and fmt.add_bos and fmt.bos_token:
        return fmt.bos_token + prompt
    return prompt


def has_banned_phrase(messages: list[str], phrases: list[str]) -> bool:
    lowered = [m.casefold() for m in messages]
    return any(p.casefold() in m for p in phrases if p.strip() for m in lowered)


def resolve_prompt_format(settings: Settings, adapter_dir: str | None) -> PromptFormat:
    """The adapter's saved format; without an adapter (or a format file), the base model's."""
    return serving_format(adapter_dir, lambda: base_prompt_format(settings))


def base_prompt_format(settings: Settings) -> PromptFormat:
    """The format for the base model, built from its tokenizer only (no weights are loaded; the
    bundled model's checkpoint is still converted once, as local serving would)."""
    from transformers import AutoTokenizer

    from model.sources import resolve_base_dir

    path = resolve_base_dir(settings.base_model, settings.models_dir)
    return PromptFormat.for_tokenizer(AutoTokenizer.from_pretrained(str(path)))


def _error_message(response: httpx.Response) -> str:
    """The server's own error text (OpenAI shape `{"error": {"message": ...}}`), shortened."""
    try:
        data = response.json()
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message", error) if isinstance(error, dict) else error
    except ValueError:
        message = response.text
    return str(message)[:300]
