"""Incremental detokenization: the streamed text equals the text decoded at once."""

from __future__ import annotations

from collections.abc import Sequence

from ovms_cli.servables.generative.detokenizer import IncrementalText, VocabularyBytes, release, token_pieces

PIECES = {1: "▁Hello", 2: "▁world", 3: "!", 4: "<0xC3>", 5: "<0xA9>", 6: "</s>"}


class SentencePieceLike:
    """Decodes like SentencePiece: ``▁`` is a space, dropped at the start of a text; byte pieces
    join into UTF-8 (U+FFFD while incomplete); ``</s>`` is special. Counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def decode(self, batch: Sequence[Sequence[int]], skip_special_tokens: bool = True) -> list[str]:
        self.calls += 1
        return [self._one(ids, skip_special_tokens) for ids in batch]

    @staticmethod
    def get_vocab() -> dict[bytes, int]:
        return {piece.encode(): token for token, piece in PIECES.items()}

    @staticmethod
    def _one(ids: Sequence[int], skip: bool) -> str:
        raw = b""
        for token in ids:
            piece = PIECES[token]
            if piece == "</s>" and skip:
                continue
            raw += (
                bytes([int(piece[3:5], 16)]) if piece.startswith("<0x") else piece.replace("▁", " ").encode()
            )
        return raw.decode("utf-8", errors="replace").removeprefix(" ")


def _stream(tokens: list[list[int]], skip: bool = True) -> tuple[list[str], int]:
    tokenizer = SentencePieceLike()
    state = IncrementalText(stream=True, skip_special_tokens=skip)
    out = []
    for index, ids in enumerate(tokens):
        out += release(tokenizer, [(state, ids, index == len(tokens) - 1)])  # type: ignore[arg-type]
    return out, tokenizer.calls


def test_streamed_text_keeps_the_spaces_between_pieces() -> None:
    released, _ = _stream([[1], [2], [3]])
    assert "".join(released) == SentencePieceLike._one([1, 2, 3], True) == "Hello world!"
    assert released == ["Hello", " world", "!"]


def test_half_a_character_waits_for_the_rest() -> None:
    released, _ = _stream([[1], [4], [5], [3]])
    assert released == ["Hello", "", "é", "!"]


def test_special_tokens_follow_the_request() -> None:
    assert "".join(_stream([[1], [6]], skip=True)[0]) == "Hello"
    assert "".join(_stream([[1], [6]], skip=False)[0]) == "Hello</s>"


def test_unary_generations_decode_once_at_the_end() -> None:
    tokenizer = SentencePieceLike()
    state = IncrementalText(stream=False, skip_special_tokens=True)
    assert release(tokenizer, [(state, [1], False)]) == [""]  # type: ignore[arg-type]
    assert release(tokenizer, [(state, [2, 3], True)]) == ["Hello world!"]  # type: ignore[arg-type]
    assert tokenizer.calls == 1


def test_one_decode_call_per_step_for_all_streams() -> None:
    tokenizer = SentencePieceLike()
    states = [IncrementalText(stream=True, skip_special_tokens=True) for _ in range(8)]
    release(tokenizer, [(s, [1], False) for s in states])  # type: ignore[arg-type]
    texts = release(tokenizer, [(s, [2], False) for s in states])  # type: ignore[arg-type]
    assert texts == [" world"] * 8
    assert tokenizer.calls == 2


def test_a_token_that_is_part_of_a_character_is_its_bytes_with_the_text_escaped() -> None:
    tokenizer = SentencePieceLike()
    pieces = token_pieces(tokenizer, [1, 4, 5, 6], True, VocabularyBytes(tokenizer))  # type: ignore[arg-type]
    assert pieces == [("Hello", b"Hello"), ("\\xc3", b"\xc3"), ("\\xa9", b"\xa9"), ("", b"")]
    assert b"".join(raw for _, raw in pieces).decode() == SentencePieceLike._one([1, 4, 5, 6], True)
