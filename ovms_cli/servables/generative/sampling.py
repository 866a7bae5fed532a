"""A request's decoding settings as the core takes them (importable without OpenVINO GenAI)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sampling:
    """A request's decoding settings, validated by the protocol layer; None: the model's default."""

    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float | None = None
    top_k: int | None = None  # -1: every token
    min_p: float | None = None
    repetition_penalty: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    length_penalty: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    ignore_eos: bool | None = None
    include_stop_str_in_output: bool = False
    n: int = 1  # sequences returned (GenAI's num_return_sequences)
    best_of: int = 1  # beams searched (GenAI's num_beams); > 1 is beam search, never sampling
    best_of_sent: bool = False  # False: best_of is n, and a limit on it is reported as n's
    logprobs: bool = False  # each generated token's log probability in the response
