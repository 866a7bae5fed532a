#!/usr/bin/env bash
# MobileNet-V2 over gRPC at concurrency 1, 4 and 16 with the server's default configuration,
# without and with dynamic batching. Needs the models benchmarks/run.py builds into benchmarks/out.
#     bash benchmarks/latency_lane.sh [extra serve options, e.g. --plugin_config '{"PERFORMANCE_HINT":"LATENCY"}']
set -euo pipefail
here=$(dirname "$0")
bash "$here/sweep.sh" "batching=off" "$*" "1 4 16"
bash "$here/sweep.sh" "batching=on" "--max_batch_size 16 --max_batch_delay_us 1000 $*" "1 4 16"
