"""The protocol extensions this server implements, as KServe v2's server metadata lists them
(``GET /v2`` and gRPC ``ServerMetadata``, field ``extensions``).

The names are Triton's (its server metadata and ``docs/protocol/extension_*.md``), since Triton's clients
and users read them; OVMS itself lists none. Only what works is listed:

* ``binary_tensor_data``: tensors after the JSON header of a REST request or response;
* ``model_configuration``: ``/v2/models/{m}/config`` and gRPC ``ModelConfig``;
* ``model_repository``: the repository index, load and unload (load and unload answer only in
  ``--model_control_mode explicit``);
* ``sequence``: ``sequence_id``, ``sequence_start`` and ``sequence_end`` parameters for stateful models;
* ``statistics``: ``/v2/models/stats`` and gRPC ``ModelStatistics``;
* ``system_shared_memory``: only when this server takes registrations (one worker).

Not listed: ``cuda_shared_memory`` (its status answers, its registration is refused: there is no GPU),
``classification``, ``schedule_policy``, ``trace`` and ``logging``.
"""

from __future__ import annotations

ALWAYS = ("binary_tensor_data", "model_configuration", "model_repository", "sequence", "statistics")
SYSTEM_SHARED_MEMORY = "system_shared_memory"


def server_extensions(shared_memory: bool) -> tuple[str, ...]:
    """The extension names, sorted; ``shared_memory``: whether system shared memory takes registrations."""
    return tuple(sorted((*ALWAYS, SYSTEM_SHARED_MEMORY) if shared_memory else ALWAYS))
