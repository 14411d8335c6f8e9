#!/usr/bin/env bash
# Benchmark smcfleet against the simulated fleet: for N lab hosts it prints
# the wall time of plan and apply of a 3-step playbook, smcfleet's peak RSS,
# and the SSH connections and round trips per host.
#
#   bench/fleet.sh [N ...]        (default: 10 50 200)
#
# Needs GNU time (/usr/bin/time, Debian package "time") and python3.
# Round trips per host = remote commands + SFTP requests that wait for an
# answer (open, stat, rename, ...; data packets of a transfer not counted),
# read from the lab's own counters before and after each run.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 50 200)
forks=${FORKS:-50}
work=$(mktemp -d)
trap 'kill "$lab_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/smcfleet" ./cmd/smcfleet
bin="$work/smcfleet"

cat > "$work/bench.hcl" <<'HCL'
# Three steps, as the procedure's cipher fix: write a file (with backup),
# a guarded command, a fetch; one handler.
step "file" "ciphers" {
  path    = "/lancope/services/swos-compliance/security/tls-ciphers"
  content = "ECDHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256\n"
  backup  = true
  notify  = ["restart"]
}
step "command" "marker" {
  cmd     = "touch /root/smcfleet-bench"
  creates = "/root/smcfleet-bench"
}
step "fetch" "log" {
  src  = "/lancope/var/logs/containers/sw-reponse-mgmt.log"
  dest = "fetched"
}
handler "command" "restart" {
  cmd = "docker restart sw-response-mgmt"
}
HCL

stats() { "$bin" lab stats --dir "$1"; }
perhost() { # before.json after.json N -> "connections round-trips" per host
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
a, b, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
d = lambda k: sum(b[h][k] - a[h][k] for h in b) / n
print(f"{d('connections'):.1f} {d('commands') + d('sftp_requests'):.1f}")
PY
}

printf '%-5s %-6s %9s %10s %12s %12s\n' hosts run wall_s peak_rss_MB conns/host round_trips/host
for n in "${sizes[@]}"; do
  dir="$work/lab-$n"
  "$bin" lab up --hosts "$n" --dir "$dir" > "$work/lab.out" 2>&1 &
  lab_pid=$!
  for _ in $(seq 1 600); do grep -q '^ready' "$work/lab.out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^ready' "$work/lab.out" || { cat "$work/lab.out"; exit 1; }
  for run in plan apply apply-again; do
    args=(plan)
    [ "$run" = plan ] || args=(apply --auto-approve)
    stats "$dir" > "$work/before.json"
    (cd "$dir" && /usr/bin/time -f '%e %M' -o "$work/time" "$bin" "${args[@]}" -i "$dir/inventory.hcl" --forks "$forks" "$work/bench.hcl" > "$work/out.txt")
    stats "$dir" > "$work/after.json"
    read -r wall rss < "$work/time"
    read -r conns rt < <(perhost "$work/before.json" "$work/after.json" "$n")
    printf '%-5s %-12s %6s %10.1f %12s %12s\n' "$n" "$run" "$wall" "$(echo "$rss/1024" | bc -l)" "$conns" "$rt"
    tail -n 1 "$work/out.txt" | sed 's/^/      /'
  done
  kill "$lab_pid"; wait "$lab_pid" 2>/dev/null || true
done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(go version | cut -d' ' -f3), forks=$forks"
