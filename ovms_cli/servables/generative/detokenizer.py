"""Token ids to text as generations progress, in one batched ``Tokenizer.decode`` per engine step.

OpenVINO's tokenizer runs its detokenizer as a model: one call costs milliseconds, and a batch of
64 sequences costs about twice one sequence (measured on the demo model). So the stepping thread
decodes every stream's new tokens of a step in one call, off the event loop.

A stream's new tokens are decoded after the previous release's tokens and only what they add is
released (vLLM's incremental detokenizer): tokenizers whose pieces decode differently at the start
of a text (SentencePiece's leading space) stream the same text as a unary answer, and a decode
ending in U+FFFD (half a UTF-8 character) waits for the next token. A unary generation is decoded
once, when it finishes.
"""

from __future__ import annotations

from collections.abc import Sequence

import openvino_genai as genai


class IncrementalText:
    """One generation's text state (touched by the stepping thread only)."""

    __slots__ = ("prefix_start", "read_start", "skip_special_tokens", "stream", "tokens")

    def __init__(self, stream: bool, skip_special_tokens: bool) -> None:
        self.stream = stream
        self.skip_special_tokens = skip_special_tokens
        self.tokens: list[int] = []
        self.prefix_start = 0  # tokens[prefix_start:read_start]: the previous release's tokens
        self.read_start = 0


def release(
    tokenizer: genai.Tokenizer, steps: Sequence[tuple[IncrementalText, list[int], bool]]
) -> list[str]:
    """For each (state, new token ids, finished): the text to release now ("" for none)."""
    wanted: list[tuple[int, list[int], bool]] = []  # (index into out, tokens, skip)
    plans: list[tuple[int, int] | None] = []  # per step: (prefix slot, full slot) in ``wanted``
    for state, ids, finished in steps:
        state.tokens.extend(ids)
        if not (state.stream or finished) or len(state.tokens) == state.read_start:
            plans.append(None)
            continue
        prefix = state.tokens[state.prefix_start : state.read_start]
        full = state.tokens[state.prefix_start :]
        prefix_slot = -1
        if prefix:
            prefix_slot = len(wanted)
            wanted.append((prefix_slot, prefix, state.skip_special_tokens))
        wanted.append((len(wanted), full, state.skip_special_tokens))
        plans.append((prefix_slot, len(wanted) - 1))
    texts = _decode(tokenizer, wanted)
    out: list[str] = []
    for (state, _, finished), plan in zip(steps, plans, strict=True):
        if plan is None:
            out.append("")
            continue
        prefix_text = texts[plan[0]] if plan[0] >= 0 else ""
        full_text = texts[plan[1]]
        if (full_text.endswith("\ufffd") and not finished) or len(full_text) <= len(prefix_text):
            out.append("")
            continue
        out.append(full_text[len(prefix_text) :])
        state.prefix_start, state.read_start = state.read_start, len(state.tokens)
    return out


def _decode(tokenizer: genai.Tokenizer, wanted: list[tuple[int, list[int], bool]]) -> list[str]:
    """One ``decode`` per ``skip_special_tokens`` value; texts in ``wanted``'s order."""
    texts = [""] * len(wanted)
    for skip in (True, False):
        group = [(slot, tokens) for slot, tokens, s in wanted if s is skip]
        if group:
            decoded = tokenizer.decode([tokens for _, tokens in group], skip_special_tokens=skip)
            for (slot, _), text in zip(group, decoded, strict=True):
                texts[slot] = str(text)
    return texts
