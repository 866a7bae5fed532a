#!/usr/bin/env bash
# Throughput of the tiny demo model over gRPC (concurrency 8) with and without --metrics_enable,
# alternating runs so that drift on a shared machine hits both sides.
#     bash benchmarks/metrics_cost.sh [rounds]
set -euo pipefail
rounds=${1:-3}
repo=$(mktemp -d)
trap 'rm -rf "$repo"' EXIT
python -c "from pathlib import Path; from ovms_cli.demo import write_demo_repository as w; w(Path('$repo'))"
for round in $(seq "$rounds"); do
  for metrics in off on; do
    flag=""; [ "$metrics" = on ] && flag="--metrics_enable"
    python -m ovms_cli serve --config_path "$repo/config.json" --port 9400 --rest_port 8400 --log_level ERROR $flag >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf localhost:8400/v2/health/ready >/dev/null && break; sleep 0.2; done
    thr=$(python -m ovms_cli bench --model demo --url localhost:9400 --concurrency 8 --duration 8 --warmup 2 --json 2>/dev/null \
      | python -c "import json,sys; print(json.load(sys.stdin)['server']['throughput'])")
    echo "round $round metrics $metrics: $thr req/s"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
