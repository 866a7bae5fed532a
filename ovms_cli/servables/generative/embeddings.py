"""An embeddings servable: the folder's tokenizer and encoder run with plain OpenVINO inference.

OpenVINO GenAI's ``TextEmbeddingPipeline`` takes strings only and reports no token counts, while
OVMS's ``/v3/embeddings`` also takes token ids and answers ``usage`` (the attention-mask ones,
genai-spec §3); so the encoder runs here with the same pooling (CLS, MEAN or LAST over
``last_hidden_state``) and L2 normalisation the pipeline applies, and the tests compare both.
Each text is tokenized alone and the batch padded on the right whatever the tokenizer's own
padding (a tokenizer converted for a decoder pads on the left), so CLS is each text's first token
and LAST its last: a text embeds the same alone or in any batch.
Inference runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino_genai as genai

from ovms_cli.errors import InvalidField
from ovms_cli.servables.generative.graph_config import GenerativeConfig

DEFAULT_MAX_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Embeddings:
    """``vectors``: f32[inputs, hidden]; ``tokens``: the attention-mask ones over all inputs."""

    vectors: np.ndarray
    tokens: int


class EmbeddingsServable:
    task = "embeddings"

    def __init__(self, config: GenerativeConfig, core: ov.Core) -> None:
        self.config = config
        folder = config.models_path
        self.tokenizer = genai.Tokenizer(str(folder))
        self.model = core.compile_model(
            str(folder / "openvino_model.xml"), config.device, config.plugin_properties
        )
        self.inputs = {i.get_any_name() for i in self.model.inputs}
        self.max_length = _max_length(folder)
        self.pad_id = int(self.tokenizer.get_pad_token_id())
        self.vocab_size = _config(folder).get("vocab_size")  # None: token ids are not range-checked

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        return None

    def close(self) -> None:
        return None

    async def embed(self, texts: Sequence[str] | None, ids: Sequence[Sequence[int]] | None) -> Embeddings:
        """Raises InvalidField(input) for an input longer than the model allows (``truncate`` off)."""
        return await asyncio.to_thread(self._embed, texts, ids)

    def _embed(self, texts: Sequence[str] | None, ids: Sequence[Sequence[int]] | None) -> Embeddings:
        """``texts`` or token ``ids``, one row each → f32[rows, width] and the token count."""
        if texts is not None:
            ids = [self.tokenizer.encode(text, add_special_tokens=True).input_ids.data[0] for text in texts]
        else:
            assert ids is not None
            limit = self.vocab_size
            outside = None if limit is None else next((t for row in ids for t in row if t >= limit), None)
            if outside is not None:
                raise InvalidField(
                    "input", f"token id {outside} is outside the vocabulary of {self.vocab_size}"
                )
        longest = max(len(row) for row in ids)
        input_ids = np.full((len(ids), longest), self.pad_id, np.int64)
        mask = np.zeros((len(ids), longest), np.int64)
        for row, values in enumerate(ids):
            input_ids[row, : len(values)] = values
            mask[row, : len(values)] = 1
        lengths = mask.sum(axis=1)
        if int(lengths.max()) > self.max_length:
            if not self.config.truncate:
                raise InvalidField(
                    "input", f"Input length {int(lengths.max())} longer than allowed {self.max_length}"
                )
            input_ids, mask = input_ids[:, : self.max_length], mask[:, : self.max_length]
            lengths = mask.sum(axis=1)
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        if "position_ids" in self.inputs:
            feed["position_ids"] = np.broadcast_to(np.arange(input_ids.shape[1]), input_ids.shape).copy()
        hidden = self.model.create_infer_request().infer(feed)[self.model.output(0)]
        vectors = _pool(np.asarray(hidden, np.float32), mask, self.config.pooling)
        if self.config.normalize_embeddings:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return Embeddings(vectors.astype(np.float32), int(lengths.sum()))


def _pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    """``hidden``: f32[batch, tokens, width] → f32[batch, width]."""
    if pooling == "CLS":
        return np.asarray(hidden[:, 0, :])
    if pooling == "MEAN":
        weights = mask[:, :, None].astype(np.float32)
        pooled: np.ndarray = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled
    last = mask.sum(axis=1) - 1  # right padding: the last real token of each row
    return hidden[np.arange(hidden.shape[0]), last, :]


def _config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    document = json.loads(path.read_text()) if path.exists() else {}
    return document if isinstance(document, dict) else {}


def _max_length(folder: Path) -> int:
    config = _config(folder)
    for key in ("max_position_embeddings", "max_trained_positions"):
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_MAX_LENGTH
