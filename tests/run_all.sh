#!/usr/bin/env bash
# The whole test suite: set-up, C tests (plain and under ASan+UBSan), then pytest.
#
#   bash tests/run_all.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup --test

build=${BUILD_DIR:-build}
echo "== C tests (ctest)"
cmake -S . -B "$build/host" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build/host" -j2 >/dev/null
ctest --test-dir "$build/host" --output-on-failure

echo "== C tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B "$build/asan" -DCMAKE_BUILD_TYPE=Debug -DMT_SANITIZE=ON >/dev/null
cmake --build "$build/asan" -j2 >/dev/null
ctest --test-dir "$build/asan" --output-on-failure

echo "== pytest"
# pytest exits 5 when it collected no test; with set -e that fails the run, as it should.
python3 -m pytest -q "$@"
