#!/bin/bash
# implicit-figures.sh - runs the implicit-feedback recommenders of docs/implicit.md
# (configs/{fedmf,fedncf,pfedrec,gpfedrec,ufgraphfr}-{ml100k,ml1m,lastfm}.ini), the
# centralized counterparts (dot and MLP scorers, Adam) and, on ML-100K, GPFedRec with the
# published code's graph (cosine distance, mean threshold), then prints one markdown table from
# the runs' final.json files.
#
# Usage: tools/implicit-figures.sh [OUT_DIR] [DATASET...]   (default runs/implicit, all)
# Needs ../shared/data; a run whose final.json exists is not repeated. THREADS=n sets
# --threads (default 2), BIN=path the binary (default build/fedrec). Several hours on a
# 2-core machine for all three data sets.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/implicit}
shift || true
SETS=${*:-ml100k ml1m lastfm}
THREADS=${THREADS:-2}
BIN=${BIN:-build/fedrec}
[ -x "$BIN" ] || ./build.sh build >/dev/null
mkdir -p "$OUT"

# Evaluation cadence: every round on ML-100K; full ranking of 3615 (17632) items for every
# user is the cost on the larger sets, so they validate every 2nd (5th) round.
every() { case $1 in ml100k) echo 1 ;; ml1m) echo 2 ;; *) echo 5 ;; esac; }

run() { # name config [--set ...]
    local name=$1 cfg=$2
    shift 2
    [ -f "$OUT/$name/final.json" ] && return 0
    echo "== $name" >&2
    "$BIN" train --config "$cfg" --threads "$THREADS" --out "$OUT/$name" "$@" >"$OUT/$name.log" 2>&1 ||
        echo "   failed: see $OUT/$name.log" >&2
}

for ds in $SETS; do
    e=$(every "$ds")
    for alg in pfedrec fedmf fedncf gpfedrec ufgraphfr; do
        cfg=configs/$alg-$ds.ini
        [ -f "$cfg" ] || continue
        run "$alg-$ds" "$cfg" --set eval.every="$e"
    done
    # the published graph keeps about half of all users as neighbours: dense, so only on
    # the smallest set
    [ "$ds" = ml100k ] && run "gpfedrec-published-$ds" "configs/gpfedrec-$ds.ini" \
        --set eval.every="$e" --set graph.similarity=distance --set graph.top_n=0 \
        --set graph.reg=1
    # centralized: validate every 2nd (5th) epoch, stop after 10 validations without a
    # better HR@10 (the shuffled batches overfit after 50-60 epochs on ML-100K)
    ce=$([ "$ds" = ml100k ] && echo 2 || echo 5)
    run "central-dot-$ds" "configs/fedmf-$ds.ini" --set train.algorithm=central \
        --set eval.every="$ce" --set eval.patience=10
    run "central-mlp-$ds" "configs/fedncf-$ds.ini" --set train.algorithm=central \
        --set eval.every="$ce" --set eval.patience=10
done

python3 - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
print("| run | test HR@10 / NDCG@10, 99 sampled | full | best round (epoch) | s per round (epoch) |")
print("| --- | --- | --- | --- | --- |")
for name in sorted(os.listdir(out)):
    f = os.path.join(out, name, "final.json")
    if not os.path.isfile(f):
        continue
    d = json.load(open(f))
    t = d["test"]
    best = d.get("best_round", d.get("best_epoch"))
    n = d.get("rounds", d.get("epochs"))
    per = d.get("seconds_per_round", d["train_seconds"] / max(n, 1))
    print(f"| {name} | {t['sampled']['hr@10']:.4f} / {t['sampled']['ndcg@10']:.4f} | "
          f"{t['full']['hr@10']:.4f} / {t['full']['ndcg@10']:.4f} | {best} of {n} | {per:.3f} |")
EOF
