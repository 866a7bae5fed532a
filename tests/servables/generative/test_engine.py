"""The engine process of a text-generation model, driven as the server drives it: real processes on
the demo LLM, checked against OpenVINO GenAI in-process."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import openvino as ov
import openvino_genai as genai
import pytest
from engine_processes import engines
from genai_models import LLM, greedy, scheduler

from ovms_cli.errors import InternalError
from ovms_cli.servables.generative.demo import write_generative_demo
from ovms_cli.servables.generative.detokenizer import VocabularyBytes, decode_batch, token_pieces
from ovms_cli.servables.generative.engine import (
    Cancelled,
    ContinuousBatchingEngine,
    EngineLoad,
    EngineLoadError,
    Generation,
)
from ovms_cli.servables.generative.engine_process import genai_message
from ovms_cli.servables.generative.engine_wire import config_fields
from ovms_cli.servables.generative.graph_config import GenerativeConfig, Task, read_graph

PROMPT = "The quick brown fox"
WAIT_S = 30.0


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> GenerativeConfig:
    root = tmp_path_factory.mktemp("llm")
    write_generative_demo(root, Task.TEXT_GENERATION)
    return read_graph(LLM, root / LLM / "graph.pbtxt")


@pytest.fixture
def engine(llm: GenerativeConfig) -> Iterator[ContinuousBatchingEngine]:
    started = ContinuousBatchingEngine(llm)
    yield started
    started.close()


def _prompt(config: GenerativeConfig, text: str = PROMPT) -> ov.Tensor:
    ids: ov.Tensor = genai.Tokenizer(str(config.models_path)).encode(text, add_special_tokens=True).input_ids
    return ids


async def _text(generation: Generation) -> str:
    return "".join([t async for t in generation.texts()])


def _engine_children() -> list[int]:
    return engines(os.getpid())


def test_greedy_generations_equal_in_process(llm: GenerativeConfig, engine: ContinuousBatchingEngine) -> None:
    """A plain stream's text, and a detailed request's (log probabilities) sequence, as GenAI's own."""
    reference = genai.ContinuousBatchingPipeline(str(llm.models_path), scheduler(), "CPU")
    detailed = greedy(12)
    detailed.logprobs = 1
    ids = _prompt(llm)
    handle = reference.add_request(0, ids, detailed)
    while reference.has_non_finished_requests():
        reference.step()
    expected = handle.read_all()[0]
    expected_text = reference.get_tokenizer().decode(expected.generated_ids)

    async def generate() -> tuple[str, Generation, str, Generation]:
        engine.start(asyncio.get_running_loop(), llm.name)
        plain = engine.submit(ids, config_fields(greedy(12)), stream=True, skip_special_tokens=True)
        detail = engine.submit(ids, config_fields(detailed), stream=False, skip_special_tokens=True)
        return await _text(plain), plain, await _text(detail), detail

    text, plain, detail_text, detail = asyncio.run(generate())
    assert text == expected_text
    assert (plain.generated, plain.finish_reason, plain.sequences) == (12, "length", [])
    assert (detail_text, detail.generated, detail.finish_reason) == ("", 12, "length")
    [sequence] = detail.sequences
    assert (sequence.text, sequence.finish_reason) == (expected_text, "length")
    assert sequence.generated_ids == list(expected.generated_ids)
    assert sequence.generated_log_probs == pytest.approx(list(expected.generated_log_probs), abs=1e-4)
    assert sequence.score == pytest.approx(expected.score, abs=1e-3)
    assert len(sequence.token_texts) == len(sequence.token_bytes) == 12
    # byte-level BPE: the tokens' bytes, parts of characters included, join into the text (which, as
    # OpenVINO's detokenizer, drops bytes that make no whole character)
    assert b"".join(sequence.token_bytes).decode(errors="ignore") == expected_text
    assert engine.idle


def test_stop_frees_the_kv_cache(llm: GenerativeConfig, engine: ContinuousBatchingEngine) -> None:
    async def stop_early() -> tuple[int, EngineLoad, str]:
        engine.start(asyncio.get_running_loop(), llm.name)
        generation = engine.submit(
            _prompt(llm), config_fields(greedy(400)), stream=True, skip_special_tokens=True
        )
        texts = generation.texts()
        await anext(texts)
        engine.stop(generation)
        async for _ in texts:
            pass
        deadline = time.monotonic() + WAIT_S
        while engine.load.kv_cache_usage > 0 or engine.load.running:
            assert time.monotonic() < deadline, engine.load
            await asyncio.sleep(0.01)
        after = engine.submit(_prompt(llm), config_fields(greedy(3)), stream=False, skip_special_tokens=True)
        return generation.generated, engine.load, await _text(after)

    generated, load, text = asyncio.run(stop_early())
    assert generated < 400
    assert load == EngineLoad(0, 0, 0.0)
    assert text != ""


def test_close_cancels_generations_and_ends_the_process(
    llm: GenerativeConfig, engine: ContinuousBatchingEngine
) -> None:
    pid = engine.pid
    assert pid in _engine_children()

    async def close_mid_stream() -> Generation:
        engine.start(asyncio.get_running_loop(), llm.name)
        generation = engine.submit(
            _prompt(llm), config_fields(greedy(400)), stream=True, skip_special_tokens=True
        )
        texts = generation.texts()
        await anext(texts)
        await asyncio.to_thread(engine.close)
        with pytest.raises(Cancelled):
            async for _ in texts:
                pass
        return generation

    generation = asyncio.run(close_mid_stream())
    assert generation.generated < 400
    assert pid not in _engine_children()


def test_a_killed_engine_fails_its_generations_and_is_restarted(
    llm: GenerativeConfig, engine: ContinuousBatchingEngine
) -> None:
    first = engine.pid
    assert first is not None

    async def kill_mid_stream() -> tuple[InternalError, str]:
        engine.start(asyncio.get_running_loop(), llm.name)
        generation = engine.submit(
            _prompt(llm), config_fields(greedy(400)), stream=True, skip_special_tokens=True
        )
        texts = generation.texts()
        await anext(texts)
        assert engine.load.running == 1
        os.kill(first, signal.SIGKILL)
        with pytest.raises(InternalError) as failed:
            async for _ in texts:
                pass
        assert not engine.available  # restarting
        assert engine.load == EngineLoad()  # its sequences and KV cache went with it
        deadline = time.monotonic() + WAIT_S
        while engine.pid is None:
            assert time.monotonic() < deadline, "the engine was not restarted"
            await asyncio.sleep(0.05)
        again = engine.submit(_prompt(llm), config_fields(greedy(3)), stream=False, skip_special_tokens=True)
        return failed.value, await _text(again)

    error, text = asyncio.run(kill_mid_stream())
    assert error.http_status == 500
    assert f"the engine process of model {LLM} exited" in str(error)
    assert text != ""
    assert engine.pid not in (None, first)
    assert engine.available
    assert first not in _engine_children()


def test_a_model_that_fails_to_load_is_an_error_and_leaves_no_process(
    llm: GenerativeConfig, tmp_path: Path
) -> None:
    broken = GenerativeConfig(name="broken", task=Task.TEXT_GENERATION, models_path=tmp_path)
    with pytest.raises(EngineLoadError, match=r"\S"):
        ContinuousBatchingEngine(broken)
    assert _engine_children() == []


def test_token_bytes_of_characters_the_vocabulary_spells_in_bytes(llm: GenerativeConfig) -> None:
    """The demo's BPE learned no "é" or emoji: they are byte tokens, each only part of a character."""
    tokenizer = genai.Tokenizer(str(llm.models_path))
    ids = [int(t) for t in tokenizer.encode("é😀", add_special_tokens=False).input_ids.data[0]]
    pieces = token_pieces(tokenizer, ids, True, VocabularyBytes(tokenizer))
    assert len(ids) > 2
    assert b"".join(raw for _, raw in pieces) == "é😀".encode()
    assert all(text == "".join(f"\\x{b:02x}" for b in raw) for text, raw in pieces if raw[0] >= 0x80)


def test_a_batch_decoded_with_special_tokens_prints_no_padding(llm: GenerativeConfig) -> None:
    """OpenVINO's batched decode pads short sequences with the pad token, which prints unless skipped."""
    tokenizer = genai.Tokenizer(str(llm.models_path))
    ids = [
        int(t) for t in tokenizer.encode("The quick brown fox", add_special_tokens=False).input_ids.data[0]
    ]
    alone = [
        str(tokenizer.decode(sequence, skip_special_tokens=False)) for sequence in (ids[:1], ids, ids[:1])
    ]
    assert decode_batch(tokenizer, [ids[:1], ids, ids[:1]], False) == alone
    assert decode_batch(tokenizer, [ids[:1], ids], True) == [
        str(tokenizer.decode(ids[:1])),
        str(tokenizer.decode(ids)),
    ]


def test_genai_messages_lose_the_cpp_build_path() -> None:
    raised = RuntimeError(
        "Check 'm_generated_ids.size() >= n' failed at /home/jenkins/agent/workspace/b/repos/"
        "openvino.genai/src/cpp/src/sequence_group.hpp:221:\nCannot remove more tokens than has been generated\n"
    )
    assert genai_message(raised) == (
        "Check 'm_generated_ids.size() >= n' failed: Cannot remove more tokens than has been generated"
    )
    assert genai_message(ValueError("max_new_tokens must be positive")) == "max_new_tokens must be positive"
