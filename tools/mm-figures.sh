#!/bin/bash
# mm-figures.sh - runs the FedDMMR stages (configs/feddmmr-*-ml1m.ini: stage 1, stage 2,
# stage 3 after stage 2, stage 3 directly after stage 1) and the FedMem ablations
# (configs/{fedavg-sasrec,fedmem-noproto,fedmem-nocontrast,fedmem}-{ml100k,ml1m}.ini, and
# the centralized configs/sasrec-ml100k.ini), then prints one markdown table from the
# runs' final.json and history.jsonl files.
#
# Usage: tools/mm-figures.sh [OUT_DIR] [PART...]   (default runs, parts: feddmmr ml100k ml1m)
# The stage configs read the previous stage from runs/feddmmr-ml1m/, so OUT_DIR is where
# the stages are written with --set train.init_from overridden to match. Needs
# ../shared/data; a run whose final.json exists is not repeated. THREADS=n (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs}
shift || true
PARTS=${*:-feddmmr ml100k ml1m}
THREADS=${THREADS:-2}
BIN=${BIN:-build/fedrec}
[ -x "$BIN" ] || ./build.sh build >/dev/null
mkdir -p "$OUT"

run() { # name config [--set ...]
    local name=$1 cfg=$2
    shift 2
    [ -f "$OUT/$name/final.json" ] && return 0
    echo "== $name" >&2
    mkdir -p "$(dirname "$OUT/$name")"
    "$BIN" train --config "$cfg" --threads "$THREADS" --out "$OUT/$name" "$@" >"$OUT/$name.log" 2>&1 ||
        echo "   failed: see $OUT/$name.log" >&2
}

for part in $PARTS; do
    case $part in
    feddmmr)
        d=feddmmr-ml1m
        run $d/stage1 configs/feddmmr-stage1-ml1m.ini
        run $d/stage3-skip configs/feddmmr-stage3-skip-ml1m.ini \
            --set train.init_from="$OUT/$d/stage1/model.safetensors"
        run $d/stage2 configs/feddmmr-stage2-ml1m.ini \
            --set train.init_from="$OUT/$d/stage1/model.safetensors"
        run $d/stage3 configs/feddmmr-stage3-ml1m.ini \
            --set train.init_from="$OUT/$d/stage2/model.safetensors"
        ;;
    ml100k | ml1m)
        for a in fedavg-sasrec fedmem fedmem-noproto fedmem-nocontrast; do
            run "$a-$part" "configs/$a-$part.ini"
        done
        # ml-1m-half's centralized SASRec is docs/sasrec.md's (200 epochs, 695 s)
        [ "$part" = ml100k ] && run "sasrec-central-$part" "configs/sasrec-$part.ini"
        ;;
    esac
done

python3 - "$OUT" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
print("| run | HR@5 / HR@10 / HR@20 / NDCG@10 / MRR, 100 sampled | same, full ranking | best round | s per round | MB up per round (prototypes, bytes) |")
print("| --- | --- | --- | --- | --- | --- |")
for root, dirs, files in sorted(os.walk(out)):
    if "final.json" not in files:
        continue
    d = json.load(open(os.path.join(root, "final.json")))
    t = d["test"]
    f = lambda m: " / ".join("%.4f" % m[k] for k in ("hr@5", "hr@10", "hr@20", "ndcg@10", "mrr"))
    up, proto, secs = [], [], []
    hist = os.path.join(root, "history.jsonl")
    for line in open(hist) if os.path.exists(hist) else []:
        h = json.loads(line)
        if "bytes_up" in h:
            up.append(h["bytes_up"]); proto.append(h.get("proto_bytes_up", 0)); secs.append(h["seconds"])
    best = d.get("best_round", d.get("best_epoch"))
    per = statistics.median(secs) if secs else d["train_seconds"] / max(d.get("epochs", 1), 1)
    mb = "%.1f (%d)" % (statistics.mean(up) / 1e6, statistics.mean(proto)) if up else "-"
    print(f"| {os.path.relpath(root, out)} | {f(t['sampled'])} | {f(t['full'])} | {best} | {per:.3f} | {mb} |")
PY
