#!/usr/bin/env bash
# The two quick-start commands, and a few more for developers.
#   ./build.sh run     install what is missing, build, train the default job on the
#                      built-in synthetic data (configs/default.ini)
#   ./build.sh test    install what is missing, build, run the whole test suite (CTest)
#   ./build.sh asan    the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   ./build.sh build   just build (into build/)
set -euo pipefail
cd "$(dirname "$0")"
jobs=$(nproc 2>/dev/null || echo 2)

build() { # build DIR [cmake args...]
    local dir=$1; shift
    tools/install-deps.sh
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
}

case "${1:-}" in
run)
    build build -DCMAKE_BUILD_TYPE=Release
    shift
    exec build/fedrec train --config configs/default.ini --out runs/default "$@"
    ;;
test)
    build build -DCMAKE_BUILD_TYPE=Release
    ctest --test-dir build --output-on-failure -j "$jobs"
    ;;
asan)
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DFR_SANITIZE=ON
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --test-dir build-asan --output-on-failure -j "$jobs"
    ;;
build)
    build build -DCMAKE_BUILD_TYPE=Release
    ;;
*)
    echo "usage: ./build.sh run|test|asan|build" >&2
    exit 2
    ;;
esac
