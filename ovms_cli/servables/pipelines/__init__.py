"""DAG pipelines (spec §2.6, §2.7, §8): definitions, validation, metadata, custom and Python nodes, executor.

Nothing here imports the model registry: DL-model nodes reach models through an injected
``infer`` callable and validation reads model signatures through a small catalog interface.
"""
