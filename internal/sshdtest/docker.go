package sshdtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultContainers are the containers a simulated Manager runs when
// Options.Containers is empty.
var DefaultContainers = []string{"sw-response-mgmt", "svc-cm", "svc-db", "svc-ui"}

// No Docker engine runs on test machines, so each host gets a fake docker
// client first in its PATH. Each container is a state file of key=value
// lines; "docker restart" rewrites started_at and appends
// "restart NAME <unix time>" to the host's DockerLog. As with the real
// engine, a manual restart does not raise RestartCount (only a restart
// policy does); tests count restarts through DockerLog instead.
const dockerScript = `#!/bin/sh
# Fake docker client written by internal/sshdtest: restart, start, stop,
# ps and inspect over state files, one per container.
state=%s
log=%s

now() { date -u +%%Y-%%m-%%dT%%H:%%M:%%S.%%NZ; }
get() { sed -n "s/^$2=//p" "$state/$1"; }
set_field() { sed "s|^$2=.*|$2=$3|" "$state/$1" > "$state/.$1.tmp" && mv "$state/.$1.tmp" "$state/$1"; }
exists() {
	case $1 in */* | .* | '') false ;; *) [ -f "$state/$1" ] ;; esac ||
		{ echo "Error response from daemon: No such container: $1" >&2; return 1; }
}
status() {
	if [ "$(get "$1" running)" = true ]; then echo Up; else echo "Exited (0)"; fi
}
# render CONTAINER TEMPLATE: the Go template fields scripts use.
render() {
	c=$1
	printf '%%s\n' "$2" | sed \
		-e "s|{{ *\.State\.Running *}}|$(get "$c" running)|g" \
		-e "s|{{ *\.State\.StartedAt *}}|$(get "$c" started_at)|g" \
		-e "s|{{ *\.State\.Status *}}|$(if [ "$(get "$c" running)" = true ]; then echo running; else echo exited; fi)|g" \
		-e "s|{{ *\.RestartCount *}}|$(get "$c" restart_count)|g" \
		-e "s|{{ *\.Name *}}|/$c|g" \
		-e "s|{{ *\.Names *}}|$c|g" \
		-e "s|{{ *\.I[Dd] *}}|$(get "$c" id)|g" \
		-e "s|{{ *\.Config\.Image *}}|$(get "$c" image)|g" \
		-e "s|{{ *\.Image *}}|$(get "$c" image)|g" \
		-e "s|{{ *\.Status *}}|$(status "$c")|g"
}
need_args() {
	[ "$2" -gt 0 ] || { echo "\"docker $1\" requires at least 1 argument." >&2; exit 1; }
}

cmd=$1
[ $# -gt 0 ] && shift
case $cmd in
restart | start | stop)
	while [ $# -gt 0 ]; do
		case $1 in
		-t | --time | -s | --signal) shift 2 ;;
		-t=* | --time=* | -s=* | --signal=* | -a | --attach | -i | --interactive) shift ;;
		--) shift; break ;;
		-*) echo "unknown flag: $1" >&2; exit 125 ;;
		*) break ;;
		esac
	done
	need_args "$cmd" $#
	rc=0
	for c in "$@"; do
		exists "$c" || { rc=1; continue; }
		case $cmd in
		stop) set_field "$c" running false ;;
		*)
			[ "$cmd" = restart ] && printf 'restart %%s %%s\n' "$c" "$(date +%%s)" >> "$log"
			set_field "$c" running true && set_field "$c" started_at "$(now)"
			;;
		esac
		echo "$c"
	done
	exit $rc
	;;
ps)
	format= all=
	while [ $# -gt 0 ]; do
		case $1 in
		-a | --all) all=1 ;;
		-q | --quiet) format='{{.ID}}' ;;
		--format) format=$2; shift ;;
		--format=*) format=${1#--format=} ;;
		--no-trunc) ;;
		*) echo "unknown flag: $1" >&2; exit 125 ;;
		esac
		shift
	done
	[ -n "$format" ] || printf '%%-14s %%-32s %%-12s %%s\n' "CONTAINER ID" IMAGE STATUS NAMES
	for f in "$state"/*; do
		c=${f##*/}
		[ -n "$all" ] || [ "$(get "$c" running)" = true ] || continue
		if [ -n "$format" ]; then
			render "$c" "$format"
		else
			printf '%%-14s %%-32s %%-12s %%s\n' "$(get "$c" id)" "$(get "$c" image)" "$(status "$c")" "$c"
		fi
	done
	;;
inspect)
	format=
	while [ $# -gt 0 ]; do
		case $1 in
		-f | --format) format=$2; shift 2 ;;
		-f=* | --format=*) format=${1#*=}; shift ;;
		--type=* | -s | --size) shift ;;
		--type) shift 2 ;;
		--) shift; break ;;
		-*) echo "unknown flag: $1" >&2; exit 125 ;;
		*) break ;;
		esac
	done
	need_args inspect $#
	rc=0 sep='['
	for c in "$@"; do
		exists "$c" || { rc=1; continue; }
		if [ -n "$format" ]; then
			render "$c" "$format"
			continue
		fi
		printf '%%s\n    {\n        "Id": "%%s",\n        "Name": "/%%s",\n        "RestartCount": %%s,\n        "State": {"Status": "%%s", "Running": %%s, "StartedAt": "%%s"},\n        "Config": {"Image": "%%s"}\n    }' \
			"$sep" "$(get "$c" id)" "$c" "$(get "$c" restart_count)" \
			"$(if [ "$(get "$c" running)" = true ]; then echo running; else echo exited; fi)" \
			"$(get "$c" running)" "$(get "$c" started_at)" "$(get "$c" image)"
		sep=','
	done
	if [ -z "$format" ]; then
		if [ "$sep" = '[' ]; then echo '[]'; else printf '\n]\n'; fi
	fi
	exit $rc
	;;
'' | -h | --help)
	echo "Usage:  docker COMMAND (fake: restart, start, stop, ps, inspect)"
	;;
*)
	echo "docker: '$cmd' is not a docker command." >&2
	exit 1
	;;
esac
`

// writeDocker installs the fake docker for one host: the script in binDir
// and one running container per name in stateDir.
func writeDocker(binDir, stateDir, logFile, host string, containers []string) error {
	for _, d := range []string{binDir, stateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	started := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339Nano)
	for _, c := range containers {
		if c == "" || strings.ContainsAny(c, "/|\n ") || strings.HasPrefix(c, ".") {
			return fmt.Errorf("container name %q is not usable", c)
		}
		sum := sha256.Sum256([]byte(host + "/" + c))
		state := fmt.Sprintf("id=%s\nimage=lancope/%s:latest\nrunning=true\nstarted_at=%s\nrestart_count=0\n",
			hex.EncodeToString(sum[:6]), c, started)
		if err := os.WriteFile(filepath.Join(stateDir, c), []byte(state), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		return err
	}
	script := fmt.Sprintf(dockerScript, shellQuote(stateDir), shellQuote(logFile))
	return os.WriteFile(filepath.Join(binDir, "docker"), []byte(script), 0o755)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
