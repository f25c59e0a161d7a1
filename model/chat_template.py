"""A model's own Jinja chat template, rendered without the tokenizer, and what the prompt format
learns from it by probing: the end-of-turn marker, the turn headers, and the one-token turn opener
the `compact` style opens the owner's turns with (`model.prompt`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any


class ChatTemplateError(ValueError):
    """The chat template cannot render a conversation of the shape asked for."""


@lru_cache(maxsize=8)
def _compiled(template: str) -> Any:
    """A sandboxed Jinja environment like transformers' own for chat templates."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)


def render_template(template: str, messages: Sequence[dict[str, str]], bos: str | None, generation: bool) -> str:
    """`messages` as the template writes them (`generation`: with the assistant's generation prompt)."""
    try:
        return _compiled(template).render(
            messages=list(messages), add_generation_prompt=generation, bos_token=bos or "", eos_token=""
        )
    except Exception as exc:  # a template that rejects our conversation shape
        raise ChatTemplateError(f"the chat template cannot render this dialogue: {exc}") from exc


_PROBE_USER = "probe-user-text"
_PROBE_REPLY = "probe-reply-text"


def probe_end_of_turn(template: str, bos: str | None, eos: str | None) -> str:
    """What the template writes right after an assistant message (e.g. `<|im_end|>`); the
    generation prompt must be a prefix of the rendered conversation, or the template is unusable."""
    messages = [{"role": "user", "content": _PROBE_USER}]
    prompt = render_template(template, messages, bos, True)
    full = render_template(template, [*messages, {"role": "assistant", "content": _PROBE_REPLY}], bos, False)
    if not full.startswith(prompt) or not full[len(prompt):].startswith(_PROBE_REPLY):
        raise ChatTemplateError("the chat template's generation prompt does not lead into the reply")
    end = full[len(prompt) + len(_PROBE_REPLY):].strip()
    if not end:
        if not eos:
            raise ChatTemplateError("the chat template marks no end of turn and there is no EOS token")
        end = eos
    return end


def probe_turn_headers(template: str, bos: str | None) -> tuple[str, ...]:
    """Turn headers of the template (e.g. `<|im_start|>`), texts a reply must never contain."""
    one = render_template(template, [{"role": "user", "content": _PROBE_USER}], bos, False)
    head = one.split(_PROBE_USER, 1)[0].strip()
    header = head.splitlines()[-1].strip() if head else ""
    # `<|im_start|>user` → the role-free opener `<|im_start|>` stops any turn, not just the user's.
    opener = header[: header.rfind("user")] if "user" in header else header
    return tuple(dict.fromkeys(m for m in (opener.strip(), header) if m))


def probe_compact_opener(template: str, bos: str | None, end_of_turn: str, tokenizer: Any) -> str | None:
    """The template's role-free turn opener (`<|im_start|>`) when the compact style can use it:
    it and the end of turn are one token each, the assistant's generation prompt starts with it,
    and the template renders a system message on its own. None otherwise (then adapters keep the
    template's own layout)."""
    headers = probe_turn_headers(template, bos)
    if not headers:
        return None
    opener = headers[0]
    try:
        system = render_template(template, [{"role": "system", "content": _PROBE_USER}], bos, False)
        prompt = render_template(template, [{"role": "user", "content": _PROBE_USER}], bos, True)
    except ChatTemplateError:
        return None
    assistant_header = prompt.rsplit(end_of_turn, 1)[-1].strip()
    one_token = all(len(tokenizer.encode(t, add_special_tokens=False)) == 1 for t in (opener, end_of_turn))
    if not one_token or not assistant_header.startswith(opener) or _PROBE_USER not in system:
        return None
    return opener
