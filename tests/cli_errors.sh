#!/usr/bin/env bash
# cli_errors.sh FEDREC SOURCE_DIR - bad input through the fedrec program: each case
# prints one line "fedrec: FILE:LINE: what is wrong" (or FILE: for whole-file problems),
# exits 2 and leaves no run directory behind.
set -u
fedrec=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0; passed=0

expect_error() { # NAME PATTERN ARGS... : exit 2, one stderr line matching PATTERN, no run dir
    local name=$1 pattern=$2; shift 2
    rm -rf "$tmp/run"
    "$fedrec" "$@" >"$tmp/out" 2>"$tmp/err"
    local code=$?
    local lines; lines=$(wc -l <"$tmp/err")
    if [ "$code" -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qE "$pattern" "$tmp/err" || [ -e "$tmp/run" ]; then
        echo "FAIL $name: exit $code, $lines stderr lines:"; cat "$tmp/err"
        [ -e "$tmp/run" ] && echo "  and $tmp/run was left behind"
        fail=$((fail + 1))
    else
        passed=$((passed + 1))
    fi
}

printf 'user,item,rating,timestamp\n1,10,4,100\n1,11,x,101\n' >"$tmp/nonnum.csv"
printf '1::10::4::100\n1::11::4\n' >"$tmp/ratings.dat"
printf '1\t10\t9\t100\n' >"$tmp/range.data"
: >"$tmp/empty.csv"
printf 'hello world this is not\n\x01\x02\n' >"$tmp/garbage.bin"
printf '[train]\nrounds = many\n' >"$tmp/bad.ini"
printf '[train]\nnope = 1\n' >"$tmp/unknown.ini"

expect_error missing-file "^fedrec: $tmp/missing.csv: cannot open" train --data "$tmp/missing.csv" --out "$tmp/run"
expect_error non-numeric "^fedrec: $tmp/nonnum.csv:3: .*rating.*'x'" train --data "$tmp/nonnum.csv" --out "$tmp/run"
expect_error malformed "^fedrec: $tmp/ratings.dat:2: " train --data "$tmp/ratings.dat" --out "$tmp/run"
expect_error out-of-range "^fedrec: $tmp/range.data:1: .*rating.*out of range" train --data "$tmp/range.data" --format ml100k --out "$tmp/run"
expect_error empty "^fedrec: $tmp/empty.csv: empty" train --data "$tmp/empty.csv" --out "$tmp/run"
expect_error unknown-format "^fedrec: $tmp/garbage.bin: " train --data "$tmp/garbage.bin" --out "$tmp/run"
expect_error config-value "^fedrec: $tmp/bad.ini:2: .*rounds.*not a number" train --config "$tmp/bad.ini" --out "$tmp/run"
expect_error config-key "^fedrec: $tmp/unknown.ini:2: .*nope" train --config "$tmp/unknown.ini" --out "$tmp/run"
expect_error set-value "^fedrec: --set train.rounds=abc" train --set train.rounds=abc --out "$tmp/run"
expect_error stats-missing "^fedrec: $tmp/missing.dat: cannot open" data stats "$tmp/missing.dat"
expect_error eval-missing "^fedrec: $tmp/none.safetensors: cannot open" eval --model "$tmp/none.safetensors"
printf 'not a checkpoint at all' >"$tmp/bad.safetensors"
expect_error eval-corrupt "^fedrec: $tmp/bad.safetensors: " eval --model "$tmp/bad.safetensors"
# ufgraphfr: a feature matrix with the wrong number of rows names the file and the field;
# gpfedrec needs every client each round. (A .npy of 2 x 3 float32 written by printf.)
printf 'user,item,rating,timestamp\n1,1,1,1\n1,2,1,2\n1,3,1,3\n2,1,1,1\n2,2,1,2\n2,4,1,3\n3,2,1,1\n3,3,1,2\n3,4,1,3\n' >"$tmp/clicks.csv"
{ printf '\x93NUMPY\x01\x00\x76\x00'; printf "%-117s\n" "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"; head -c 24 /dev/zero; } >"$tmp/feat.npy"
expect_error npy-rows "^fedrec: $tmp/feat.npy: field shape: 2 rows, but the data has 3 users" train --data "$tmp/clicks.csv" --set model.model=ncf --set train.algorithm=ufgraphfr --set graph.top_n=1 --set train.clients_fraction=1 --set graph.user_features="$tmp/feat.npy" --out "$tmp/run"
expect_error graph-fraction "^fedrec: .*gpfedrec.*clients_fraction = 1" train --data "$tmp/clicks.csv" --set model.model=ncf --set train.algorithm=gpfedrec --set train.clients_fraction=0.5 --out "$tmp/run"
# train.freeze names mmrec's parameter groups; top_users and max_clients exclude each
# other. (mm.feature_map and train.init_from are read by the mmrec trainer only, so their
# file errors are tested in test_itemfeat and test_checkpoint, not here.)
expect_error freeze-group "^fedrec: \[train\] freeze: unknown group 'bogus' \(groups: item, sasrec, experts, fusion\)$" train --set model.model=mmrec --set train.freeze=item,bogus --out "$tmp/run"
expect_error freeze-model "^fedrec: \[train\] freeze: .*model.model is 'sasrec'" train --set model.model=sasrec --set train.freeze=item --out "$tmp/run"
expect_error top-and-max "^fedrec: \[data\] top_users \(5\) and max_clients \(3\) both choose users" train --set data.top_users=5 --set data.max_clients=3 --out "$tmp/run"

# mmrec (FedMem, FedDMMR): item features need a row for every item, a feature map names
# its bad line and field, init_from names a missing checkpoint, and a data set without
# titles needs a text feature matrix.
printf 'user,item,rating,timestamp\n1,10,4,100\n1,11,4,101\n1,12,4,102\n1,13,4,103\n2,10,4,100\n2,12,4,101\n2,13,4,102\n2,11,4,104\n' >"$tmp/seq.csv"
printf '10 0\n11 x\n' >"$tmp/bad.map"
{ printf '\x93NUMPY\x01\x00\x76\x00'; printf "%-117s\n" "{'descr': '<f4', 'fortran_order': False, 'shape': (14, 3), }"; head -c 168 /dev/zero; } >"$tmp/feat14.npy"
mm=(train --data "$tmp/seq.csv" --set model.model=mmrec --set train.algorithm=fedavg --out "$tmp/run")
expect_error mm-map-line "^fedrec: $tmp/bad.map:2: field 'row': 'x' is not a number" "${mm[@]}" --set mm.text_features="$tmp/feat.npy" --set mm.feature_map="$tmp/bad.map"
expect_error mm-no-row "^fedrec: $tmp/feat.npy: item 10 \(raw id\) has no row" "${mm[@]}" --set mm.text_features="$tmp/feat.npy"
expect_error mm-init-missing "^fedrec: $tmp/none.safetensors: cannot open" "${mm[@]}" --set mm.text_features="$tmp/feat14.npy" --set train.init_from="$tmp/none.safetensors"
expect_error mm-no-text "^fedrec: $tmp/seq.csv: no item text features" "${mm[@]}"

# usage errors and --help
for cmd in train eval data; do
    if "$fedrec" $cmd --help | grep -q "usage: fedrec $cmd"; then passed=$((passed + 1)); else echo "FAIL $cmd --help"; fail=$((fail + 1)); fi
done
"$fedrec" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] && passed=$((passed + 1)) || { echo "FAIL unknown command"; fail=$((fail + 1)); }

echo "cli_errors: $passed passed, $fail failed"
[ "$fail" -eq 0 ]
