"""A rerank servable on OpenVINO GenAI's ``TextRerankPipeline`` (run in a worker thread).

The pipeline scores every document (``top_n`` is set to the most documents a request may send,
``MAX_DOCUMENTS``) and the request's ``top_n`` cuts the sorted list, as OVMS does (genai-spec §4).
Unlike OVMS, long documents are not split into chunks: the pipeline truncates them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import openvino_genai as genai

from ovms_cli.servables.generative.graph_config import GenerativeConfig

MAX_DOCUMENTS = 10000  # OVMS's max_allowed_chunks default


class RerankServable:
    task = "rerank"

    def __init__(self, config: GenerativeConfig) -> None:
        self.config = config
        settings = genai.TextRerankPipeline.Config()
        settings.top_n = MAX_DOCUMENTS
        self.pipeline = genai.TextRerankPipeline(
            str(config.models_path), config.device, settings, **config.plugin_properties
        )

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        return None

    def close(self) -> None:
        return None

    async def rerank(self, query: str, documents: Sequence[str]) -> list[tuple[int, float]]:
        """(document index, relevance score) for every document, best first."""
        scored = await asyncio.to_thread(self.pipeline.rerank, query, list(documents))
        return sorted(((int(i), float(s)) for i, s in scored), key=lambda pair: -pair[1])
