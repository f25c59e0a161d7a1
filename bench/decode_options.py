"""The options `bench/generate_bench.py --options` times: each builds one reply on the same prompt
(see that module's docstring for what each option is and how they are compared)."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from model.dialogue import Dialogue, Turn

BASE = "bundled:smollm2-135m"
REPLY_TOKENS = 30
OPTIONS = ("torch", "prompt-lookup", "static-compile", "ct2-int8", "llama.cpp", "service-torch", "service-ct2")


def bench_dialogue() -> Dialogue:
    lines = [
        ("partner", "hey, are you free tonight?"), ("owner", "maybe, what's up?"),
        ("partner", "the new place on Lenina opened, want to try it"), ("owner", "sure! what time"),
        ("partner", "8? I'll book a table"), ("owner", "ok 👍"), ("partner", "can you bring the charger"),
        ("owner", "which one"), ("partner", "the usb-c one, mine broke"), ("partner", "also, how was the exam?"),
    ]
    turns = tuple(Turn(role, (text,), "Anna" if role == "partner" else None) for role, text in lines)  # type: ignore[arg-type]
    return Dialogue(turns, partner_name="Anna", relationship="friend")


@dataclass(slots=True)
class Option:
    """One decode option: `reply(n)` produces one reply of n forced tokens (the product's options
    ignore n: their replies are as long as the model makes them)."""

    name: str
    reply: Callable[[int], None]
    setup: Callable[[str, int], None]
    """Called before each phase's replies with the phase (`idle`/`training`) and serving's threads."""
    tokens: int = REPLY_TOKENS
    """Tokens per reply (30, forced) — 0 for the product's replies, whose length is the model's."""
    idle: list[float] = field(default_factory=list)
    training: list[float] = field(default_factory=list)
    decode: dict[str, float] = field(default_factory=dict)
    """Per phase: decode tokens/s alone, the prompt's processing subtracted (`measure_decode`)."""


def build_options(names: list[str], models_dir: Path, llama_site: str | None, root: Path,
                  adapter: str | None = None) -> list[Option]:
    from transformers import CompileConfig

    from model.generation import GenerationSettings, generate_replies
    from model.prompt import PromptFormat
    from model.sources import load_base

    model, tokenizer = load_base(BASE, models_dir)
    fmt = PromptFormat.for_tokenizer(tokenizer)
    dialogue = bench_dialogue()
    end_ids = [tokenizer.eos_token_id, *tokenizer.encode(fmt.end_of_turn, add_special_tokens=False)]
    no_end = suppress(end_ids)
    print(f"prompt: {len(fmt.encode_prompt(tokenizer, dialogue))} tokens", flush=True)
    gen = GenerationSettings(temperature=0.7, top_p=0.9, max_new_tokens=REPLY_TOKENS)
    original_generate = model.generate

    def hf_reply(**decode: Any) -> Callable[[int], None]:
        def reply(tokens: int) -> None:
            model.generate = lambda **kw: original_generate(**kw, **decode)  # type: ignore[method-assign]
            try:
                generate_replies(model, tokenizer, fmt, dialogue, replace(gen, max_new_tokens=tokens),
                                 logits_processors=[no_end])
            finally:
                model.generate = original_generate  # type: ignore[method-assign]
        return reply

    options = []
    for name in names:
        if name == "torch":
            options.append(Option(name, hf_reply(), _torch_threads))
        elif name == "prompt-lookup":
            options.append(Option(name, hf_reply(prompt_lookup_num_tokens=10), _torch_threads))
        elif name == "static-compile":
            compile_config = CompileConfig(mode="default", dynamic=False)
            compile_config._compile_all_devices = True
            option = Option(name, hf_reply(cache_implementation="static", compile_config=compile_config),
                            _torch_threads)
            started = time.perf_counter()
            option.reply(REPLY_TOKENS)  # the compilation (not counted)
            option.reply(REPLY_TOKENS)
            print(f"static-compile: compiled in {time.perf_counter() - started:.0f}s", flush=True)
            options.append(option)
        elif name == "ct2-int8":
            option, engine = _ct2_option(models_dir, fmt, dialogue, gen)
            print_int8_fidelity(engine, model, tokenizer, fmt, root)
            options.append(option)
        elif name == "llama.cpp":
            option = _llama_option(tokenizer, fmt, dialogue, end_ids, llama_site)
            if option is None:
                print("llama.cpp: llama_cpp is not importable; skipped (see --llama-site)")
                continue
            options.append(option)
        elif name in ("service-torch", "service-ct2"):
            options.append(_service_option(name, models_dir, root, adapter))
        else:
            raise SystemExit(f"unknown option {name!r} (known: {', '.join(OPTIONS)})")
    return options


def _torch_threads(phase: str, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _ct2_option(models_dir: Path, fmt: Any, dialogue: Dialogue, gen: Any) -> tuple[Option, Any]:
    """The product's CTranslate2 engine (its export, sampling, stop checks), with the end of turn
    held off until 30 tokens as the torch options hold it off."""
    from model.ct2_engine import Ct2Engine

    started = time.perf_counter()
    engine = Ct2Engine(BASE, models_dir)
    engine.load()  # converts once (cached under the models dir)
    print(f"ct2-int8: engine ready in {time.perf_counter() - started:.0f}s", flush=True)

    def reply(tokens: int) -> None:
        generator = engine._generator
        original = generator.generate_batch

        class Forced:  # generate_batch with min_length: the product's call, `tokens` long
            def generate_batch(self, *args: Any, **kwargs: Any) -> Any:
                return original(*args, min_length=tokens, **kwargs)

        engine._generator = Forced()
        try:
            engine.sample(fmt, dialogue, replace(gen, max_new_tokens=tokens), 1)
        finally:
            engine._generator = generator
    return Option("ct2-int8", reply, lambda phase, threads: engine.use_threads(threads)), engine


def print_int8_fidelity(engine: Any, model: Any, tokenizer: Any, fmt: Any, root: Path, contexts: int = 32) -> None:
    """What int8 does to the scores that rank candidates, on the bundled sample chat: in each of the
    last `contexts` held-out contexts, the owner's real reply and 3 other held-out replies, scored by
    torch and by the ct2 engine (the base model's scores; an adapter's are merged the same way)."""
    from bench.selection_bench import _heldout
    from bench.voice_bench import _ensure_sample
    from model.torch_engine import TorchReplies
    from settings import load_settings

    data_dir = root / "fidelity"
    asyncio.run(_ensure_sample(load_settings(data_dir=data_dir)))
    _, heldout, _ = asyncio.run(_heldout(data_dir, None, contexts))
    exact_engine = TorchReplies(model, tokenizer)
    diffs, agree = [], 0
    for k, example in enumerate(heldout):
        others = [heldout[(k + j) % len(heldout)].reply.messages for j in (1, 2, 3)]
        replies = [list(example.reply.messages), *(list(o) for o in others)]
        exact = exact_engine.score(fmt, example.dialogue, replies)
        int8 = engine.score(fmt, example.dialogue, replies)
        diffs += [b - a for a, b in zip(exact, int8, strict=True) if a is not None and b is not None]
        agree += exact.index(max(exact)) == int8.index(max(int8))
    print(f"ct2-int8 vs torch on {len(heldout)} held-out contexts of the sample, {len(diffs)} reply scores (mean "
          f"log-prob per token): mean difference {statistics.mean(diffs):+.3f}, mean |difference| "
          f"{statistics.mean(abs(d) for d in diffs):.3f}; same best-ranked reply in {agree}/{len(heldout)}", flush=True)


def _llama_option(tokenizer: Any, fmt: Any, dialogue: Dialogue, end_ids: list[int],
                  llama_site: str | None) -> Option | None:
    """llama.cpp on the bundled GGUF itself (Q4_1), the same prompt text, sampling and 30 tokens:
    the reference the issue measures against, here in the same run."""
    if llama_site:
        sys.path.append(llama_site)
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    from model.sources import bundled_gguf_path

    prompt = tokenizer.decode(fmt.encode_prompt(tokenizer, dialogue), skip_special_tokens=False)
    state: dict[str, Any] = {"threads": 0, "llm": None}

    def setup(phase: str, threads: int) -> None:
        if threads != state["threads"]:
            state["llm"] = Llama(model_path=str(bundled_gguf_path("smollm2-135m")), n_ctx=1024, n_threads=threads,
                                 n_threads_batch=threads, verbose=False)
            state["threads"] = threads

    def reply(tokens: int) -> None:
        state["llm"].reset()  # no prompt cache: a real reply's prompt is new (a cached one took 0.001 s)
        state["llm"].create_completion(prompt, max_tokens=tokens, temperature=0.7, top_p=0.9, top_k=50,
                                       logit_bias={i: -100.0 for i in end_ids})
    return Option("llama.cpp", reply, setup)


def _service_option(name: str, models_dir: Path, root: Path, adapter: str | None) -> Option:
    """The product: `ModelService.reply` (4 candidates sampled, filtered and ranked), replies as long
    as the model makes them; the training phase tells it a run is on, as the controller does."""
    from model.service import ModelService
    from settings import load_settings

    engine = name.removeprefix("service-")
    settings = load_settings(data_dir=root / f"service-{engine}", base_model=BASE,
                             serving_engine=engine, max_new_tokens=REPLY_TOKENS)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.models_dir.exists():
        settings.models_dir.symlink_to(models_dir.resolve(), target_is_directory=True)
    loop = asyncio.new_event_loop()
    service = ModelService(settings, adapter_dir=adapter)
    loop.run_until_complete(service.start())
    loop.run_until_complete(service.wait_ready(600))
    if adapter is not None and service.status().adapter_path != adapter:
        raise SystemExit(f"{name}: adapter {adapter} not served: {service.status().adapter_error}")
    dialogue = bench_dialogue()

    def setup(phase: str, threads: int) -> None:  # the service picks its threads itself
        loop.run_until_complete(service.set_training_active(phase == "training"))

    def reply(tokens: int) -> None:
        loop.run_until_complete(service.reply(dialogue))
    return Option(name, reply, setup, tokens=0)


def suppress(token_ids: list[int]) -> Any:
    """Keeps the bench reply at its full 30 tokens (an early end of turn would flatter latency)."""
    def processor(input_ids: Any, scores: Any) -> Any:
        scores[:, token_ids] = float("-inf")
        return scores
    return processor
