"""A served version's configuration as far as Triton's model configuration extension describes it."""

from __future__ import annotations

from dataclasses import dataclass

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.repository.version_policy import SpecificPolicy, VersionPolicy
from ovms_cli.servables.manager import ModelManager
from ovms_cli.types import TensorMetadata


@dataclass(frozen=True, slots=True)
class ModelConfiguration:
    """What the server knows of one version, read-only: its tensors as served, its batching, its
    version policy and what it runs on (``streams`` OpenVINO streams, ``infer_requests`` = nireq)."""

    name: str
    version: int
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]
    version_policy: VersionPolicy
    target_device: str
    streams: int
    infer_requests: int
    max_batch_size: int  # dynamic batching's limit; 0: the server does not batch this model
    max_batch_delay_us: int
    is_pipeline: bool = False  # a DAG pipeline: Triton's "ensemble" platform, no instance group of its own
    is_graph: bool = False  # a generative model (OVMS's MediaPipe graph): no tensors, served on /v3


def model_configuration(manager: ModelManager, name: str, version: int | None) -> ModelConfiguration:
    """Raises ModelNotFound, VersionNotFound, or the version's unavailable error."""
    served = manager.resolve(name, version)
    if manager.is_graph(name):
        served.input_metadata()  # raises the graph's unavailable error unless it is loaded
        return _graph_configuration(name, served.version)
    if manager.is_pipeline(name):
        return _unbatched_single_version(
            name, served.version, served.input_metadata(), served.output_metadata(), is_pipeline=True
        )
    config: ModelConfig = manager.config(name)
    capacity = served.capacity()
    assert capacity is not None  # a model version that resolved serves, so it has its infer requests
    batching = config.dynamic_batching
    return ModelConfiguration(
        name=name,
        version=served.version,
        inputs=served.input_metadata(),
        outputs=served.output_metadata(),
        version_policy=config.version_policy,
        target_device=config.target_device,
        streams=capacity.streams,
        infer_requests=capacity.infer_requests,
        max_batch_size=0 if batching is None else batching.max_batch_size,
        max_batch_delay_us=0 if batching is None else batching.max_batch_delay_us,
    )


def _graph_configuration(name: str, version: int) -> ModelConfiguration:
    """A generative model is listed READY in the repository index, so tools that read every listed
    model's configuration get one, with no inputs or outputs: its requests go to /v3, not to tensors."""
    return _unbatched_single_version(name, version, (), (), is_graph=True)


def _unbatched_single_version(
    name: str,
    version: int,
    inputs: tuple[TensorMetadata, ...],
    outputs: tuple[TensorMetadata, ...],
    *,
    is_pipeline: bool = False,
    is_graph: bool = False,
) -> ModelConfiguration:
    """A servable of one version with no streams, infer requests or batching of its own."""
    return ModelConfiguration(
        name=name,
        version=version,
        inputs=inputs,
        outputs=outputs,
        version_policy=SpecificPolicy((version,)),
        target_device="CPU",
        streams=0,
        infer_requests=0,
        max_batch_size=0,
        max_batch_delay_us=0,
        is_pipeline=is_pipeline,
        is_graph=is_graph,
    )
