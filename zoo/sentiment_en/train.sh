#!/usr/bin/env bash
# sentiment_en v2 (issue 19): train on corpora/reviews, calibrate on its validation rows,
# evaluate per domain and on the probes. Re-running it continues where it stopped: training
# resumes from the newest checkpoint (zoo/train_run.sh: `kerattn train --resume` on a code
# snapshot), and every later step is skipped once its output exists.
#
#   nice -n 19 zoo/sentiment_en/train.sh          # from the repository root, or anywhere
#
# Settings (environment): KERATTN (the kerattn command: zoo/kerattn_command.sh), RECIPE (default
# zoo/sentiment_en/recipe.toml), RUN_DIR (default runs/sentiment_en_v2), CORPUS (default
# corpora/reviews: `kerattn data reviews`), STEPS (if set: `--max-steps`, for short trials),
# SEEDS (default "0 1": the recipe is trained once per seed, seed 0 in RUN_DIR and seed N in
# RUN_DIR_seedN, `kerattn train --seed N`).
#
# Writes in RUN_DIR: the run (checkpoints/, best.keras, final.keras, metrics.json, logs/),
# averaged.keras (the checkpoints around the best step averaged; each seed's run gets its own),
# with several seeds ensemble/ (`kerattn ensemble` of every run's averaged.keras), the
# candidates calibrated (calibrated_best/, calibrated_averaged/, calibrated_ensemble/: preset
# folders with the temperature fitted on the validation rows, and calibration_<name>.json), and
# evaluation/*.json (`kerattn evaluate --json` reports of the candidate chosen on validation,
# named in evaluation/CHOSEN). zoo/sentiment_en/package.py then writes the preset.
# The test rows are only scored here, once, at the end: nothing is trained, tuned, calibrated
# or selected on them.
set -euo pipefail

cd "$(dirname "$0")/../.."
source zoo/kerattn_command.sh
python=$(dirname "$(command -v "$kerattn")")/python
RECIPE=${RECIPE:-zoo/sentiment_en/recipe.toml}
RUN_DIR=${RUN_DIR:-runs/sentiment_en_v2}
CORPUS=${CORPUS:-corpora/reviews}
PROBES=zoo/sentiment_en/probes.tsv
DOMAINS=(imdb rotten_tomatoes drugs_com)

say() { echo "train.sh: $*" >&2; }

for split in train valid test; do
    if [ ! -f "$CORPUS/$split.tsv" ]; then
        say "$CORPUS/$split.tsv is missing; build the corpus first with \`kerattn data reviews\`."
        exit 2
    fi
done

# 1. Training (zoo/train_run.sh: resumable, niced, on a snapshot of the committed code), once
# per seed. Finished means stopped for the recipe's own reason; a --max-steps stop also writes
# final.keras, and is resumed.
SEEDS=${SEEDS:-0 1}
finished() { # run folder
    [ -f "$1/metrics.json" ] &&
        grep -Eq '"stop_reason": "(steps|epochs|early_stopping)"' "$1/metrics.json"
}
max_steps=()
if [ -n "${STEPS:-}" ]; then max_steps=(--max-steps "$STEPS"); fi
runs=()
for seed in $SEEDS; do
    run="$RUN_DIR"
    seed_option=()
    if [ "$seed" != 0 ]; then run="${RUN_DIR}_seed$seed"; seed_option=(--seed "$seed"); fi
    runs+=("$run")
    if finished "$run"; then
        say "training finished earlier ($run/metrics.json)"
    else
        zoo/train_run.sh "$RECIPE" "$run" "${seed_option[@]}" "${max_steps[@]}"
    fi
    if ! finished "$run"; then
        say "training of $run stopped at --max-steps $STEPS; run again to continue"
        exit 0
    fi
    # Each run's checkpoints of its best step and its two neighbours (200 steps either side).
    if [ ! -f "$run/averaged.keras" ]; then
        "$python" - "$run" <<'PYTHON'
import json, sys
from kerattn.training.checkpoint_averaging import average_checkpoints
run = sys.argv[1]
best = json.load(open(f"{run}/metrics.json"))["summary"]["best_step"]
average_checkpoints(run, steps=[best - 200, best, best + 200], template=f"{run}/best.keras")
PYTHON
    fi
done

# 2. Candidates, calibrated: best.keras (the lowest validation loss), averaged.keras and, with
# several seeds, the ensemble of every run's averaged.keras, each with the temperature fitted
# on the validation rows of every domain.
calibrate() { # name, model
    local preset="$RUN_DIR/calibrated_$1"
    if [ ! -f "$preset/metadata.json" ]; then
        rm -rf "$preset" # only an interrupted calibration of this script leaves it half-written
        "$kerattn" calibrate "$2" --data "$CORPUS/valid.tsv" --out "$preset" \
            --json > "$RUN_DIR/calibration_$1.json.partial"
        mv "$RUN_DIR/calibration_$1.json.partial" "$RUN_DIR/calibration_$1.json"
    fi
}
candidates=(best averaged)
calibrate best "$RUN_DIR/best.keras"
calibrate averaged "$RUN_DIR/averaged.keras"
if [ ${#runs[@]} -gt 1 ]; then
    if [ ! -f "$RUN_DIR/ensemble/metadata.json" ]; then
        rm -rf "$RUN_DIR/ensemble" # only an interrupted join of this script leaves it
        members=()
        for run in "${runs[@]}"; do members+=("$run/averaged.keras"); done
        "$kerattn" ensemble "${members[@]}" --out "$RUN_DIR/ensemble"
    fi
    candidates+=(ensemble)
    calibrate ensemble "$RUN_DIR/ensemble"
fi

# The choice, on validation rows only: the candidate with the lower negative log-likelihood
# after calibration (the recipe's own criterion, validation loss, at the fitted temperature).
chosen=$("$python" - "$RUN_DIR" "${candidates[@]}" <<'PYTHON'
import json, sys
run = sys.argv[1]
nll = {name: json.load(open(f"{run}/calibration_{name}.json"))["after"]["negative_log_likelihood"]
       for name in sys.argv[2:]}
print(min(nll, key=nll.get))
PYTHON
)
say "chosen on validation: $chosen (of ${candidates[*]}: $RUN_DIR/calibration_<name>.json)"
preset="$RUN_DIR/calibrated_$chosen"
uncalibrated="$RUN_DIR/$chosen.keras"
if [ "$chosen" = ensemble ]; then uncalibrated="$RUN_DIR/ensemble"; fi

# 3. Evaluation: each domain's valid and test rows with the calibrated model; every test row
# also before calibration (the temperature changes the calibration error, never the label);
# the probes.
evaluate() { # output name, model, data, extra flags...
    local out="$RUN_DIR/evaluation/$1.json"
    if [ ! -s "$out" ]; then
        "$kerattn" evaluate "$2" --data "$3" --json "${@:4}" > "$out.partial"
        mv "$out.partial" "$out"
    fi
}
# An evaluation of an earlier choice (before a seed was added) is kept aside, not reused.
previous=$(cat "$RUN_DIR/evaluation/CHOSEN" 2>/dev/null || true)
if [ -n "$previous" ] && [ "$previous" != "$chosen" ]; then
    if [ -e "$RUN_DIR/evaluation_of_$previous" ]; then
        say "$RUN_DIR/evaluation holds $previous's evaluation and evaluation_of_$previous exists; move one of them away"
        exit 1
    fi
    mv "$RUN_DIR/evaluation" "$RUN_DIR/evaluation_of_$previous"
    say "the earlier choice's evaluation is now $RUN_DIR/evaluation_of_$previous"
fi
mkdir -p "$RUN_DIR/evaluation"
echo "$chosen" > "$RUN_DIR/evaluation/CHOSEN"
for split in valid test; do
    for domain in "${DOMAINS[@]}"; do
        evaluate "${split}_${domain}" "$preset" "$CORPUS/$split.tsv" --origin "$domain"
    done
    evaluate "${split}_all" "$preset" "$CORPUS/$split.tsv"
done
evaluate test_all_uncalibrated "$uncalibrated" "$CORPUS/test.tsv"
evaluate probes "$preset" "$PROBES"
for category in negation sarcasm faint_praise contrast; do
    evaluate "probes_$category" "$preset" "$PROBES" --origin "$category"
done
say "done: $preset ($chosen), $RUN_DIR/evaluation/"
