"""Generative servables (OpenAI-compatible ``/v3``) on OpenVINO GenAI: the ``genai`` extra.

Only ``graph_config``, ``sampling`` and ``host`` import without OpenVINO GenAI; the rest is imported
when a generative model is configured, so the classic server starts without it.
"""
