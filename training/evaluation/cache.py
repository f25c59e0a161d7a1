"""The evaluation cache: what a model measured on a held-out example, kept so it is measured once.

A *model* is a base model or an adapter, in one prompt format. Its key fingerprints its weights
(the base: its spec and its checkpoint's config and weight files; an adapter: its saved weights),
its format and the dtype it computes in, plus `RECIPE` (bumped when what is measured changes). Per
held-out example, keyed by its content (context, partner, real reply, the memory block its prompt
shows), the cache keeps:

- `nll`: the summed negative log-likelihood of the reply's tokens and their count (perplexity),
  per `max_length`;
- `hit`: whether the real reply ranked first among its distractors (hits@1), per distractor set;
- `replies`: the reply the live selection chose and the first kept sample (the style before
  selection), per generation settings, candidate count, serving engine and selection weight.

So the base model's evaluation is computed once per held-out example (the held-out set stays put
between runs and new examples are measured as they join it), and an adapter's figures from its own
run serve again when it is the served adapter of a later run. One JSON file per model under the
data dir (`eval-cache/<key>.json`), replaced atomically; deleting the directory only costs time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from model.dialogue import Dialogue
from storage.db import make_private_dir

log = logging.getLogger(__name__)

RECIPE = 1
CACHE_DIR = "eval-cache"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()


def base_fingerprint(spec: str, base_dir: Path) -> str:
    """The base model's identity: its spec, its config, its weight files' names and sizes, and the
    recipe or hub revision it was built from (a hub snapshot's directory name is its revision)."""
    files = sorted(p for p in base_dir.iterdir() if p.is_file())
    config = [(p.name, p.read_text(encoding="utf-8")) for p in files if p.name in ("config.json", "tgtwin_source.json")]
    weights = [(p.name, p.stat().st_size) for p in files if p.suffix in _WEIGHT_SUFFIXES]
    revision = base_dir.name if base_dir.parent.name == "snapshots" else None
    return _digest("base", spec, config, weights, revision)


def adapter_fingerprint(adapter_dir: Path) -> str:
    """An adapter's identity: the bytes of its saved weights and its config."""
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
        path = adapter_dir / name
        if path.is_file():
            digest.update(name.encode())
            with path.open("rb") as stream:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(chunk)
    return "adapter-" + digest.hexdigest()


def model_key(weights: str, fmt: Any, dtype: str) -> str:
    """A model in one prompt format (`fmt` is a `PromptFormat`), computing in `dtype` (e.g. `torch.bfloat16`)."""
    return _digest(RECIPE, weights, asdict(fmt), dtype)[:32]


def example_key(dialogue: Dialogue, reply: Sequence[str], memory: str = "") -> str:
    """A held-out example by its content: every context turn, the chat's header, the real reply, and
    the memory block the model's prompt shows (`PromptFormat.memory_text`: "" for a format without
    memory, or with memory off), so the same example with memory and without is two entries. An
    example without memory keeps the key it had before memory existed."""
    turns = [(t.role, list(t.messages), t.speaker) for t in dialogue.turns]
    header = (dialogue.partner_name, dialogue.relationship, dialogue.is_group)
    return _digest(turns, *header, list(reply), *((memory,) if memory else ()))[:32]


def replies_key(generation: Any, candidates: int, engine: str) -> str:
    """How replies were generated and chosen: sampling settings (a dataclass), candidates, the
    engine, the selection's weight (`model.candidates.CONTEXT_FREE_WEIGHT`)."""
    from model.candidates import CONTEXT_FREE_WEIGHT

    return _digest(asdict(generation), candidates, engine, CONTEXT_FREE_WEIGHT)[:16]


def distractors_key(distractors: Sequence[Sequence[str]]) -> str:
    return _digest([list(d) for d in distractors])[:16]


@dataclass(frozen=True, slots=True)
class CachedReplies:
    """What the live selection chose for one context, and the first kept sample it chose among."""

    chosen: tuple[str, ...]
    first_sample: tuple[str, ...]


@dataclass(slots=True)
class ModelCache:
    """One model's cached measurements; `save` writes them back (only when something was added)."""

    path: Path | None
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: int = 0
    """Lookups answered from the cache."""
    misses: int = 0
    """Lookups that had to be measured."""
    _dirty: bool = False

    def _get(self, kind: str, key: str) -> Any:
        found = self.data.get(kind, {}).get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def _put(self, kind: str, key: str, value: Any) -> None:
        self.data.setdefault(kind, {})[key] = value
        self._dirty = True

    def nll(self, example: str, max_length: int) -> tuple[float, int] | None:
        found = self._get("nll", f"{max_length}:{example}")
        return (float(found[0]), int(found[1])) if found is not None else None

    def put_nll(self, example: str, max_length: int, value: tuple[float, int]) -> None:
        self._put("nll", f"{max_length}:{example}", [value[0], value[1]])

    def hit(self, example: str, distractors: str) -> bool | None:
        found = self._get("hit", f"{distractors}:{example}")
        return bool(found) if found is not None else None

    def put_hit(self, example: str, distractors: str, value: bool) -> None:
        self._put("hit", f"{distractors}:{example}", value)

    def replies(self, example: str, how: str) -> CachedReplies | None:
        found = self._get("replies", f"{how}:{example}")
        return CachedReplies(tuple(found["chosen"]), tuple(found["first_sample"])) if found is not None else None

    def put_replies(self, example: str, how: str, value: CachedReplies) -> None:
        stored = {"chosen": list(value.chosen), "first_sample": list(value.first_sample)}
        self._put("replies", f"{how}:{example}", stored)

    def save(self) -> None:
        """Write the file atomically (temporary file, then rename); a failure only loses the cache."""
        if self.path is None or not self._dirty:
            return
        try:
            make_private_dir(self.path.parent)  # generated replies echo the owner's words: 0700, files 0600
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"recipe": RECIPE, **self.data}, out, ensure_ascii=False)
            os.replace(tmp, self.path)
            self._dirty = False
        except OSError as exc:
            log.warning("evaluation cache not saved (%s): %s", self.path, exc)


def open_model_cache(directory: Path | None, key: str) -> ModelCache:
    """The cache of model `key` under `directory` (None: a cache that remembers nothing)."""
    if directory is None:
        return ModelCache(None)
    path = directory / f"{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ModelCache(path)
    except (OSError, ValueError) as exc:  # unreadable: start over (it is only a cache)
        log.warning("evaluation cache %s unreadable, starting over: %s", path, exc)
        return ModelCache(path)
    if not isinstance(data, dict) or data.pop("recipe", None) != RECIPE:
        return ModelCache(path)
    return ModelCache(path, {k: v for k, v in data.items() if isinstance(v, dict)})
