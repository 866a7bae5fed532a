#!/usr/bin/env bash
# MobileNet-V2 over gRPC at concurrency 1, 4 and 16 with the server's default configuration,
# without and with dynamic batching. Needs the models benchmarks/run.py builds into benchmarks/out.
#     bash benchmarks/latency_lane.sh [extra serve options, e.g. --plugin_config '{"PERFORMANCE_HINT":"LATENCY"}']
set -euo pipefail
model=$(dirname "$0")/out/models/mobilenet_v2
for batching in off on; do
  extra=(); [ "$batching" = on ] && extra=(--max_batch_size 16 --max_batch_delay_us 1000)
  python -m ovms_cli serve --model_name m --model_path "$model" --port 9500 --rest_port 8500 --log_level ERROR "${extra[@]}" "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf localhost:8500/v2/health/ready >/dev/null && break; sleep 0.2; done
  line="batching=$batching"
  for c in 1 4 16; do
    thr=$(python -m ovms_cli bench --model m --url localhost:9500 --concurrency "$c" --duration 5 --warmup 2 --json 2>/dev/null \
      | python -c "import json,sys; print(f\"{json.load(sys.stdin)['server']['throughput']:.1f}\")")
    line="$line c=$c:$thr"
  done
  echo "$line"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
