"""The /v3 routes' own rules that the end-to-end tests (tests/e2e/test_openai.py) cannot see."""

from __future__ import annotations

import threading

from ovms_cli.transports.rest_openai import INLINE_PROMPT_CHARS, _tokenized


async def test_short_prompts_are_tokenized_on_the_loop_and_long_ones_on_a_thread() -> None:
    threads: list[int] = []

    def prepare(text: str) -> str:
        threads.append(threading.get_ident())
        return text.upper()

    assert await _tokenized(INLINE_PROMPT_CHARS, prepare, "short") == "SHORT"
    assert await _tokenized(INLINE_PROMPT_CHARS + 1, prepare, "long") == "LONG"
    assert threads[0] == threading.get_ident()
    assert threads[1] != threading.get_ident()
