#!/usr/bin/env bash
# Real Synapse homeservers as local federation peers for Switchboard (used by `npm run test:synapse`).
#
# Synapse is not packaged for Debian stable, so `install` builds a small Debian sid root file system
# with mmdebstrap and installs the matrix-synapse package into it; each homeserver runs chrooted
# there on the host network. Needs root. Once installed, the root is reused (about 400 MB).
#
#   scripts/synapse.sh install                        build the root once; prints the Synapse version
#   scripts/synapse.sh start NAME PORT                homeserver NAME, plain HTTP (client + federation)
#                                                     on 127.0.0.1:PORT; waits until it answers
#   scripts/synapse.sh stop NAME                      stops that homeserver's process group
#   scripts/synapse.sh register NAME PORT USER PASS   registers USER (logs in if taken); prints a token
#   scripts/synapse.sh reset NAME                     stops it and deletes its data (fresh database)
#   scripts/synapse.sh log NAME                       path of its log file
#   scripts/synapse.sh installed                      prints the Synapse version; fails when not installed
#   scripts/synapse.sh resolve HOST                   makes HOST resolve to 127.0.0.1 inside the root
#
# Environment: SYNAPSE_ROOT (default /var/cache/switchboard-synapse), SYNAPSE_MIRROR, SYNAPSE_SUITE
# (sid), SYNAPSE_LOG_LEVEL (WARNING).
#
# Synapse's outbound federation always uses HTTPS to the host and port in the peer's server name, so
# give Switchboard a name with an explicit port (127.0.0.1:11201) and serve it with `HTTPS=true npm
# start`; this config turns certificate checks off and lets Synapse talk to loopback addresses.
# Switchboard reaches Synapse through FEDERATION_HOST_MAP: {"NAME": "http://127.0.0.1:PORT"}.
set -euo pipefail

ROOT=${SYNAPSE_ROOT:-/var/cache/switchboard-synapse}
MIRROR=${SYNAPSE_MIRROR:-http://deb.debian.org/debian}
SUITE=${SYNAPSE_SUITE:-sid}

fail() { echo "synapse.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (mmdebstrap and chroot)"

inside() { chroot "$ROOT" "$@"; }
synapse_version() { inside python3 -c 'import synapse; print(synapse.__version__)'; }
is_installed() { [ -x "$ROOT/usr/bin/python3" ] && synapse_version >/dev/null 2>&1; }
require_installed() { is_installed || fail "Synapse is not installed under $ROOT; run '$0 install'"; }
valid_name() { [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$ ]] || fail "invalid server name '$1'"; }
valid_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)) || fail "invalid port '$1'"; }
running() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]; }
responds() { inside python3 -c "import urllib.request as r; r.urlopen('http://127.0.0.1:$1$2', timeout=2)" 2>/dev/null; }
# Only a process group we started: its leader runs chrooted in ROOT with NAME's data directory.
ours() {
  running "$1" && [ "$(readlink -f "/proc/$1/root")" = "$(readlink -f "$ROOT")" ] &&
    tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "/srv/$2/" &&
    [ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f3)" = "$1" ]
}

install() {
  if is_installed; then echo "Synapse is installed in $ROOT"; synapse_version; return; fi
  if [ -e "$ROOT" ] && [ -n "$(ls -A "$ROOT")" ]; then fail "$ROOT exists without a working Synapse; delete it first"; fi
  command -v mmdebstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap; }
  # Built beside the target and renamed at the end, so an interrupted run never looks installed.
  local work="$ROOT.building" started=$SECONDS
  rm -rf --one-file-system "$work"
  mkdir -p "$(dirname "$ROOT")"
  # A mirror snapshot may serve a sid Release file past its Valid-Until date.
  mmdebstrap --variant=apt --include=matrix-synapse \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' "$SUITE" "$work" "$MIRROR"
  [ ! -d "$ROOT" ] || rmdir "$ROOT"
  mv "$work" "$ROOT"
  mkdir -p "$ROOT/srv"
  is_installed || fail "installed, but Python cannot import synapse in $ROOT"
  echo "installed in $((SECONDS - started)) s ($(du -sh --one-file-system "$ROOT" | cut -f1))"
  synapse_version
}

write_overrides() { # $1 data dir on the host, $2 the same inside the root, $3 port
  cat >"$1/log.yaml" <<EOF
version: 1
formatters: {plain: {format: '%(asctime)s %(levelname)s %(name)s %(request)s: %(message)s'}}
handlers: {stderr: {class: logging.StreamHandler, formatter: plain}}
root: {level: ${SYNAPSE_LOG_LEVEL:-WARNING}, handlers: [stderr]}
disable_existing_loggers: false
EOF
  # Later -c files override top-level keys of earlier ones; this one is rewritten on every start.
  local limit='{per_second: 10000, burst_count: 100000}'
  cat >"$1/local.yaml" <<EOF
log_config: $2/log.yaml
listeners:
  - port: $3
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources: [{names: [client, federation], compress: false}]
enable_registration: true
enable_registration_without_verification: true
report_stats: false
suppress_key_server_warning: true
trusted_key_servers: []
# Local peers use self-signed certificates on loopback addresses.
federation_verify_certificates: false
ip_range_whitelist: ['127.0.0.0/8', '::1/128']
federation_ip_range_blacklist: []
# Tests restart peers; Synapse's default back-off would wait minutes before retrying one.
federation:
  destination_min_retry_interval: 1s
  destination_max_retry_interval: 5s
  max_short_retry_delay: 1s
  max_long_retry_delay: 5s
  client_timeout: 20s
federation_rr_transactions_per_room_per_second: 10000
rc_message: $limit
rc_registration: $limit
rc_login: {address: $limit, account: $limit, failed_attempts: $limit}
rc_joins: {local: $limit, remote: $limit}
rc_joins_per_room: $limit
rc_invites: {per_room: $limit, per_user: $limit, per_issuer: $limit}
rc_key_requests: $limit
rc_presence: {per_user: $limit}
rc_room_creation: $limit
rc_federation: {window_size: 1000, sleep_limit: 100000, sleep_delay: 1, reject_limit: 100000, concurrent: 1000}
EOF
}

resolve() {
  local host=${1:?usage: resolve HOST}; valid_name "$host"; require_installed
  if ! [[ $host =~ ^[0-9.]+$ ]] && ! grep -qxF "127.0.0.1 $host" "$ROOT/etc/hosts"; then
    echo "127.0.0.1 $host" >>"$ROOT/etc/hosts"
  fi
}

start() {
  local name=${1:?usage: start NAME PORT} port=${2:?usage: start NAME PORT}
  valid_name "$name"; valid_port "$port"; require_installed
  local dir="$ROOT/srv/$name" in="/srv/$name"
  local pidfile="$dir/synapse.pid" log="$dir/homeserver.log" host=${name%:*}
  # A hostname in a server name must resolve inside the root (other Synapses there reach it by name).
  resolve "$host"
  if [ -f "$pidfile" ] && ours "$(cat "$pidfile")" "$name"; then
    responds "$port" /_matrix/client/versions || fail "$name runs on another port; stop it first"
    echo "$pidfile"; return
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port is taken"; fi
  mkdir -p "$dir"
  if [ ! -f "$dir/homeserver.yaml" ]; then # first start: signing key, secrets, sqlite database path
    inside python3 -m synapse.app.homeserver --server-name "$name" --config-path "$in/homeserver.yaml" \
      --generate-config --report-stats=no --data-directory "$in" >/dev/null
  fi
  write_overrides "$dir" "$in" "$port"
  echo "--- $(date -u +%FT%TZ) start $name on $port" >>"$log"
  # setsid: the PID is the process group to stop later. The private mount namespace holds /proc for
  # the chroot and disappears with the process, so nothing stays mounted under ROOT.
  setsid unshare --mount --propagation private -- sh -c 'mount -t proc proc "$0/proc" &&
    exec chroot "$0" python3 -m synapse.app.homeserver -c "$1/homeserver.yaml" -c "$1/local.yaml"' \
    "$ROOT" "$in" >>"$log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pidfile"
  for _ in $(seq 1 240); do
    running "$pid" || { tail -n 30 "$log" >&2; rm -f "$pidfile"; fail "$name exited while starting (log: $log)"; }
    if responds "$port" /_matrix/client/versions; then echo "$pidfile"; return; fi
    sleep 0.25
  done
  fail "$name (pid $pid) did not answer on port $port within 60 s; it still runs (log: $log)"
}

stop() {
  local name=${1:?usage: stop NAME}; valid_name "$name"
  local pidfile="$ROOT/srv/$name/synapse.pid" pid
  [ -f "$pidfile" ] || { echo "$name is not running"; return; }
  pid=$(cat "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || fail "$pidfile does not hold a PID"
  if ! ours "$pid" "$name"; then rm -f "$pidfile"; echo "$name is not running"; return; fi
  kill -TERM -- "-$pid"
  for _ in $(seq 1 80); do running "$pid" || break; sleep 0.25; done
  if running "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
  echo "stopped $name"
}

reset() {
  local name=${1:?usage: reset NAME}; valid_name "$name"
  stop "$name" >/dev/null
  rm -rf --one-file-system "${ROOT:?}/srv/$name"
}

register() {
  local name=${1:?usage: register NAME PORT USER PASS} port=${2:?} user=${3:?} pass=${4:?}
  valid_name "$name"; valid_port "$port"; require_installed
  inside python3 - "$name" "$port" "$user" "$pass" <<'PY'
import json, sys, urllib.error, urllib.request
name, port, user, password = sys.argv[1:5]
base = f"http://127.0.0.1:{port}"
with urllib.request.urlopen(f"{base}/_matrix/key/v2/server", timeout=30) as res:
    if json.load(res)["server_name"] != name:  # never create accounts on another server by mistake
        sys.exit(f"port {port} is not {name}")
def post(path, body):
    req = urllib.request.Request(base + "/_matrix/client/v3" + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)
status, body = post("/register", {"username": user, "password": password, "auth": {"type": "m.login.dummy"}})
if status == 400 and body.get("errcode") == "M_USER_IN_USE":
    status, body = post("/login", {"type": "m.login.password", "password": password,
                                   "identifier": {"type": "m.id.user", "user": user}})
if status != 200 or "access_token" not in body:
    sys.exit(f"registering {user} failed: {status} {body}")
print(body["access_token"])
PY
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  reset) shift; reset "$@" ;;
  register) shift; register "$@" ;;
  installed) require_installed; synapse_version ;;
  resolve) shift; resolve "$@" ;;
  log) valid_name "${2:?usage: log NAME}"; echo "$ROOT/srv/$2/homeserver.log" ;;
  *) fail "usage: $0 install | installed | start NAME PORT | stop NAME | reset NAME | register NAME PORT USER PASS | log NAME | resolve HOST" ;;
esac
