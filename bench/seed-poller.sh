#!/usr/bin/env bash
# The seed's worker polling (seed 000, "Retry Strategy"): +30 s per attempt, capped at 10 minutes, then
# `docker swarm join`. Only for the benchmark, to compare schedules on the same harness; times are divided by
# SCALE like the library's own settings.
set -euo pipefail
url=$1 secret_file=$2 scale=$3 source_address=$4
attempt=0
until answer=$(curl -sf --max-time 5 --interface "$source_address" -H "@$secret_file" "$url/token"); do
  attempt=$((attempt + 1))
  delay=$((30 * attempt))
  if ((delay > 600)); then delay=600; fi
  sleep "$(python3 -c 'import sys; print(int(sys.argv[1]) / float(sys.argv[2]))' "$delay" "$scale")"
done
read -r -a argv <<<"$answer"
docker "${argv[@]:1}"
