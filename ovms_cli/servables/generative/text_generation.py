"""A text-generation servable: prompt preparation, limits and generation on continuous batching.

Rules from OVMS (genai-spec §2.3-2.5): the chat template comes from ``chat_template.jinja``, else
``tokenizer_config.json``, else the tokenizer IR; the rendered chat prompt is tokenized without
special tokens, a completions prompt with them; the model length is the first of
``max_position_embeddings, n_positions, seq_len, seq_length, n_ctx, sliding_window`` in
``config.json``; the request's settings override ``generation_config.json``, which overrides
GenAI's defaults; sampling (``temperature > 0``) defaults ``top_k`` to 40 and draws a seed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openvino as ov
import openvino_genai as genai

from ovms_cli.errors import InvalidField
from ovms_cli.servables.generative.engine import ContinuousBatchingEngine, EngineLoad, Generation
from ovms_cli.servables.generative.engine_wire import GenerationFields, config_fields
from ovms_cli.servables.generative.graph_config import GenerativeConfig
from ovms_cli.servables.generative.sampling import Sampling

log = logging.getLogger("ovms.genai")

LENGTH_KEYS = ("max_position_embeddings", "n_positions", "seq_len", "seq_length", "n_ctx", "sliding_window")
SAMPLING_TOP_K = 40
UNLIMITED_TOP_K = 2**31 - 1
TOKENIZER_PROPERTIES = {"NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": 1}
"""The server's tokenizer runs on one thread: a prompt or a step's tokens are too few to share among
threads, and the cores belong to the engine process's inference. Measured on the benchmark model's
tokenizer: encode medians 0.26-0.50 ms either way, idle or with two busy loops on the 2 cores (a
first measurement under load, 0.6-0.7 ms vs 1.2-7 ms, did not repeat)."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """Token ids to generate from; ``ids`` is an ``i64[1, tokens]`` tensor."""

    ids: ov.Tensor
    tokens: int


class TextGenerationServable:
    """Loaded from an OVMS LLM folder (its pipeline in an engine process, ``engine``); ``start``
    begins reading the engine's steps on the running loop. Raises EngineLoadError if the model
    does not load."""

    task = "text_generation"

    def __init__(self, config: GenerativeConfig) -> None:
        self.config = config
        folder = config.models_path
        # the same tokenizer files the engine process's pipeline reads, for prompts (the engine detokenizes)
        self.tokenizer = genai.Tokenizer(str(folder), **TOKENIZER_PROPERTIES)
        self.chat_template = _chat_template(folder)
        self.max_model_length = _max_model_length(folder)
        self.tokenizer_limit = _tokenizer_limit(self.tokenizer)
        base = folder / "generation_config.json"
        # read once: the request's settings go over these (genai-spec §2.5)
        self._base = config_fields(
            genai.GenerationConfig(str(base)) if base.exists() else genai.GenerationConfig()
        )
        self.engine = ContinuousBatchingEngine(config)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.engine.start(loop, self.config.name)

    def close(self) -> None:
        self.engine.close()

    @property
    def load(self) -> EngineLoad:
        return self.engine.load

    def chat_prompt(
        self, messages: Sequence[dict[str, str]], add_generation_prompt: bool, extra: dict[str, Any]
    ) -> Prompt:
        """Render ``messages`` with the model's chat template and tokenize it without special tokens.

        Raises InvalidField(messages) when the template fails or renders nothing.
        """
        if self.chat_template is None and not self.tokenizer.chat_template:
            raise InvalidField("messages", "the model has no chat template; use /v3/completions")
        try:
            text = self.tokenizer.apply_chat_template(
                list(messages),
                add_generation_prompt=add_generation_prompt,
                chat_template=self.chat_template or "",
                extra_context=extra,
            )
        except Exception as error:
            raise InvalidField("messages", f"applying the chat template failed: {error}") from error
        if not text:
            raise InvalidField("messages", "Final prompt after applying chat template is empty")
        return self._encode(text, add_special_tokens=False, field="messages")

    def completion_prompt(self, text: str) -> Prompt:
        return self._encode(text, add_special_tokens=True, field="prompt")

    def _encode(self, text: str, *, add_special_tokens: bool, field: str) -> Prompt:
        ids = self.tokenizer.encode(text, add_special_tokens=add_special_tokens).input_ids
        tokens = int(ids.shape[1])
        if tokens == 0:
            raise InvalidField(field, "the prompt has no tokens")
        limit = self.tokenizer_limit
        if limit is not None and tokens >= limit:
            # the tokenizer cut it: its real length is unknown, and generating from a cut prompt
            # would silently change what the client sent
            model = "" if self.max_model_length is None else f"; model max length: {self.max_model_length}"
            raise InvalidField(
                field,
                f"Number of prompt tokens: at least {limit}, the most this model's tokenizer reads{model}",
            )
        return Prompt(ids, tokens)

    def generation_config(self, prompt: Prompt, sampling: Sampling, field: str) -> GenerationFields:
        """GenAI's settings for one request, as ``GenerationFields`` (built into a ``GenerationConfig``
        by the engine process). Raises InvalidField for a prompt too long for the model."""
        self._check_length(prompt, sampling, field)
        config = dict(self._base)
        config["apply_chat_template"] = False
        if sampling.max_tokens is not None:
            config["max_new_tokens"] = sampling.max_tokens
        if self.max_model_length is not None:
            config["max_length"] = self.max_model_length
        config["num_beams"] = sampling.best_of
        config["num_return_sequences"] = sampling.n
        sample = sampling.temperature > 0 and sampling.best_of == 1  # beams never sample
        config["do_sample"] = sample
        if sampling.logprobs:
            config["logprobs"] = 1
        config["temperature"] = sampling.temperature
        if sample:
            config["top_k"] = SAMPLING_TOP_K
            config["rng_seed"] = random.getrandbits(32) if sampling.seed is None else sampling.seed
        if sampling.top_k is not None:
            config["top_k"] = UNLIMITED_TOP_K if sampling.top_k == -1 else sampling.top_k
        for name in (
            "top_p",
            "min_p",
            "repetition_penalty",
            "frequency_penalty",
            "presence_penalty",
            "length_penalty",
            "ignore_eos",
        ):
            value = getattr(sampling, name)
            if value is not None:
                config[name] = value
        if sampling.stop:
            config["stop_strings"] = set(sampling.stop)
        config["include_stop_str_in_output"] = sampling.include_stop_str_in_output
        return config

    def _check_length(self, prompt: Prompt, sampling: Sampling, field: str) -> None:
        limit = self.max_model_length
        if limit is not None:
            if prompt.tokens > limit:
                raise InvalidField(
                    field, f"Number of prompt tokens: {prompt.tokens} exceeds model max length: {limit}"
                )
            if sampling.max_tokens is not None and prompt.tokens + sampling.max_tokens > limit:
                raise InvalidField(
                    "max_tokens",
                    f"Number of prompt tokens: {prompt.tokens} + max tokens value: {sampling.max_tokens} "
                    f"exceeds model max length: {limit}",
                )
        batched = self.config.max_num_batched_tokens
        if not self.config.dynamic_split_fuse and prompt.tokens > batched:
            raise InvalidField(
                field, f"Input length exceeds pipeline capabilities: {prompt.tokens} > {batched}"
            )
        if sampling.best_of >= self.config.best_of_limit:
            name = "best_of" if sampling.best_of_sent else "n"
            raise InvalidField(
                name, f"{name} exceeds limit provided in graph config: {self.config.best_of_limit}"
            )
        limit = self.config.max_tokens_limit
        if limit is not None and sampling.max_tokens is not None and sampling.max_tokens >= limit:
            raise InvalidField(
                "max_tokens",
                f"max_tokens exceeds limit provided in graph config: {self.config.max_tokens_limit}",
            )

    def submit(
        self, prompt: Prompt, config: GenerationFields, stream: bool, skip_special_tokens: bool
    ) -> Generation:
        return self.engine.submit(prompt.ids, config, stream, skip_special_tokens)

    def stop(self, generation: Generation) -> None:
        self.engine.stop(generation)


TOKENIZER_PROBE = "tokenizer " * 40_000
"""Long enough to pass any truncation a tokenizer IR carries (OpenVINO's converter puts 8,192 in some)."""


def _tokenizer_limit(tokenizer: genai.Tokenizer) -> int | None:
    """The length at which ``tokenizer`` cuts prompts (its IR truncates whatever ``encode`` is asked),
    or None if it cut neither the probe nor twice the probe. Measured once at load (tens of ms)."""
    once = int(tokenizer.encode(TOKENIZER_PROBE, add_special_tokens=False).input_ids.shape[1])
    twice = int(tokenizer.encode(TOKENIZER_PROBE * 2, add_special_tokens=False).input_ids.shape[1])
    return once if once == twice else None


def _chat_template(folder: Path) -> str | None:
    """``chat_template.jinja``, else ``tokenizer_config.json``'s ``chat_template`` (a string, or a list
    whose ``default`` entry is used); None: the tokenizer IR's own."""
    jinja = folder / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text()
    config = _json(folder / "tokenizer_config.json")
    template = config.get("chat_template")
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) and template else None


def _max_model_length(folder: Path) -> int | None:
    config = _json(folder / "config.json")
    for key in LENGTH_KEYS:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text())
    except ValueError:
        log.warning("%s is not valid JSON; ignored", path)
        return {}
    return document if isinstance(document, dict) else {}
