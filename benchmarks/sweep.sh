#!/usr/bin/env bash
# One served configuration of a benchmark model, measured over gRPC at several concurrencies:
# throughput, p50 latency and the server's CPU time per request.
#     bash benchmarks/sweep.sh LABEL "SERVE OPTIONS" "CONCURRENCIES" [MODEL]
# e.g. bash benchmarks/sweep.sh nireq=2 "--nireq 2" "8 16"
# MODEL defaults to mobilenet_v2; any name benchmarks/models.py builds (overhead_probe: a request's
# cost besides inference).
# DURATION (default 6) and WARMUP (default 1) are the seconds of each measurement.
set -euo pipefail
label=$1 options=$2 concurrencies=$3 model=${4:-mobilenet_v2}
path=$(python "$(dirname "$0")/models.py" "$model")  # built unless it is there
grpc_port=${GRPC_PORT:-9500} rest_port=${REST_PORT:-8500}
# shellcheck disable=SC2086  # the options are words
python -m ovms_cli serve --model_name m --model_path "$path" --port "$grpc_port" --rest_port "$rest_port" \
  --log_level ERROR $options >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  curl -sf "localhost:$rest_port/v2/health/ready" >/dev/null && break
  kill -0 $pid 2>/dev/null || { echo "$label: the server exited (ports $grpc_port, $rest_port in use?)" >&2; exit 1; }
  sleep 0.2
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
line=$label
for c in $concurrencies; do
  before=$(cpu_ticks)
  result=$(python -m ovms_cli bench --model m --url "localhost:$grpc_port" --concurrency "$c" \
    --duration "${DURATION:-6}" --warmup "${WARMUP:-1}" --json 2>/dev/null)
  after=$(cpu_ticks)
  line="$line | c=$c $(TICKS=$((after - before)) HZ=$(getconf CLK_TCK) python -c '
import json, os, sys
server = json.JSONDecoder().raw_decode(sys.stdin.read())[0]["server"]
seconds = int(os.environ["TICKS"]) / int(os.environ["HZ"])
t, n = server["throughput"], max(server["requests"], 1)
p50 = server["latency_us"]["p50"] / 1000
print(f"{t:.1f} req/s p50 {p50:.1f} ms server CPU {seconds / n * 1000:.1f} ms/req (warmup included)")
' <<<"$result")"
done
echo "$line"
