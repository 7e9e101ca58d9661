#!/usr/bin/env bash
# Runs every CS336 experiment sweep of this folder in order (about 75 minutes on
# 2 cores with the native backend), after preparing the data. Each sweep is
# resumable: rerunning skips finished runs and resumes unfinished ones.
#   bash sweeps/run-all.sh            # all sweeps
#   bash sweeps/run-all.sh lr nope    # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
bash sweeps/prepare-tinystories.sh
SWEEPS=("$@")
if [ ${#SWEEPS[@]} -eq 0 ]; then SWEEPS=(lr batch-size no-rmsnorm post-norm parallel nope silu seeds); fi
for s in "${SWEEPS[@]}"; do
  node --import tsx pipelines/sweep.ts --config "sweeps/$s.json"
done
