"""Remote model repositories against real servers: moto (S3), gcp-storage-emulator (GCS), Azurite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from builders import affine_model, write_ir
from storage_servers import StorageServer, clean_environ, upload_tree, uri, use_environment

from ovms_cli.repository.mirror import MANIFEST
from ovms_cli.repository.remote import RemoteSource, group_versions, open_remote
from ovms_cli.repository.source import open_source
from ovms_cli.repository.stores import ObjectInfo, ObjectStore, Progress, RemoteUri, open_store, parse_uri
from ovms_cli.repository.stores.errors import (
    BucketNotFound,
    InvalidAccess,
    MissingExtra,
    PathNotFound,
)
from ovms_cli.repository.versions import RepositoryError

# --- without a server ----------------------------------------------------------------------------


def objects(*keys: str) -> list[ObjectInfo]:
    return [ObjectInfo(key, 1, f"etag-{key}") for key in keys]


def test_versions_are_numeric_folders_under_the_prefix() -> None:
    found = group_versions(
        objects("m/1/model.xml", "m/1/model.bin", "m/2/model.xml", "m/abc/x.onnx", "m/README", "m2/3/a.onnx"),
        "m",
    )
    assert sorted(found) == [1, 2]
    assert found[1].complete and not found[2].complete  # IR needs its .bin
    assert [file.path for file in found[1].files] == ["1/model.bin", "1/model.xml"]


def test_folder_names_read_like_stoll_and_the_canonical_spelling_wins() -> None:
    found = group_versions(objects("1abc/a.onnx", "01/b.onnx", "1/c.onnx", "0/d.onnx", "-2/e.onnx"), "")
    assert sorted(found) == [1]
    assert [file.info.key for file in found[1].files] == ["1/c.onnx"]


def test_nested_files_do_not_make_a_version_complete_and_escaping_keys_are_skipped() -> None:
    found = group_versions(objects("m/1/sub/model.onnx", "m/1/../../x.onnx", "m/2/"), "m")
    assert not found[1].complete
    assert [file.path for file in found[1].files] == ["1/sub/model.onnx"]
    assert found[2].files == () and not found[2].complete  # an empty folder marker


def test_fingerprint_follows_sizes_and_etags() -> None:
    before = group_versions([ObjectInfo("1/m.onnx", 3, "a")], "")[1].fingerprint
    assert group_versions([ObjectInfo("1/m.onnx", 3, "a")], "")[1].fingerprint == before
    assert group_versions([ObjectInfo("1/m.onnx", 3, "b")], "")[1].fingerprint != before
    assert group_versions([ObjectInfo("1/m.onnx", 4, "a")], "")[1].fingerprint != before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://bucket/a/b/", RemoteUri("s3://bucket/a/b/", "s3", "bucket", "a/b")),
        (
            "s3://minio:9000/bucket/m",
            RemoteUri("s3://minio:9000/bucket/m", "s3", "bucket", "m", "http://minio:9000"),
        ),
        ("gs://bucket", RemoteUri("gs://bucket", "gs", "bucket", "")),
        ("azure://c/m", RemoteUri("azure://c/m", "az", "c", "m")),
    ],
)
def test_uris(text: str, expected: RemoteUri) -> None:
    assert parse_uri(text) == expected


def test_a_uri_without_bucket_is_refused() -> None:
    with pytest.raises(RepositoryError, match="names no bucket"):
        parse_uri("s3://")


def test_open_source_hands_cloud_uris_to_remote_sources() -> None:
    assert isinstance(open_source("gs://bucket/model"), RemoteSource)


@pytest.mark.parametrize(
    ("scheme", "blocked", "extra"),
    [("s3", "boto3", "s3"), ("gs", "google.auth", "gcs"), ("az", "azure.storage.blob", "azure")],
)
def test_a_missing_sdk_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, scheme: str, blocked: str, extra: str
) -> None:
    # Endpoints on a closed loopback port: nothing may leave the machine even if the import succeeded.
    closed = "http://127.0.0.1:9"
    use_environment(monkeypatch, clean_environ({"S3_ENDPOINT": closed, "STORAGE_EMULATOR_HOST": closed}))
    monkeypatch.setitem(sys.modules, blocked, None)  # its import fails as if not installed
    store_module = {"s3": "s3", "gs": "gcs", "az": "azure"}[scheme]
    monkeypatch.delitem(sys.modules, f"ovms_cli.repository.stores.{store_module}", raising=False)
    with pytest.raises(
        MissingExtra, match=rf'{scheme}:// needs the {extra} extra: pip install "ovms\[{extra}\]"'
    ):
        open_store(parse_uri(f"{scheme}://bucket/model"))


def test_azure_without_a_connection_string_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    use_environment(monkeypatch, clean_environ())
    with pytest.raises(
        InvalidAccess, match="AS Invalid access rights: az://c/m - AZURE_STORAGE_CONNECTION_STRING"
    ):
        open_remote("az://c/m").list_versions()


def test_s3_with_half_a_key_pair_names_the_missing_half(monkeypatch: pytest.MonkeyPatch) -> None:
    use_environment(monkeypatch, clean_environ({"AWS_ACCESS_KEY_ID": "AKIA"}))
    with pytest.raises(InvalidAccess, match="AWS_SECRET_ACCESS_KEY is not set"):
        open_remote("s3://b/m").list_versions()


# --- against each server -------------------------------------------------------------------------


class CountingStore:
    """The real store, counting downloads."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.label = store.label
        self.downloads: list[str] = []

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self.store.list(prefix)

    def download(self, key: str, dest: Path, progress: Progress | None = None) -> None:
        self.downloads.append(key)
        self.store.download(key, dest, progress)


def counting_source(text: str) -> tuple[RemoteSource, CountingStore]:
    holder: list[CountingStore] = []

    def factory(location: RemoteUri) -> ObjectStore:
        holder.append(CountingStore(open_store(location)))
        return holder[0]

    source = RemoteSource(parse_uri(text), factory)
    source.list_versions()
    return source, holder[0]


@pytest.fixture
def model_repo(tmp_path: Path) -> Path:
    base = tmp_path / "repo"
    write_ir(affine_model(), base, 1)
    write_ir(affine_model(), base, 2)
    (base / "2" / "model.bin").unlink()  # version 2 is incomplete
    (base / "notes").mkdir()
    (base / "notes" / "readme.txt").write_text("not a version")
    (base / "README").write_text("a file at the top")
    return base


def test_listing_finds_versions_and_completeness(
    store_server: StorageServer, bucket: str, store_env: dict[str, str], model_repo: Path
) -> None:
    upload_tree(store_server, model_repo, bucket, "models/affine")
    listed = open_remote(uri(store_server, bucket, "models/affine")).list_versions()
    assert sorted(listed) == [1, 2]
    assert listed[1].complete and not listed[2].complete
    assert listed[1].fingerprint != listed[2].fingerprint


def test_fingerprint_changes_when_a_file_changes_remotely(
    store_server: StorageServer, bucket: str, store_env: dict[str, str], model_repo: Path
) -> None:
    upload_tree(store_server, model_repo, bucket, "m")
    source = open_remote(uri(store_server, bucket, "m"))
    before = source.list_versions()
    store_server.put(bucket, "m/2/model.bin", (model_repo / "1" / "model.bin").read_bytes())
    after = source.list_versions()
    assert after[1] == before[1]
    assert after[2].fingerprint != before[2].fingerprint and after[2].complete


def test_fetch_downloads_once_then_only_what_changed(
    store_server: StorageServer, bucket: str, store_env: dict[str, str], model_repo: Path
) -> None:
    upload_tree(store_server, model_repo, bucket, "m")
    source, store = counting_source(uri(store_server, bucket, "m"))
    local = source.fetch(1)
    assert sorted(p.name for p in local.iterdir()) == ["model.bin", "model.xml"]
    assert (local / "model.bin").read_bytes() == (model_repo / "1" / "model.bin").read_bytes()
    assert sorted(store.downloads) == ["m/1/model.bin", "m/1/model.xml"]

    assert source.fetch(1) == local
    assert len(store.downloads) == 2  # size and ETag match: nothing downloaded

    store_server.put(bucket, "m/1/model.xml", (model_repo / "1" / "model.xml").read_bytes() + b"\n")
    source.list_versions()
    source.fetch(1)
    assert store.downloads[2:] == ["m/1/model.xml"]
    assert (local / "model.xml").read_bytes().endswith(b"\n")


def test_files_removed_remotely_are_removed_locally(
    store_server: StorageServer, bucket: str, store_env: dict[str, str], model_repo: Path
) -> None:
    upload_tree(store_server, model_repo, bucket, "m")
    store_server.put(bucket, "m/1/extra.txt", b"extra")
    source = open_remote(uri(store_server, bucket, "m"))
    source.list_versions()
    local = source.fetch(1)
    assert (local / "extra.txt").exists()
    store_server.delete(bucket, "m/1/extra.txt")
    source.list_versions()
    assert source.fetch(1) == local
    assert not (local / "extra.txt").exists() and (local / "model.xml").exists()


def test_release_deletes_the_local_copy(
    store_server: StorageServer, bucket: str, store_env: dict[str, str], model_repo: Path
) -> None:
    upload_tree(store_server, model_repo, bucket, "m")
    source = open_remote(uri(store_server, bucket, "m"))
    source.list_versions()
    local = source.fetch(1)
    source.release(1)
    assert not local.exists()


def test_a_shared_cache_survives_a_restart(
    store_server: StorageServer,
    bucket: str,
    store_env: dict[str, str],
    model_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OVMS_CACHE", str(tmp_path / "cache"))
    upload_tree(store_server, model_repo, bucket, "m")
    text = uri(store_server, bucket, "m")
    first, _ = counting_source(text)
    local = first.fetch(1)
    assert (local.parent / MANIFEST).is_file()
    second, store = counting_source(text)
    assert second.fetch(1) == local
    assert store.downloads == []


def test_a_missing_bucket_is_named(store_server: StorageServer, store_env: dict[str, str]) -> None:
    container = "Container" if store_server.scheme == "az" else "Bucket"
    with pytest.raises(BucketNotFound, match=f"{container} not found: {store_server.scheme}://nobucket0/m"):
        open_remote(uri(store_server, "nobucket0", "m")).list_versions()


def test_a_missing_path_is_named(store_server: StorageServer, bucket: str, store_env: dict[str, str]) -> None:
    with pytest.raises(
        PathNotFound, match=f"File or directory not found: {store_server.scheme}://{bucket}/nothing"
    ):
        open_remote(uri(store_server, bucket, "nothing")).list_versions()


def test_refused_credentials_are_named(
    store_server: StorageServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_environment(monkeypatch, clean_environ(store_server.bad_env))
    variable = {
        "s3": "AWS_ACCESS_KEY_ID",
        "gs": "GOOGLE_APPLICATION_CREDENTIALS",
        "az": "AZURE_STORAGE_CONNECTION_STRING",
    }
    with pytest.raises(InvalidAccess, match=f"Invalid access rights: .*{variable[store_server.scheme]}"):
        open_remote(uri(store_server, bucket, "m")).list_versions()
