"""The one prompt format: a dialogue → prompt text/tokens, and for training the labels mask.

Training and serving both go through `PromptFormat`, and every adapter directory carries the
format it was trained with (`prompt_format.json`), so serving cannot drift from training.

Three styles:

- `chat_template` — the base model's own chat template (stored *in* the format, rendered here with
  a sandboxed Jinja environment, so a saved format renders the same without the tokenizer). The
  partner's turns are `user` messages, the owner's are `assistant` messages; the system message names
  the partner and the relationship. In groups each partner message starts with `Name: `.
- `plain` — for pretrain-only models (the user's original used one). Documented template::

      {system}\\n
      \\n
      {label}: {turn text}{end_of_turn}\\n        (one line-block per earlier turn)
      ...
      {owner_label}:                             (the prompt ends here)

  and the reply continues it as ` {reply}{end_of_turn}`. `label` is the partner's display name
  (each speaker's name in groups), `owner_label` marks the owner. `end_of_turn` is the tokenizer's
  EOS token, so the model learns to close its turn with EOS and generation stops there.
- `compact` (format version 2; what new adapters of a chat model train with, `for_training`) — the
  model's own special tokens, without the per-turn headers::

      {the template's system message}           (e.g. `<|im_start|>system\nTelegram chat with Anna.<|im_end|>`)
      {partner turn text}                       (no header; turns alternate, so none is needed)
      {opener}{owner turn text}{end_of_turn}    (e.g. `<|im_start|>ok see you<|im_end|>`)
      ...
      {opener}                                  (the prompt ends here)

  Consecutive partner turns are separated by a newline; in groups each partner turn starts with
  `Name: ` (as in `chat_template`). The owner's reply tokens, end of turn included, are exactly those
  of `chat_template` (what is learned does not change); each exchange costs 2 marker tokens instead
  of ~10 (`<|im_start|>user\n … <|im_end|>\n<|im_start|>assistant\n … <|im_end|>\n`), which on the
  bundled sample raised the share of training tokens under loss from 0.29 to 0.39 (the system message
  heads each sequence once). Adapters keep the format they were trained with: a version-1 adapter
  still loads and serves its `chat_template` layout, and the bare base model is served in its own
  template (`for_tokenizer`), which is what it knows.

Memory (format version 3; `memory`, what `for_training` is told): an adapter trained with memory
gets the recollections of `Dialogue.memory` as a block in the prompt's head, right after the system
text, in every style (layout, dates and cleaning: `model.memory_block`). A format without memory
ignores `Dialogue.memory` completely: old adapters and the base model get the prompts they always
got. Over the prompt cap, recollections go before any turn (`model.context_window`).

Token boundaries are exact: the training row is `encode(prompt) + encode(reply + end_of_turn)`, and
serving feeds exactly `encode(prompt)`; the prompt never ends in a space (the original's bug), so
tokenising prompt+reply in one go gives the same prompt tokens too (tested on both tokenizers).

Whole conversations (`encode_conversation`): one row holds a window of a session with every chosen
owner turn labelled; it is cut at the exact serve-time prompt of each labelled turn, so
`encode_prompt(dialogue up to that turn)` is a token prefix of the row (tested on both tokenizers).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from model.chat_template import (
    ChatTemplateError,
    probe_compact_opener,
    probe_end_of_turn,
    probe_turn_headers,
    render_template,
)
from model.dialogue import Dialogue, Turn
from model.memory_block import clean_memory_text, render_memory

FORMAT_FILE = "prompt_format.json"
FORMAT_VERSION = 3
"""1: styles `chat_template` and `plain`; 2 adds `compact`; 3 adds `memory` and `special_tokens`.
A newer file than this is refused."""
IGNORE_INDEX = -100

Style = Literal["chat_template", "plain", "compact"]

# Short on purpose: it heads every training sequence, and on short chat turns a long instruction
# was most of the tokens (measured on the bundled sample with SmolLM2: a 47-token system block
# left 23 % of tokens under loss, this 15-token one 29 %). The adapter learns the voice from the
# turns; the header only says with whom (each adapter keeps the template it was trained with).
DEFAULT_SYSTEM_TEMPLATE = "Telegram chat{with_whom}."


class PromptFormatError(ValueError):
    """The prompt format cannot be built, loaded or applied as asked."""


@dataclass(frozen=True, slots=True)
class PromptFormat:
    """How dialogues become model input. JSON-serialisable; saved next to every adapter."""

    style: Style
    """`chat_template` (the model's own template), `plain` or `compact` (both documented above)."""
    end_of_turn: str
    """Text that closes every turn; the reply's labels include it, generation stops on it."""
    chat_template: str | None = None
    """The Jinja chat template (styles `chat_template` and `compact`), copied from the tokenizer."""
    bos_token: str | None = None
    """Some templates print `bos_token`; kept so a saved format renders without the tokenizer."""
    add_bos: bool = False
    """Prepend the tokenizer's BOS id to the prompt (plain style, when the tokenizer would)."""
    system_template: str = DEFAULT_SYSTEM_TEMPLATE
    """System text; `{with_whom}` becomes ` with Anna (sister)` / ` in a group chat` / ``."""
    owner_label: str = "Me"
    """Plain style: the owner's speaker marker."""
    partner_label: str = "Partner"
    """The partner's marker when the chat has no name."""
    version: int = FORMAT_VERSION
    stop_markers: tuple[str, ...] = field(default_factory=tuple)
    """Extra texts that end a reply (special tokens of the template, turn headers)."""
    owner_opener: str | None = None
    """Style `compact`: what opens each owner turn and ends every prompt (the template's one-token
    turn opener, e.g. `<|im_start|>`)."""
    memory: bool = False
    """The adapter was trained with a memory block: prompts carry `Dialogue.memory` (version 3)."""
    special_tokens: tuple[str, ...] = ()
    """The tokenizer's special tokens as text; memory text never carries them (`model.memory_block`)."""

    def __post_init__(self) -> None:
        if self.style not in ("chat_template", "plain", "compact"):
            raise PromptFormatError(f"unknown prompt style {self.style!r}")
        if self.style in ("chat_template", "compact") and not self.chat_template:
            raise PromptFormatError(f"style {self.style} needs the template text")
        if self.style == "compact" and not self.owner_opener:
            raise PromptFormatError("style compact needs the owner's turn opener")
        if not self.end_of_turn:
            raise PromptFormatError("end_of_turn must not be empty")
        if self.memory and self.version < 3:
            raise PromptFormatError(f"a memory block needs prompt format version 3, not {self.version}")

    # ------------------------------------------------------------------ construction

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, **overrides: Any) -> PromptFormat:
        """The tokenizer's chat template when it has one, else the plain template (EOS closes turns)."""
        template = getattr(tokenizer, "chat_template", None)
        if isinstance(template, dict):  # several named templates: the default one
            template = template.get("default")
        bos = getattr(tokenizer, "bos_token", None)
        overrides.setdefault("special_tokens", tuple(getattr(tokenizer, "all_special_tokens", ())))
        if template:
            try:
                end = probe_end_of_turn(template, bos, tokenizer.eos_token)
                markers = probe_turn_headers(template, bos)
            except ChatTemplateError as exc:
                raise PromptFormatError(str(exc)) from exc
            return cls(style="chat_template", end_of_turn=end, chat_template=template, bos_token=bos,
                       stop_markers=markers, **overrides)
        if not tokenizer.eos_token:
            raise PromptFormatError("the plain prompt style needs a tokenizer with an EOS token")
        return cls(style="plain", end_of_turn=tokenizer.eos_token, bos_token=bos,
                   add_bos=_adds_bos(tokenizer), **overrides)

    @classmethod
    def for_training(cls, tokenizer: Any, *, memory: bool, **overrides: Any) -> PromptFormat:
        """The format a new adapter trains with (and is served with, from its `prompt_format.json`):
        `compact` where the tokenizer's chat template allows it (`probe_compact_opener`), else
        `for_tokenizer`'s; with a memory block when `memory` (the run's `memory_enabled`; required,
        so no caller forgets it). The bare base model keeps `for_tokenizer`'s, the template it
        knows, without memory."""
        fmt = cls.for_tokenizer(tokenizer, memory=memory, **overrides)
        if fmt.style != "chat_template" or fmt.chat_template is None:
            return fmt
        opener = probe_compact_opener(fmt.chat_template, fmt.bos_token, fmt.end_of_turn, tokenizer)
        return fmt if opener is None else replace(fmt, style="compact", owner_opener=opener)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / FORMAT_FILE
        data = asdict(self)
        data["stop_markers"], data["special_tokens"] = list(self.stop_markers), list(self.special_tokens)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> PromptFormat:
        path = Path(directory) / FORMAT_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PromptFormatError(f"{path} is missing") from None
        except json.JSONDecodeError as exc:
            raise PromptFormatError(f"{path} is not valid JSON: {exc}") from None
        if data.get("version", FORMAT_VERSION) > FORMAT_VERSION:
            raise PromptFormatError(f"{path} was written by a newer tgtwin (version {data['version']})")
        known = {f.name for f in fields(cls)}
        data["stop_markers"] = tuple(data.get("stop_markers", ()))
        data["special_tokens"] = tuple(data.get("special_tokens", ()))
        if data.get("version", FORMAT_VERSION) < 3:  # adapters from before memory were trained without it
            data["memory"] = False
        return cls(**{k: v for k, v in data.items() if k in known})

    # ------------------------------------------------------------------ rendering

    def system_text(self, dialogue: Dialogue) -> str:
        if dialogue.is_group:
            with_whom = " in a group chat"
        elif dialogue.partner_name and dialogue.relationship:
            with_whom = f" with {dialogue.partner_name} ({dialogue.relationship})"
        elif dialogue.partner_name:
            with_whom = f" with {dialogue.partner_name}"
        elif dialogue.relationship:
            with_whom = f" with your {dialogue.relationship}"
        else:
            with_whom = ""
        return self.system_template.format(with_whom=with_whom)

    def head_text(self, dialogue: Dialogue) -> str:
        """What heads every prompt of the dialogue (the system message's content): the system text,
        then the memory block when there is one."""
        memory = self.memory_text(dialogue)
        return f"{self.system_text(dialogue)}\n{memory}" if memory else self.system_text(dialogue)

    def memory_text(self, dialogue: Dialogue) -> str:
        """The memory block (`model.memory_block`); "" for a format without memory, or nothing recalled."""
        if not self.memory or not dialogue.memory:
            return ""
        return render_memory(dialogue.memory, lambda turn: self._memory_label(dialogue, turn), self._reserved())

    def _memory_label(self, dialogue: Dialogue, turn: Turn) -> str:
        return _one_line(clean_memory_text(self.speaker_label(dialogue, turn), self._reserved()))

    def _reserved(self) -> tuple[str, ...]:
        """Texts that structure a prompt: memory text never carries them."""
        texts = (self.end_of_turn, *self.stop_markers, self.owner_opener, self.bos_token, *self.special_tokens)
        return tuple(t for t in texts if t)

    def speaker_label(self, dialogue: Dialogue, turn: Turn) -> str:
        """The marker a turn is shown with: the owner's label, or the partner's (speaker's) name."""
        if turn.role == "owner":
            return self.owner_label
        return _one_line(turn.speaker or dialogue.partner_name or self.partner_label)

    def render_prompt(self, dialogue: Dialogue) -> str:
        """The prompt text, ending exactly where the owner's reply begins (never in whitespace)."""
        if not dialogue.turns:
            raise PromptFormatError("a dialogue to answer needs at least one turn")
        return self._render_prompt(dialogue)

    def _render_prompt(self, dialogue: Dialogue) -> str:
        """`render_prompt`, also for no turns at all (training: an owner turn that opens a session)."""
        if self.style == "plain":
            lines = [self.head_text(dialogue), ""]
            for turn in dialogue.turns:
                lines.append(f"{self.speaker_label(dialogue, turn)}: {turn.text}{self.end_of_turn}")
            lines.append(f"{self.owner_label}:")
            return "\n".join(lines)
        if self.style == "compact":
            return self._render_compact(dialogue) + (self.owner_opener or "")
        return _render_template(self.chat_template or "", self._messages(dialogue), self.bos_token, True)

    def render_conversation(self, dialogue: Dialogue) -> str:
        """All turns as one text (no generation prompt): what whole-conversation rows are cut from."""
        if self.style == "plain":
            lines = [self.head_text(dialogue), ""]
            lines.extend(f"{self.speaker_label(dialogue, t)}: {t.text}{self.end_of_turn}" for t in dialogue.turns)
            return "\n".join(lines)
        if self.style == "compact":
            return self._render_compact(dialogue)
        return _render_template(self.chat_template or "", self._messages(dialogue), self.bos_token, False)

    def _render_compact(self, dialogue: Dialogue) -> str:
        """The compact layout of all turns (no generation prompt); see the module docstring."""
        system = [{"role": "system", "content": self.head_text(dialogue)}]
        parts = [_render_template(self.chat_template or "", system, self.bos_token, False).rstrip()]
        previous = None
        for turn in dialogue.turns:
            if turn.role == "owner":
                parts.append(f"{self.owner_opener}{turn.text}{self.end_of_turn}")
            else:
                shown = f"{self.speaker_label(dialogue, turn)}: {turn.text}" if dialogue.is_group else turn.text
                parts.append(("\n" if previous == "partner" else "") + shown)
            previous = turn.role
        return "".join(parts)

    def reply_text(self, reply: str) -> str:
        """What follows the prompt in a training row: the reply and the end-of-turn marker."""
        lead = " " if self.style == "plain" else ""
        return f"{lead}{reply}{self.end_of_turn}"

    def _messages(self, dialogue: Dialogue) -> list[dict[str, str]]:
        """Chat messages; consecutive same-role turns merge (strict templates demand alternation)."""
        messages = [{"role": "system", "content": self.head_text(dialogue)}]
        for turn in dialogue.turns:
            role = "assistant" if turn.role == "owner" else "user"
            content = turn.text
            if dialogue.is_group and turn.role == "partner":
                content = f"{self.speaker_label(dialogue, turn)}: {content}"
            if messages[-1]["role"] == role:
                messages[-1]["content"] += "\n" + content
            else:
                messages.append({"role": role, "content": content})
        return messages

    def stop_strings(self, dialogue: Dialogue | None = None) -> list[str]:
        """Texts that end the owner's reply: end of turn, turn headers, and every speaker marker
        (`\\nName:`) of the dialogue, so a reply never runs into someone else's turn."""
        stops = [self.end_of_turn, *self.stop_markers]
        labels = {self.owner_label, self.partner_label}
        if dialogue is not None:
            labels.update(self.speaker_label(dialogue, t) for t in dialogue.turns)
            if self.memory:
                labels.update(self._memory_label(dialogue, t) for r in dialogue.memory for t in r.turns)
            if dialogue.partner_name:
                labels.add(_one_line(dialogue.partner_name))
        stops.extend(f"\n{label}:" for label in sorted(labels) if label)
        return list(dict.fromkeys(s for s in stops if s))

    def speaker_prefixes(self, dialogue: Dialogue | None = None) -> list[str]:
        """Markers that, at the very start of a generated reply, mean it is someone's turn header."""
        return [s[1:] for s in self.stop_strings(dialogue) if s.startswith("\n")]

    # ------------------------------------------------------------------ tokens

    def encode_prompt(self, tokenizer: Any, dialogue: Dialogue) -> list[int]:
        return self._encode_prompt_text(tokenizer, self.render_prompt(dialogue))

    def _encode_prompt_text(self, tokenizer: Any, text: str) -> list[int]:
        ids = list(tokenizer.encode(text, add_special_tokens=False))
        if self.add_bos and tokenizer.bos_token_id is not None:
            ids.insert(0, tokenizer.bos_token_id)
        return ids

    def encode_example(
        self, tokenizer: Any, dialogue: Dialogue, reply: str, max_length: int | None = None
    ) -> dict[str, list[int]]:
        """A training row for one reply (`model.prompt_rows.example_row`)."""
        from model.prompt_rows import example_row  # the rows module builds on this one

        return example_row(self, tokenizer, dialogue, reply, max_length)

    def encode_conversation(
        self, tokenizer: Any, dialogue: Dialogue, labelled: Sequence[int], max_length: int | None = None
    ) -> tuple[dict[str, list[int]], tuple[int, ...]]:
        """A whole-conversation training row and the labelled turns it fully covers
        (`model.prompt_rows.conversation_row`)."""
        from model.prompt_rows import conversation_row  # the rows module builds on this one

        return conversation_row(self, tokenizer, dialogue, labelled, max_length)


# ---------------------------------------------------------------------- helpers

def _one_line(name: str) -> str:
    return " ".join(name.replace(":", " ").split()) or "Partner"


def _adds_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer puts BOS in front by itself (then the plain prompt should too)."""
    if tokenizer.bos_token_id is None:
        return False
    ids = tokenizer.encode("a", add_special_tokens=True)
    return bool(ids) and ids[0] == tokenizer.bos_token_id


def _render_template(template: str, messages: Sequence[dict[str, str]], bos: str | None, generation: bool) -> str:
    try:
        return render_template(template, messages, bos, generation)
    except ChatTemplateError as exc:
        raise PromptFormatError(str(exc)) from exc


__all__ = [
    "FORMAT_FILE",
    "IGNORE_INDEX",
    "PromptFormat",
    "PromptFormatError",
]
