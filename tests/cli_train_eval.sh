#!/usr/bin/env bash
# cli_train_eval.sh FEDREC SOURCE_DIR - a user's path through the program on built-in
# data: train writes history.jsonl, final.json and model.safetensors; `fedrec eval` on
# the checkpoint prints final.json's test figures; the same seed on 1 and 2 threads
# gives the same history (timing aside) and the same checkpoint bytes; `data stats`
# reads a file the test writes.
set -u
fedrec=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0; passed=0
check() { if eval "$2"; then passed=$((passed + 1)); else echo "FAIL $1"; fail=$((fail + 1)); fi; }

common=(--config "$src/configs/default.ini" --set train.rounds=30 --set eval.every=10 -q)
"$fedrec" train "${common[@]}" --threads 1 --out "$tmp/t1" >"$tmp/t1.out" || { echo "FAIL train"; exit 1; }
"$fedrec" train "${common[@]}" --threads 2 --out "$tmp/t2" >/dev/null || { echo "FAIL train 2 threads"; exit 1; }
check files '[ -s "$tmp/t1/history.jsonl" ] && [ -s "$tmp/t1/final.json" ] && [ -s "$tmp/t1/model.safetensors" ]'
check no-temporaries '[ -z "$(ls "$tmp/t1" | grep tmp)" ]'
check history-rounds '[ "$(wc -l <"$tmp/t1/history.jsonl")" -eq 30 ]'
check history-fields 'head -1 "$tmp/t1/history.jsonl" | grep -q "\"round\":1,\"loss\":.*\"rating_accuracy\":.*\"bytes_up\":.*\"bytes_down\":.*\"seconds\":"'
check history-valid 'sed -n 10p "$tmp/t1/history.jsonl" | grep -q "\"valid\":{\"loss\""'
strip() { sed -E 's/,"seconds":[^,}]*//' "$1"; }
check threads-history '[ "$(strip "$tmp/t1/history.jsonl")" = "$(strip "$tmp/t2/history.jsonl")" ]'
check threads-checkpoint 'cmp -s "$tmp/t1/model.safetensors" "$tmp/t2/model.safetensors"'
# fedrec eval prints the same test object as final.json
"$fedrec" eval --model "$tmp/t1/model.safetensors" --threads 2 >"$tmp/eval.json"
norm() { tr -d ' \n\t' <"$1" | grep -oE '"test":\{[^}]*\{[^}]*\}\}'; }
check eval-matches-final '[ -n "$(norm "$tmp/eval.json")" ] && [ "$(norm "$tmp/eval.json")" = "$(norm "$tmp/t1/final.json")" ]'
check final-fields 'grep -q "\"wall_seconds\"" "$tmp/t1/final.json" && grep -q "\"config\"" "$tmp/t1/final.json"'
# data stats on a small MovieLens-style directory
mkdir -p "$tmp/ml"
printf '1::10::5::100\n1::11::3::101\n2::10::4::102\n' >"$tmp/ml/ratings.dat"
printf '10::Toy Story (1995)::Animation|Comedy\n11::Heat (1995)::Action|Crime\n' >"$tmp/ml/movies.dat"
"$fedrec" data stats "$tmp/ml" >"$tmp/stats.txt"
check stats-counts 'grep -qE "^users +2$" "$tmp/stats.txt" && grep -qE "^interactions +3$" "$tmp/stats.txt"'
check stats-mean 'grep -qE "^rating mean +4.0000$" "$tmp/stats.txt"'
check stats-genres 'grep -q "Animation" "$tmp/stats.txt"'
echo "cli_train_eval: $passed passed, $fail failed"
[ "$fail" -eq 0 ]
