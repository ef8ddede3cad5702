#!/bin/sh
# test.sh: install what is missing, build, and run every test: the normal
# build (gcc, -Werror) and the sanitizer build (clang, ASan + UBSan, which
# also runs each libFuzzer target for a short time).
#
# Environment: SEKISHO_JOBS (parallel build jobs, default: cores),
# SEKISHO_SKIP_ASAN=1 to run only the normal build (quick local runs).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

jobs=${SEKISHO_JOBS:-$(nproc)}

echo "==> build (gcc, -Werror)"
cmake -S . -B build -DSEKISHO_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"
echo "==> tests (build)"
(cd build && ctest --output-on-failure -j "$jobs")

if [ "${SEKISHO_SKIP_ASAN:-0}" != 1 ]; then
	echo "==> build (clang, ASan + UBSan, libFuzzer)"
	cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang \
	    -DSEKISHO_SANITIZE=ON -DSEKISHO_WERROR=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-asan -j "$jobs"
	echo "==> tests (build-asan)"
	(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j "$jobs")
fi
