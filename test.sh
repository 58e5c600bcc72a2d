#!/usr/bin/env bash
# The one test command (README.md): builds everything in Release and runs every test suite.
# When a test fails, every failed test's name, message and stack are repeated at the very end of the
# output, so a log that keeps only its last lines (CI's) still says what failed.
set -euo pipefail
cd "$(dirname "$0")"
dotnet build Sockeye.slnx -c Release
log="$(mktemp -t sockeye-test.XXXXXX)"
trap 'rm -f "$log"' EXIT
status=0
dotnet test Sockeye.slnx -c Release --no-build --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log" \
    || status=$?
if [ "$status" -ne 0 ]; then
    # The console logger prints "  Failed <test> [time]" followed by indented "Error Message:" and
    # "Stack Trace:" blocks; a block ends at the next test's line or at a blank/summary line.
    echo
    echo "=== failed tests (repeated from above) ==="
    awk '
        /^  (Passed|Skipped) / { inside = 0 }
        /^  Failed / { inside = 1; count++ }
        /^(Test Run|Total tests:|\[xUnit)/ { inside = 0 }
        inside { print }
        END { if (count == 0) print "(no failed test line found: the failure is in the build or the test host; see above)" }
    ' "$log" | cut -c1-400 | head -n 300
fi
exit "$status"
