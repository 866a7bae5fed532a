"""What the server metadata (``GET /v2``, gRPC ``ServerMetadata``) of a one-worker server lists as
extensions, for the KServe tests of both transports."""

EXTENSIONS = [
    "binary_tensor_data",
    "model_configuration",
    "model_repository",
    "sequence",
    "statistics",
    "system_shared_memory",
]
