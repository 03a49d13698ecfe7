#!/usr/bin/env bash
# `make demo`: the whole comparison on the embedded synthetic data, offline, as plain ffbench commands.
#
# The machine has two cores and every command after prepare runs on one thread, so the work goes in two lanes: FashionFlow
# and cINNs (progress bars here) beside `static`, ImaGINator and Poke (their output in DEMO/logs/). Every
# step resumes: training continues from its newest checkpoint, a finished generate or eval is skipped (its
# marker is written last), prepare checks what it already wrote. Ctrl-C stops both lanes; rerun to go on.
#
#   DEMO=demo FFB=.venv/bin/ffbench scripts/demo.sh
#   DEMO=/tmp/quick VAE_STEPS=20 DEMO_STEPS=20 IMAGINATOR_STEPS=5 POKE_STEPS=5 DEMO_METRICS=psnr,motion \
#       scripts/demo.sh
set -euo pipefail

DEMO=${DEMO:-demo}
FFB=${FFB:-.venv/bin/ffbench}
VAE_STEPS=${VAE_STEPS:-}  # empty: the tiny VAE's own default
DEMO_STEPS=${DEMO_STEPS:-2000}
IMAGINATOR_STEPS=${IMAGINATOR_STEPS:-400}
POKE_STEPS=${POKE_STEPS:-300}
DEMO_METRICS=${DEMO_METRICS:-all}  # a comma list for a quick look, e.g. psnr,motion
LOGS=$DEMO/logs
TIMES=$LOGS/times.tsv
EVAL=(--metric "$DEMO_METRICS" --real "$DEMO/data" --i3d random --i3d-vfid random --inception random
      --leaderboard-dir "$DEMO/leaderboard" --dataset synthetic-cpu --cache-dir "$DEMO/cache" --threads 1)

mkdir -p "$LOGS"
: > "$TIMES"
START=$(date +%s)
exec 3>&1  # the terminal, for the one-line progress of the background lane

# step NAME COMMAND...: run, print its time, record it in $TIMES.
step() {
    local name=$1 t0
    shift
    t0=$(date +%s)
    echo "[$name] $*" >&3
    "$@"
    local took=$(( $(date +%s) - t0 ))
    printf '%s\t%s\n' "$name" "$took" >> "$TIMES"
    echo "[$name] done in ${took} s" >&3
}

# generate_once METHOD ARGS...: the test videos of METHOD, unless a complete set is there (generation.json is
# written last).
generate_once() {
    local m=$1
    shift
    if [[ -f $DEMO/runs/$m/samples/generation.json ]]; then
        echo "[generate-$m] already complete: $DEMO/runs/$m/samples" >&3
        return 0
    fi
    step "generate-$m" "$FFB" generate "$DEMO/data/shards/test" "$@" -o "$DEMO/runs/$m/samples" --threads 1
}

# eval_once METHOD: every metric of METHOD's videos into the leaderboard, unless done before.
eval_once() {
    local m=$1
    if [[ -f $LOGS/eval-$m.done ]]; then
        echo "[eval-$m] already in the leaderboard" >&3
        return 0
    fi
    step "eval-$m" "$FFB" eval "${EVAL[@]}" --fake "$DEMO/runs/$m/samples" --method "$m"
    touch "$LOGS/eval-$m.done"
}

# wait_lane PID LOG NAME: wait for a background lane; on failure show the end of its log.
wait_lane() {
    if ! wait "$1"; then
        echo "the $3 lane failed; the end of $2:" >&2
        tail -n 25 "$2" >&2
        exit 1
    fi
}

# wait_for FILE WHAT: wait until the other lane has written FILE (fail if that lane died first).
wait_for() {
    local said=""
    while [[ ! -e $1 ]]; do
        if ! kill -0 "$lane_pid" 2>/dev/null; then
            wait_lane "$lane_pid" "$LOGS/baselines.log" baselines
            [[ -e $1 ]] && return 0
            echo "the baselines lane ended without $1" >&2
            exit 1
        fi
        [[ -z $said ]] && echo "waiting for $2" >&3 && said=1
        sleep 5
    done
}

# Ctrl-C reaches the foreground command (training saves a checkpoint); a background lane ignores it, so it
# and its command get SIGTERM (training saves there too).
lane_pid=""
stop_lane() {
    if [[ -n $lane_pid ]]; then
        pkill -TERM -P "$lane_pid" 2>/dev/null || true
        kill "$lane_pid" 2>/dev/null || true
    fi
}
trap 'stop_lane; echo "stopped; rerun make demo to go on" >&2; exit 130' INT TERM

# Nothing else runs yet, so prepare takes both cores: measured alone with the tiny VAE's former 3600 steps,
# 213 s with 2 threads against 336 s with 1, and the same VAE figures (29.01 dB on the test frames).
step prepare "$FFB" prepare --synthetic --preset cpu --out "$DEMO/data" --threads 2 \
    ${VAE_STEPS:+--vae-steps "$VAE_STEPS"}

# The lanes are balanced by measured step times (FashionFlow's training is about as long as the whole other
# lane). Lane B starts with `static` (it needs no training): its eval computes the real set's features into
# the cache while FashionFlow trains, so every later eval reads them instead of computing them again.
echo "FashionFlow here; static, ImaGINator, Poke and cINNs beside it (log: $LOGS/baselines.log)"
(
    generate_once static --model static --no-progress
    eval_once static
    step train-imaginator "$FFB" train imaginator --shards "$DEMO/data" --preset cpu \
        --out "$DEMO/runs/imaginator" --steps "$IMAGINATOR_STEPS" --threads 1 --resume --no-progress
    generate_once imaginator --checkpoint "$DEMO/runs/imaginator" --no-progress
    step train-poke "$FFB" train poke --shards "$DEMO/data" --preset cpu --out "$DEMO/runs/poke" \
        --steps "$POKE_STEPS" --batch-size 4 --lr 1e-3 --checkpoint-every 100 --threads 1 --resume \
        --no-progress
    # Poke rolls out 10 frames after x0 by default: ask for the 16 every other method makes.
    generate_once poke --checkpoint "$DEMO/runs/poke" --frames 16 --no-progress
    eval_once imaginator
    eval_once poke
    step train-cinn "$FFB" train cinn --shards "$DEMO/data" --preset cpu --out "$DEMO/runs/cinn" \
        --stage all --threads 1 --resume --no-progress
    generate_once cinn --checkpoint "$DEMO/runs/cinn" --no-progress
    eval_once cinn
) > "$LOGS/baselines.log" 2>&1 &
lane_pid=$!

step train-fashionflow "$FFB" train fashionflow --shards "$DEMO/data" --preset cpu \
    --out "$DEMO/runs/fashionflow" --steps "$DEMO_STEPS" --lr 1e-3 --checkpoint-every 250 \
    --ema-decay 0.99 --threads 1 --resume
generate_once fashionflow --checkpoint "$DEMO/runs/fashionflow"
wait_for "$LOGS/eval-static.done" "the real set's features (eval static, $LOGS/baselines.log)"
eval_once fashionflow
wait_lane "$lane_pid" "$LOGS/baselines.log" baselines
lane_pid=""

step leaderboard "$FFB" leaderboard --dir "$DEMO/leaderboard" --published
step report "$FFB" report --leaderboard-dir "$DEMO/leaderboard" -o "$DEMO/report"

total=$(( $(date +%s) - START ))
slowest=$(sort -t$'\t' -k2 -n -r "$TIMES" | head -n 1)
echo
echo "demo finished in $(( total / 60 )) min $(( total % 60 )) s; slowest step: ${slowest%%$'\t'*} (${slowest##*$'\t'} s)."
echo "Step times: $TIMES. Outputs:"
echo "  data (shards, tiny VAE, manifests)    $DEMO/data"
echo "  trained models and their videos       $DEMO/runs/<method>/ (samples/<id>.mp4)"
echo "  leaderboard CSV                       $DEMO/leaderboard/synthetic-cpu.csv"
echo "  report (open in a browser)            $DEMO/report/index.html"
echo "  logs of the background lanes          $LOGS/"
