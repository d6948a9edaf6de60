#!/usr/bin/env bash
# Trains a zoo recipe in the background-friendly way every v2 preset uses:
#
#   zoo/train_run.sh RECIPE RUN_DIR [kerattn train options...]
#
# - Resumable: re-run the same command after an interruption (Ctrl-C, a kill, a reboot) and it
#   resumes from the run's newest readable checkpoint (`kerattn train --resume`: same step,
#   optimizer state, schedule and batch order). A run folder with progress but no checkpoint
#   (killed between its first evaluation and its first checkpoint) starts again in place;
#   otherwise a new run. On a finished run it restores the last checkpoint, trains nothing and
#   writes final.keras again (the same weights).
# - A code snapshot: the run imports a copy of the committed kerattn and kerattn_cli, taken at
#   the first launch (RUN_DIR/source, its commit in source/COMMIT and in train.log) and reused by
#   every resume, so files edited in the checkout while it trains cannot change or break it
#   (TensorFlow reads a function's source again whenever it traces it). SOURCE=checkout imports
#   the checkout's files instead.
# - Niced (NICE, default 19): the run yields the CPU to everything else. Its output goes to
#   RUN_DIR/train.log (step lines with an ETA); the last lines are printed at the end.
#
# Environment: KERATTN (default .venv/bin/kerattn if it exists, else kerattn on PATH), NICE,
# SOURCE (snapshot or checkout). Exit status: kerattn train's.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 2 ]]; then
    echo "usage: zoo/train_run.sh RECIPE RUN_DIR [kerattn train options...]" >&2
    exit 2
fi
recipe=$1
run_dir=$2
shift 2
source zoo/kerattn_command.sh

mode=()
if compgen -G "$run_dir/checkpoints/ckpt-*.index" >/dev/null; then
    mode=(--resume)
elif [[ -f $run_dir/best.keras || -f $run_dir/metrics.json ]]; then
    mode=(--overwrite)
fi

mkdir -p "$run_dir"
log=$run_dir/train.log
case ${SOURCE:-snapshot} in
    snapshot)
        source_dir=$run_dir/source
        if [[ ! -f $source_dir/COMMIT ]]; then
            rm -rf "$source_dir" "$source_dir.partial"
            mkdir -p "$source_dir.partial"
            git archive HEAD kerattn kerattn_cli | tar -x -C "$source_dir.partial"
            git rev-parse HEAD >"$source_dir.partial/COMMIT"
            mv "$source_dir.partial" "$source_dir"
        fi
        export PYTHONPATH=$PWD/$source_dir${PYTHONPATH:+:$PYTHONPATH}
        echo "code: kerattn of commit $(cat "$source_dir/COMMIT") ($source_dir)" >>"$log"
        ;;
    checkout) echo "code: the checkout's kerattn ($(git rev-parse HEAD) and its edits)" >>"$log" ;;
    *) echo "SOURCE must be snapshot or checkout; received ${SOURCE}." >&2; exit 2 ;;
esac
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) kerattn train $recipe --run-dir $run_dir ${mode[*]+${mode[*]}} $*" >>"$log"
export PYTHONUNBUFFERED=1  # the log shows each step line as it is printed
status=0
nice -n "${NICE:-19}" "$kerattn" train "$recipe" --run-dir "$run_dir" ${mode[@]+"${mode[@]}"} "$@" >>"$log" 2>&1 || status=$?
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) kerattn train exited with status $status" >>"$log"
tail -n 3 "$log"
exit "$status"
