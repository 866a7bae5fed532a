from ovms_cli.protocol.server_extensions import server_extensions


def test_system_shared_memory_is_listed_only_when_registrations_are_taken() -> None:
    assert "system_shared_memory" in server_extensions(shared_memory=True)
    assert "system_shared_memory" not in server_extensions(shared_memory=False)


def test_extensions_are_sorted_triton_names() -> None:
    assert server_extensions(shared_memory=False) == (
        "binary_tensor_data",
        "model_configuration",
        "model_repository",
        "sequence",
        "statistics",
    )
