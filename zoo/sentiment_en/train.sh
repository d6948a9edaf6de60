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
# corpora/reviews: `kerattn data reviews`), STEPS (if set: `--max-steps`, for short trials).
#
# Writes in RUN_DIR: the run (checkpoints/, best.keras, final.keras, metrics.json, logs/),
# averaged.keras (the checkpoints around the best step averaged), calibrated_best/ and
# calibrated_averaged/ (each with the temperature fitted on the validation rows: preset
# folders) with calibration_best.json and calibration_averaged.json, and evaluation/*.json
# (`kerattn evaluate --json` reports of the candidate chosen on validation, named in
# evaluation/CHOSEN). zoo/sentiment_en/package.py then writes the preset.
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

# 1. Training (zoo/train_run.sh: resumable, niced, on a snapshot of the committed code).
# Finished means stopped for the recipe's own reason; a --max-steps stop also writes
# final.keras, and is resumed.
finished() {
    [ -f "$RUN_DIR/metrics.json" ] &&
        grep -Eq '"stop_reason": "(steps|epochs|early_stopping)"' "$RUN_DIR/metrics.json"
}
max_steps=()
if [ -n "${STEPS:-}" ]; then max_steps=(--max-steps "$STEPS"); fi
if finished; then
    say "training finished earlier ($RUN_DIR/metrics.json)"
else
    zoo/train_run.sh "$RECIPE" "$RUN_DIR" "${max_steps[@]}"
fi
if ! finished; then
    say "training stopped at --max-steps $STEPS; run again to continue"
    exit 0
fi

# 2. Candidates, calibrated: best.keras (the lowest validation loss) and averaged.keras (the
# checkpoints of the best step and its two neighbours, 200 steps either side), each with the
# temperature fitted on the validation rows of every domain.
calibrate() { # name, model
    local preset="$RUN_DIR/calibrated_$1"
    if [ ! -f "$preset/metadata.json" ]; then
        rm -rf "$preset" # only an interrupted calibration of this script leaves it half-written
        "$kerattn" calibrate "$2" --data "$CORPUS/valid.tsv" --out "$preset" \
            --json > "$RUN_DIR/calibration_$1.json.partial"
        mv "$RUN_DIR/calibration_$1.json.partial" "$RUN_DIR/calibration_$1.json"
    fi
}
if [ ! -f "$RUN_DIR/averaged.keras" ]; then
    "$python" - "$RUN_DIR" <<'PYTHON'
import json, sys
from kerattn.training.checkpoint_averaging import average_checkpoints
run = sys.argv[1]
best = json.load(open(f"{run}/metrics.json"))["summary"]["best_step"]
average_checkpoints(run, steps=[best - 200, best, best + 200], template=f"{run}/best.keras")
PYTHON
fi
calibrate best "$RUN_DIR/best.keras"
calibrate averaged "$RUN_DIR/averaged.keras"

# The choice, on validation rows only: the candidate with the lower negative log-likelihood
# after calibration (the recipe's own criterion, validation loss, at the fitted temperature).
chosen=$("$python" - "$RUN_DIR" <<'PYTHON'
import json, sys
run = sys.argv[1]
nll = {name: json.load(open(f"{run}/calibration_{name}.json"))["after"]["negative_log_likelihood"]
       for name in ("best", "averaged")}
print(min(nll, key=nll.get))
PYTHON
)
say "chosen on validation: $chosen ($RUN_DIR/calibration_best.json, calibration_averaged.json)"
preset="$RUN_DIR/calibrated_$chosen"
uncalibrated="$RUN_DIR/$chosen.keras"

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
