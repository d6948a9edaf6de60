#!/usr/bin/env bash
# After a translator's training run: choose the model, store it as float16, calibrate its
# confidence and measure it on every held-out set the card reports.
#
#   zoo/finish_translator.sh RUN_DIR CORPUS [INDEPENDENT]
#   e.g. zoo/finish_translator.sh runs/translator_en_es_v2 corpora/localisation-es corpora/debian-docs-es
#
# Steps (each skipped when its output exists, so a re-run continues where it stopped):
# 1. RUN_DIR/averaged.keras: the average of the run's last AVERAGE_LAST (3) checkpoints.
# 2. Model selection on the validation split only (greedy BLEU of best.keras and
#    averaged.keras; evaluation/valid_*.json) over RUN_DIR/valid_sample.tsv, VALID_ROWS
#    (default 3,000) rows of CORPUS/valid.tsv drawn with seed 0 (the split is ordered by
#    package, so a prefix would be a few packages); the choice goes to evaluation/chosen.txt.
# 3. RUN_DIR/preset: the chosen model as a preset folder with float16 weights and the card's
#    decoding (beam 4), its confidence threshold calibrated on the same validation rows (5 %
#    of their translations flagged).
# 4. evaluation/*.json: the preset, beam 4, on the whole test split with BLEU per kind and per
#    package (`--by-origin 2`: ui/, help/, narrative/, help/libreoffice/, ...; the
#    translations in test_predictions.tsv), the out-of-domain packages per kind
#    (test-ood.tsv), the independent set (INDEPENDENT: `kerattn data debian-docs`; reported,
#    never used for any choice), and last the whole test split greedy.
# The test sets are only scored, once the model is fixed. Packaging into zoo/ (write_preset, the
# card) is done by hand from these reports. Environment: KERATTN (default .venv/bin/kerattn if it
# exists, else kerattn), NICE (default 10), AVERAGE_LAST (checkpoints averaged, default 3),
# VALID_ROWS.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 2 ]]; then
    echo "usage: zoo/finish_translator.sh RUN_DIR CORPUS [INDEPENDENT]" >&2
    exit 2
fi
run_dir=$1
corpus=$2
independent=${3:-}
source zoo/kerattn_command.sh
python=$(dirname "$(command -v "$kerattn")")/python
for file in "$run_dir/final.keras" "$run_dir/best.keras" "$corpus/valid.tsv" "$corpus/test.tsv"; do
    if [[ ! -f $file ]]; then
        echo "$file is missing: finish the training run and build the corpus first." >&2
        exit 2
    fi
done
say() { echo "finish_translator.sh: $*" >&2; }
run() { nice -n "${NICE:-10}" "$@"; }
evaluation=$run_dir/evaluation
mkdir -p "$evaluation"

evaluate() { # name, model, data, flags...
    local out=$evaluation/$1.json
    if [[ ! -s $out ]]; then
        say "evaluating $2 on $3 ${*:4}"
        run "$kerattn" evaluate "$2" --data "$3" --task translation --json "${@:4}" >"$out.partial"
        mv "$out.partial" "$out"
    fi
}
bleu() { "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["metrics"]["bleu"])' "$1"; }

# 1-2. Averaging, and the choice on the validation split.
if [[ ! -f $run_dir/averaged.keras ]]; then
    run "$python" -c 'import sys
from kerattn.training.checkpoint_averaging import average_checkpoints
print(average_checkpoints(sys.argv[1], last=int(sys.argv[2])))' "$run_dir" "${AVERAGE_LAST:-3}"
fi
valid=$run_dir/valid_sample.tsv
if [[ ! -s $valid ]]; then
    "$python" -c 'import random, sys
from kerattn.data import read_rows, write_rows
rows = read_rows(sys.argv[1])
keep = sorted(random.Random(0).sample(range(len(rows)), min(int(sys.argv[3]), len(rows))))
write_rows(sys.argv[2], [rows[i] for i in keep])' "$corpus/valid.tsv" "$valid" "${VALID_ROWS:-3000}"
fi
evaluate valid_best "$run_dir/best.keras" "$valid" --beam-size 1
evaluate valid_averaged "$run_dir/averaged.keras" "$valid" --beam-size 1
if [[ ! -s $evaluation/chosen.txt ]]; then
    best=$(bleu "$evaluation/valid_best.json")
    averaged=$(bleu "$evaluation/valid_averaged.json")
    chosen=$("$python" -c 'import sys; print("averaged" if float(sys.argv[2]) > float(sys.argv[1]) else "best")' "$best" "$averaged")
    echo "$chosen (validation BLEU, greedy: best.keras $best, averaged.keras $averaged)" >"$evaluation/chosen.txt"
fi
chosen=$(cut -d' ' -f1 "$evaluation/chosen.txt")
say "chosen: $(cat "$evaluation/chosen.txt")"

# 3. The preset folder: float16 weights, beam 4, calibrated on the validation split.
preset=$run_dir/preset
if [[ ! -f $preset/metadata.json ]]; then
    rm -rf "$preset" # only an interrupted run of this step leaves it half-written
    run "$python" -c 'import sys
from kerattn.zoo.model_loading import load_model
model = load_model(sys.argv[1])
model.decoding = {"beam_size": 4}
model.save_to_preset(sys.argv[2], weights_dtype="float16")' "$run_dir/$chosen.keras" "$preset"
fi
if ! grep -q '"confidence_threshold"' "$preset/metadata.json"; then
    run "$kerattn" calibrate "$preset" --data "$valid" --in-place --json \
        >"$evaluation/calibration.json"
fi

# 4. The held-out sets, scored once.
[[ -s $evaluation/test_all.json ]] || rm -f "$evaluation/test_predictions.tsv" # a stopped run's
evaluate test_all "$preset" "$corpus/test.tsv" --by-origin 2 \
    --predictions "$evaluation/test_predictions.tsv"
evaluate test_ood "$preset" "$corpus/test-ood.tsv" --by-origin 1
if [[ -n $independent ]]; then
    for set in handbook descriptions; do
        evaluate "independent_$set" "$preset" "$independent/$set.tsv"
        evaluate "independent_${set}_greedy" "$preset" "$independent/$set.tsv" --beam-size 1
    done
fi
evaluate test_all_greedy "$preset" "$corpus/test.tsv" --beam-size 1
say "done: $preset and $evaluation/"
for report in "$evaluation"/*.json; do
    [[ $report == */calibration.json ]] && continue
    printf '%-40s BLEU %s\n' "$(basename "$report" .json)" "$(bleu "$report")"
done
"$python" -c 'import json, sys
for name in sys.argv[1:]:
    for row in json.load(open(name))["metrics"].get("by_origin", []):
        if row["depth"] == 1 or row["origin"].startswith(("help/libreoffice/", "ui/libreoffice")):
            print("  %(origin)-38s %(count)6d rows  BLEU %(bleu).2f" % row)' \
    "$evaluation/test_all.json" "$evaluation/test_ood.json"
