"""ApiKey: the Bearer check and where the key comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovms_cli.errors import Unauthenticated
from ovms_cli.transports.auth import ApiKey, ApiKeyError, load_api_key


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer ", "Bearer wrong", "Basic key", "key", "Bearer key2"]
)
def test_check_refuses(authorization: str | None) -> None:
    with pytest.raises(Unauthenticated) as refused:
        ApiKey("key").check(authorization)
    assert (refused.value.http_status, refused.value.grpc_code.name) == (401, "UNAUTHENTICATED")


@pytest.mark.parametrize("authorization", ["Bearer key", "bearer key", "BEARER  key"])
def test_check_accepts_the_bearer_scheme_in_any_case(authorization: str) -> None:
    ApiKey("key").check(authorization)


def test_repr_hides_the_key() -> None:
    assert "s3cret" not in repr(ApiKey("s3cret"))


def test_file_first_line_stripped_wins_over_environment(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("  abc \r\nnext\n")
    key = load_api_key(path, {"API_KEY": "env"})
    assert key is not None
    key.check("Bearer abc")


def test_environment_when_no_file() -> None:
    key = load_api_key(None, {"API_KEY": " env "})
    assert key is not None
    key.check("Bearer env")
    assert load_api_key(None, {}) is None
    assert load_api_key(None, {"API_KEY": "  "}) is None


@pytest.mark.parametrize("content", ["", "\n", "   \nsecond\n"])
def test_empty_first_line_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "key"
    path.write_text(content)
    with pytest.raises(ApiKeyError, match="empty"):
        load_api_key(path, {})


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ApiKeyError, match="Cannot read"):
        load_api_key(tmp_path / "missing", {})
