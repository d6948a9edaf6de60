#!/usr/bin/env bash
# Trains g2p_en v2 (zoo/g2p_en/recipe_v2.toml) into runs/g2p_en_v2 at nice 19.
#
#   zoo/g2p_en/train_v2.sh                              # in the foreground
#   nohup zoo/g2p_en/train_v2.sh >/dev/null 2>&1 &      # in the background
#   tail -f runs/g2p_en_v2/train.log                    # progress (step lines with an ETA)
#
# Re-run the same command after an interruption (Ctrl-C, a kill, a reboot): it resumes from the
# run's newest readable checkpoint (`kerattn train --resume`: same step, optimizer state,
# schedule and batch order). Run on a finished run, it restores the last checkpoint, trains
# nothing and writes final.keras again (the same weights). Builds corpora/cmudict first if it
# is missing. Arguments are passed on to `kerattn train` (e.g. `--max-steps 100` for a trial;
# a later run without it continues the same schedule).
#
# The code the run imports is a copy of the committed kerattn and kerattn_cli, taken at the
# first launch (<run dir>/source, its commit in source/COMMIT and in train.log) and reused by
# every resume: files edited in the checkout while the run trains cannot change or break it
# (TensorFlow reads a function's source file again whenever it traces it, e.g. at the first
# evaluation). SOURCE=checkout imports the checkout's files instead.
#
# Environment: RUN_DIR (default runs/g2p_en_v2), KERATTN (default .venv/bin/kerattn if it
# exists, else kerattn on PATH), NICE (default 19: the run yields the CPU to everything else),
# SOURCE (snapshot or checkout).
set -euo pipefail
cd "$(dirname "$0")/../.."

recipe=zoo/g2p_en/recipe_v2.toml
run_dir=${RUN_DIR:-runs/g2p_en_v2}
if [[ -n ${KERATTN:-} ]]; then
    kerattn=$KERATTN
elif [[ -x .venv/bin/kerattn ]]; then
    kerattn=.venv/bin/kerattn
else
    kerattn=kerattn
fi

if [[ ! -f corpora/cmudict/train.tsv ]]; then
    nice -n "${NICE:-19}" "$kerattn" data cmudict
fi

# A checkpoint: resume it. No checkpoint but a run's progress (a run killed between its first
# evaluation, which writes best.keras, and its first checkpoint): nothing can be resumed, so
# start again in place. Neither: a new run.
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
