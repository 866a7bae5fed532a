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

import re
from collections.abc import Sequence

import openvino_genai as genai

REPLACEMENT = "\ufffd"
_BYTE_FALLBACK = re.compile(rb"<0x([0-9A-Fa-f]{2})>")


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
    """``decode_batch`` per ``skip_special_tokens`` value; texts in ``wanted``'s order."""
    texts = [""] * len(wanted)
    for skip in (True, False):
        group = [(slot, tokens) for slot, tokens, s in wanted if s is skip]
        if group:
            decoded = decode_batch(tokenizer, [tokens for _, tokens in group], skip)
            for (slot, _), text in zip(group, decoded, strict=True):
                texts[slot] = text
    return texts


def decode_batch(
    tokenizer: genai.Tokenizer, sequences: Sequence[Sequence[int]], skip_special_tokens: bool
) -> list[str]:
    """Each sequence's text, in as few ``Tokenizer.decode`` calls as padding allows.

    OpenVINO's batched decode pads the shorter sequences with the pad token, a special token: with
    ``skip_special_tokens`` one call decodes them all, without it the padding would print (found by
    the fresh-user check: ``'The<|endoftext|><|endoftext|>'``), so sequences of one length share a call.
    """
    if skip_special_tokens or len({len(s) for s in sequences}) <= 1:
        return [
            str(t)
            for t in tokenizer.decode([list(s) for s in sequences], skip_special_tokens=skip_special_tokens)
        ]
    texts = [""] * len(sequences)
    by_length: dict[int, list[int]] = {}
    for index, sequence in enumerate(sequences):
        by_length.setdefault(len(sequence), []).append(index)
    for indices in by_length.values():
        decoded = tokenizer.decode([list(sequences[i]) for i in indices], skip_special_tokens=False)
        for index, text in zip(indices, decoded, strict=True):
            texts[index] = str(text)
    return texts


class VocabularyBytes:
    """Each token id's raw bytes, from ``Tokenizer.get_vocab()`` (read once): a byte-level BPE entry is
    its bytes; SentencePiece's byte-fallback entry ``<0xNN>`` is the byte NN."""

    __slots__ = ("_bytes",)

    def __init__(self, tokenizer: genai.Tokenizer) -> None:
        self._bytes: dict[int, bytes] = {}
        for raw, token_id in tokenizer.get_vocab().items():
            fallback = _BYTE_FALLBACK.fullmatch(raw)
            self._bytes[int(token_id)] = bytes([int(fallback.group(1), 16)]) if fallback else bytes(raw)

    def get(self, token_id: int) -> bytes | None:
        return self._bytes.get(token_id)


def token_pieces(
    tokenizer: genai.Tokenizer, ids: Sequence[int], skip_special_tokens: bool, vocabulary: VocabularyBytes
) -> list[tuple[str, bytes]]:
    """Each token's (text, bytes) for OpenAI's ``logprobs``: the token decoded alone and its UTF-8.

    A token that is only part of a character decodes alone to nothing (OpenVINO's detokenizer) or
    U+FFFD; it gets its raw vocabulary bytes instead (so the ``bytes`` of consecutive tokens join
    into the text, as OpenAI documents the field), and as text those bytes escaped as ``\\xNN``
    (DeepSeek's API does the same; a U+FFFD would lose them)."""
    pieces = tokenizer.decode([[t] for t in ids], skip_special_tokens=skip_special_tokens)
    out: list[tuple[str, bytes]] = []
    for token_id, decoded in zip(ids, pieces, strict=True):
        piece = str(decoded)
        partial = None if piece and REPLACEMENT not in piece else _partial(vocabulary.get(token_id))
        if partial is None:
            out.append((piece, piece.encode()))
        else:
            out.append(("".join(f"\\x{b:02x}" for b in partial), partial))
    return out


def _partial(raw: bytes | None) -> bytes | None:
    """``raw`` when it is part of a character (not valid UTF-8), else None."""
    if raw is None:
        return None
    try:
        raw.decode()
    except UnicodeDecodeError:
        return raw
    return None
