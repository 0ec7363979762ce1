#!/usr/bin/env bash
# The agent's five mesh figures with real OTP nodes (bench/README.md, "Agent with real nodes"):
# runs the real-node scenarios of agent_mesh_integration_tests (libcluster-agent binaries, the
# project's test API server, OTP 25 nodes on loopback, every node's nodes() sampled every 20 ms)
# RUNS times each and prints each figure's runs, median and worst. Not run by ctest.
#
#   bench/agent_mesh_bench.sh [--build DIR] [--runs N] [--runs20 N] [--global on|off]
#
# --global off starts the nodes with prevent_overlapping_partitions false (OTP's default is on).
# The 20-node runs start the real libcluster-controller (leader election on) beside 20 nodes, their
# agents and pods, and print where the time went ([ timeline ] lines).
set -euo pipefail

build=build
runs=5
runs20=3
global=on
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --runs20) runs20="$2"; shift 2 ;;
    --global) global="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
binary="$build/tests/integration/agent/agent_mesh_integration_tests"
[[ -x "$binary" ]] || { echo "build agent_mesh_integration_tests first ($binary)" >&2; exit 2; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
export LIBCLUSTER_MESH_GLOBAL="$global"
echo "load average before (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)"
scenarios='AgentMeshBeamTest.RemovedNodeThatKeepsRunningLeavesAndStaysCut'
scenarios+=':AgentMeshBeamTest.ForcedDisconnectAndGlobalsCascadeAreRepairedOnNodedown'
scenarios+=':AgentMeshBeamTest.DeletedPodsNodeStopsAndTheSurvivorsStayMeshed'
scenarios+=':AgentMeshBeamTest.OneNodeJoinsAndEveryNodeConnectsToIt'
"$binary" --gtest_filter="$scenarios" --gtest_repeat="$runs" 2>/dev/null | grep -E '^\[ figures|FAILED  \]' >>"$out" || true
if [[ "$runs20" -gt 0 ]]; then
  "$binary" --gtest_filter='AgentMesh20BeamTest.ControllerStartToFullMesh' --gtest_repeat="$runs20" \
    2>/dev/null | grep -E '^\[ figures|^\[ timeline|FAILED  \]' >>"$out" || true
fi

echo "load average after (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "$global" <<'PY'
import re, statistics, sys
lines = open(sys.argv[1]).read().splitlines()
figures = [
    ("pod deleted, node alive -> removed node cut from all, rest a full mesh (ms)",
     r"removal: .* for good after (\d+) ms"),
    ("  nodes() changes on the way (4 = none but the cut itself)",
     r"removal: .* changes on the way: (\d+)"),
    ("two members forcibly disconnected -> full mesh again for good (ms)",
     r"forced disconnect: full mesh again for good after (\d+) ms"),
    ("  connections `global` cut on the way",
     r"forced disconnect: .* connections lost on the way: (\d+)"),
    ("20 nodes, controller start -> full mesh (ms)",
     r"20 nodes: controller start to full mesh (\d+) ms"),
    ("  of which first status publish -> full mesh (ms)",
     r"20 nodes: .* first status publish to full mesh (\d+) ms"),
    ("  controller start -> leader (ms)", r"timeline \] ms after controller start: .* became leader (-?\d+)"),
    ("  controller start -> status written (ms)",
     r"timeline \] ms after controller start: .* status written (-?\d+)"),
    ("  status -> last agent knows the members (ms)", r"members known -?\d+/(-?\d+)"),
    ("  status -> last agent's first peer connected (ms)", r"first peer connected -?\d+/(-?\d+)"),
    ("  status -> last agent's last peer connected (ms)", r"last peer connected -?\d+/(-?\d+)"),
    ("pod deleted (node stopped) -> longest gap among survivors (ms)",
     r"pod deleted, node stopped: longest gap among the survivors (\d+) ms"),
    ("one node joins -> every node connected to it (ms)",
     r"join: every node connected to the new one after (\d+) ms"),
]
print(f"prevent_overlapping_partitions: {sys.argv[2]}")
for title, pattern in figures:
    values = [int(m.group(1)) for line in lines for m in [re.search(pattern, line)] if m]
    if values:
        print(f"{title}: median {statistics.median(values):g}, worst {max(values)}, runs {values}")
    else:
        print(f"{title}: no run")
failed = [line for line in lines if "FAILED" in line]
for line in failed:
    print("failed:", line)
PY
