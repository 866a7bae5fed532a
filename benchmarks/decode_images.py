"""Cost of turning one encoded 224x224 image into a model input, per image, in microseconds.

    python benchmarks/decode_images.py [--repeat 2000]

Prints the time of the server's decode path (ovms_cli.inference.images.decode_images, FP32 NHWC
[1,224,224,3]) beside bare cv2.imdecode on the same bytes, the reference measured in the same run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import cv2
import numpy as np

from ovms_cli import types
from ovms_cli.inference.images import decode_images
from ovms_cli.inference.shapes import Dim
from ovms_cli.inference.tensor_spec import TensorSpec


def _per_image_us(run: Callable[[], object], repeat: int) -> float:
    run()
    start = time.perf_counter()
    for _ in range(repeat):
        run()
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pixels = cv2.GaussianBlur(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8), (9, 9), 3)
    spec = TensorSpec("image", 0, types.FP32, tuple(Dim.fixed(n) for n in (1, 224, 224, 3)), 0, "NHWC")
    for ext in (".jpg", ".png"):
        data = cv2.imencode(ext, pixels)[1].tobytes()
        batch = np.empty(1, dtype=object)
        batch[0] = data
        raw = np.frombuffer(data, np.uint8)
        bare = _per_image_us(partial(cv2.imdecode, raw, cv2.IMREAD_UNCHANGED), args.repeat)
        ours = _per_image_us(partial(decode_images, batch, spec), args.repeat)
        print(
            f"{ext[1:]:4} {len(data):7d} bytes  cv2.imdecode {bare:7.1f} us  ovms decode_images {ours:7.1f} us"
        )


if __name__ == "__main__":
    main()
