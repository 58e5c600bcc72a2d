#!/usr/bin/env bash
# The one test command (README.md): builds everything in Release and runs every test suite.
set -euo pipefail
cd "$(dirname "$0")"
dotnet build Sockeye.slnx -c Release
dotnet test Sockeye.slnx -c Release --no-build --logger "console;verbosity=normal" "$@"
