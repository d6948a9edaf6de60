#!/usr/bin/env bash
# Trains g2p_en v2 (zoo/g2p_en/recipe.toml) into runs/g2p_en_v2 at nice 19.
#
#   zoo/g2p_en/train.sh                              # in the foreground
#   nohup zoo/g2p_en/train.sh >/dev/null 2>&1 &      # in the background
#   tail -f runs/g2p_en_v2/train.log                    # progress (step lines with an ETA)
#
# Re-run the same command after an interruption (Ctrl-C, a kill, a reboot): it resumes from the
# run's newest readable checkpoint. Builds corpora/cmudict first if it is missing. Arguments are
# passed on to `kerattn train` (e.g. `--max-steps 100` for a trial; a later run without it
# continues the same schedule). The training itself is zoo/train_run.sh's: resumable, niced, on
# a snapshot of the committed code (<run dir>/source). Environment: RUN_DIR (default
# runs/g2p_en_v2), and zoo/train_run.sh's (KERATTN, NICE, SOURCE).
set -euo pipefail
cd "$(dirname "$0")/../.."
source zoo/kerattn_command.sh
if [[ ! -f corpora/cmudict/train.tsv ]]; then
    nice -n "${NICE:-19}" "$kerattn" data cmudict
fi
exec zoo/train_run.sh zoo/g2p_en/recipe.toml "${RUN_DIR:-runs/g2p_en_v2}" "$@"
