#!/usr/bin/env bash
# The wheel installed the way a researcher installs it: into an environment that already holds their own
# torch (here $OLD_TORCH, an older supported release with its torchvision). Checks that pip keeps both,
# that `ffbench --help` runs and that a small weight-free `ffbench eval` (paired metrics and a diagnostic
# on three tiny videos per side, written here) runs offline. Used by `make wheel-env-check`.
#   usage: OLD_TORCH="torch==2.9.1 torchvision==0.24.1" PYTHON=python3.11 \
#          bash scripts/wheel_env_check.sh VENV dist/ffbench-*.whl
set -euo pipefail
venv=${1:?usage: wheel_env_check.sh VENV WHEEL}
wheel=${2:?usage: wheel_env_check.sh VENV WHEEL}
old_torch=${OLD_TORCH:-torch==2.9.1 torchvision==0.24.1}
python=${PYTHON:-python3}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet $old_torch  # unquoted: "torch==X torchvision==Y"
versions='import torch, torchvision; print(torch.__version__, torchvision.__version__)'
before=$("$venv/bin/python" -c "$versions")
echo "torch, torchvision before the wheel: $before"
"$venv/bin/python" -m pip install --quiet "$wheel"
after=$("$venv/bin/python" -c "$versions")
echo "torch, torchvision after the wheel:  $after"
if [ "$before" != "$after" ]; then
    echo "FAIL: installing the wheel replaced torch, torchvision $before by $after" >&2
    exit 1
fi
"$venv/bin/python" -m pip check || echo "(pip check above: conflicts among the environment's packages)"

"$venv/bin/ffbench" --help > /dev/null
echo "ffbench --help: ok"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"   # not the repo: the installed wheel is what runs
"$venv/bin/python" - <<'EOF'
import numpy as np

from ffbench.video import write_video

rng = np.random.default_rng(0)
for side in ("real", "fake"):
    for i in range(3):
        write_video(f"{side}/v{i}.mp4", (rng.random((12, 32, 32, 3)) * 255).astype(np.uint8), fps=10)
EOF
"$venv/bin/ffbench" eval --metric psnr,ssim,l1,motion --real real --fake fake --method wheel-check \
    --leaderboard-dir board --threads 1 --no-cache 2>/dev/null | tee eval.txt
grep -q "^psnr " eval.txt && test -s board/real.csv
"$venv/bin/python" -c "from ffbench.published import published_results; print('published rows:', len(published_results()))"
echo "wheel beside torch, torchvision $before: ok ($(du -sh "$venv" | cut -f1) venv)"
