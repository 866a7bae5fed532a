"""Tiny random-weight generative models built offline, for ``ovms demo`` and the tests.

A text-generation folder comes from a llama GGUF written with ``gguf`` (random F16 matrices, a
byte-level BPE trained locally with ``tokenizers``) that OpenVINO GenAI converts once to IR
(``enable_save_ov_model``); the recipe of ``genai-tiny-model.md``. Beside the IR go the files OVMS
reads from a model folder: ``config.json`` (context length), ``tokenizer_config.json`` (chat
template) and ``generation_config.json``.

The embeddings folder holds a stateless encoder built with the opset API (``input_ids`` and
``attention_mask`` in, ``last_hidden_state`` out) and the text model's tokenizer. The rerank folder
is the text model with ``config.json`` ``{"model_type": "qwen3"}``: GenAI's ``TextRerankPipeline``
then scores the logits of the ``yes``/``no`` tokens.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")  # ids 0, 1, 2: bos/pad, -, eos
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# GenAI's split regex for tokenizer.ggml.pre == "qwen2": the HF trainer uses it too, so ids agree.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
CORPUS = (
    "The quick brown fox jumps over the lazy dog.",
    "OpenVINO GenAI runs large language models on CPU and GPU.",
    "A tiny model with random weights is enough to test a serving pipeline.",
    "Hello world! How are you today? I am fine, thank you.",
    "Numbers like 12345 and 67890 should also be tokenized.",
    "Continuous batching schedules many requests at the same time.",
    "User: what is the capital of France? Assistant: Paris is the capital.",
    "yes",
    "no",
    "Is it relevant? yes",
    "Is it relevant? no",
)
TOKENIZER_FILES = (
    "openvino_tokenizer.xml",
    "openvino_tokenizer.bin",
    "openvino_detokenizer.xml",
    "openvino_detokenizer.bin",
)


@dataclass(frozen=True, slots=True)
class DecoderShape:
    """A llama decoder's size; the default is the demo's (about 0.1 M parameters)."""

    layers: int = 2
    hidden: int = 64
    heads: int = 4
    kv_heads: int = 2
    ffn: int = 128
    context: int = 512
    vocab: int = 512

    def parameters(self, vocab: int) -> int:
        head = self.hidden // self.heads
        attention = self.hidden * head * (2 * self.heads + 2 * self.kv_heads)
        block = attention + 3 * self.hidden * self.ffn + 2 * self.hidden
        return self.layers * block + 2 * vocab * self.hidden + self.hidden


def _train_bpe(vocab_size: int) -> tuple[list[str], list[str]]:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(  # type: ignore[assignment]
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()  # type: ignore[assignment]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIALS),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(list(CORPUS) * 20, trainer)
    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return tokens, [m if isinstance(m, str) else " ".join(m) for m in merges]


def write_gguf(path: Path, shape: DecoderShape = DecoderShape(), seed: int = 0) -> int:
    """Write a llama GGUF with random weights to ``path``; return its vocabulary size."""
    import gguf

    tokens, merges = _train_bpe(shape.vocab)
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_name("tiny-random-llama")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)  # GenAI refuses F32 matrices
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.hidden)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_dimension_count(shape.hidden // shape.heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if t in SPECIALS else gguf.TokenType.NORMAL for t in tokens]
    )
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index(SPECIALS[0]))
    writer.add_eos_token_id(tokens.index(SPECIALS[2]))
    writer.add_pad_token_id(tokens.index(SPECIALS[0]))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    rng = np.random.default_rng(seed)

    def matrix(rows: int, columns: int) -> np.ndarray:
        return (rng.standard_normal((rows, columns)) * 0.02).astype(np.float16)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, np.float32)

    head = shape.hidden // shape.heads
    writer.add_tensor("token_embd.weight", matrix(len(tokens), shape.hidden))
    writer.add_tensor("output_norm.weight", ones(shape.hidden))
    writer.add_tensor("output.weight", matrix(len(tokens), shape.hidden))
    for i in range(shape.layers):
        block = f"blk.{i}."
        writer.add_tensor(block + "attn_norm.weight", ones(shape.hidden))
        writer.add_tensor(block + "attn_q.weight", matrix(shape.heads * head, shape.hidden))
        writer.add_tensor(block + "attn_k.weight", matrix(shape.kv_heads * head, shape.hidden))
        writer.add_tensor(block + "attn_v.weight", matrix(shape.kv_heads * head, shape.hidden))
        writer.add_tensor(block + "attn_output.weight", matrix(shape.hidden, shape.heads * head))
        writer.add_tensor(block + "ffn_norm.weight", ones(shape.hidden))
        writer.add_tensor(block + "ffn_gate.weight", matrix(shape.ffn, shape.hidden))
        writer.add_tensor(block + "ffn_up.weight", matrix(shape.ffn, shape.hidden))
        writer.add_tensor(block + "ffn_down.weight", matrix(shape.hidden, shape.ffn))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return len(tokens)


def build_text_generation(folder: Path, shape: DecoderShape = DecoderShape(), seed: int = 0) -> int:
    """An OpenVINO GenAI LLM folder (IR, tokenizers, OVMS's JSON files); return its parameter count."""
    import openvino_genai

    folder.mkdir(parents=True, exist_ok=True)
    work = folder / ".gguf"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    gguf_path = work / "model.gguf"
    vocab = write_gguf(gguf_path, shape, seed)
    openvino_genai.LLMPipeline(str(gguf_path), "CPU", enable_save_ov_model=True)
    for produced in work.glob("openvino_*"):
        shutil.move(str(produced), folder / produced.name)
    shutil.rmtree(work)
    _write_json(
        folder / "config.json",
        {"model_type": "llama", "max_position_embeddings": shape.context, "vocab_size": vocab},
    )
    _write_json(
        folder / "tokenizer_config.json",
        {"chat_template": CHAT_TEMPLATE, "bos_token": SPECIALS[0], "eos_token": SPECIALS[2]},
    )
    _write_json(folder / "generation_config.json", {"bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 0})
    return shape.parameters(vocab)


def build_rerank(folder: Path, text_model: Path) -> None:
    """A qwen3-style reranker: the text model scored on its ``yes``/``no`` logits."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*TOKENIZER_FILES, "openvino_model.xml", "openvino_model.bin"):
        shutil.copy(text_model / name, folder / name)
    _write_json(folder / "config.json", {"model_type": "qwen3", "max_position_embeddings": 512})


def build_embeddings(folder: Path, text_model: Path, hidden: int = 32, seed: int = 0) -> None:
    """A stateless encoder (``last_hidden_state: f32[batch, tokens, hidden]``) on the text model's tokenizer."""
    import openvino as ov

    folder.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(text_model / name, folder / name)
    vocab = json.loads((text_model / "config.json").read_text())["vocab_size"]
    ov.save_model(_encoder(vocab, hidden, seed), str(folder / "openvino_model.xml"))
    _write_json(
        folder / "config.json", {"model_type": "bert", "max_position_embeddings": 512, "vocab_size": vocab}
    )


def _encoder(vocab: int, hidden: int, seed: int) -> object:
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(seed)
    ids = ops.parameter([-1, -1], ov.Type.i64, name="input_ids")
    mask = ops.parameter([-1, -1], ov.Type.i64, name="attention_mask")
    table = ops.constant(rng.standard_normal((vocab, hidden)).astype(np.float32))
    embedded = ops.gather(table, ids, ops.constant(np.int64(0)))
    weights = ops.constant((rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float32))
    hidden_states = ops.tanh(ops.matmul(embedded, weights, False, False))
    keep = ops.unsqueeze(ops.convert(mask, ov.Type.f32), ops.constant(np.int64(-1)))
    out = ops.multiply(hidden_states, keep)
    out.output(0).get_tensor().set_names({"last_hidden_state"})
    return ov.Model([out], [ids, mask], "tiny_encoder")


def _write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")
