import numpy as np
import pytest

from ovms_cli.errors import Aborted, InvalidInput
from ovms_cli.servables.pipelines.demultiplexing import gather, split

T = np.arange(2 * 3 * 1 * 2, dtype=np.float32).reshape(3, 1, 2, 2)


def test_split_gives_views_along_dim_0() -> None:
    shards = split("d", {"a": T, "b": T[:, :, :1]}, -1)
    assert len(shards) == 3
    assert shards[1]["a"].shape == (1, 2, 2)
    assert np.shares_memory(shards[1]["a"], T)
    np.testing.assert_array_equal(shards[2]["b"], T[2, :, :1])


def test_fixed_count_must_match_every_output() -> None:
    assert len(split("d", {"a": T}, 3)) == 3
    with pytest.raises(InvalidInput) as caught:
        split("d", {"a": T}, 2)
    assert (
        caught.value.message
        == "Wrong dimension size. Should match demultiply count - node: d; output: a; shape: [3, 1, 2, 2]; count: 2"
    )
    with pytest.raises(InvalidInput) as caught:
        split("d", {"a": T, "b": T[:2]}, -1)
    assert (
        caught.value.message
        == "Wrong dimension size. Should match demultiply count - node: d; output: b; shape: [2, 1, 2, 2]; count: 3"
    )


def test_rank_below_three_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        split("d", {"a": np.zeros((3, 2), np.float32)}, -1)
    assert (
        caught.value.message
        == "Wrong number of dimensions in a tensor to be sharded - node: d; output: a; shape: [3, 2]"
    )


def test_too_large_dynamic_count() -> None:
    with pytest.raises(InvalidInput) as caught:
        split("d", {"a": np.zeros((10001, 1, 1), np.uint8)}, -1)
    assert (
        caught.value.message
        == "Too large dynamic demultiplication requested. - node: d; output: a; shape: [10001, 1, 1]"
    )


def test_no_shards_aborts_as_ovms_does() -> None:
    with pytest.raises(Aborted) as caught:
        split("d", {"a": np.zeros((0, 1, 1), np.float32)}, -1)
    assert caught.value.message == "Pipeline execution aborted due to no content from custom node - node: d"


def test_gather_stacks_in_shard_order() -> None:
    shards = [T[i] for i in range(3)]
    np.testing.assert_array_equal(gather("g", "x", shards), T)


def test_gather_refuses_inconsistent_shards() -> None:
    with pytest.raises(InvalidInput) as caught:
        gather("g", "x", [T[0], T[1, :, :1]])
    assert (
        caught.value.message
        == "Gathered tensor shards dimensions are different - node: g; input: x; [1, 2, 2] float32 vs [1, 1, 2] float32"
    )
    with pytest.raises(InvalidInput):
        gather("g", "x", [T[0], T[1].astype(np.float64)])
