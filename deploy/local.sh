#!/usr/bin/env bash
# GenLab for a class, on this machine: N app replicas on loopback behind Debian's nginx.
#
#   deploy/local.sh N [--port 8501]      then open http://127.0.0.1:8501 (Ctrl+C stops it all)
#
# nginx runs unprivileged with every path (config, pid, logs, temp files) in a fresh temp dir
# and keeps each browser on one replica: on the first response it sets its own cookie
# `genlab_route` (a random id) and hashes on it (`hash $route consistent`), because media files
# and uploads are plain HTTP requests that must reach the replica holding the session.
# Websockets get the upgrade headers and an hour of read timeout. If a replica dies, its
# browsers' requests go on to the next live replica on the hash ring (one for each route, so
# a session's websocket and media stay together); the page reconnects, runs again there and
# says so (ui/reconnect.py). A dead replica is not restarted here.
#
# Environment: GENLAB_MAX_TRAINERS (GANs training at once per replica, default 4 here),
# PYTHON (default: the clone's .venv/bin/python, else python3), NGINX (default /usr/sbin/nginx).
# The replicas' ports, pids and the temp dir are written to $GENLAB_LOCAL_STATE if set.
set -euo pipefail

usage() { echo "usage: deploy/local.sh N [--port PORT]   (N replicas, 1-16; PORT default 8501)" >&2; exit 2; }
[ $# -ge 1 ] || usage
N=$1; shift
PORT=8501
while [ $# -gt 0 ]; do
  case $1 in
    --port) [ $# -ge 2 ] || usage; PORT=$2; shift 2 ;;
    *) echo "local.sh: unknown option $1" >&2; usage ;;
  esac
done
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 16 ] || { echo "local.sh: N must be 1-16, got $N" >&2; exit 2; }
[[ $PORT =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1024 ] && [ "$PORT" -le $((65535 - N)) ] || { echo "local.sh: PORT must be 1024-$((65535 - N)), got $PORT" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || { echo "local.sh: no nginx at $NGINX (sudo apt-get install nginx)" >&2; exit 1; }
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON=$ROOT/.venv/bin/python; else PYTHON=python3; fi
fi
export GENLAB_MAX_TRAINERS=${GENLAB_MAX_TRAINERS:-4}
# Two malloc arenas, not one per training thread: 10 GAN tabs on one server held 1,183 MiB
# (1,480-1,560 with glibc's default) and 1,068 MiB once closed (1,390-1,440), 2026-12-07.
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
# One cookie secret for every replica: Streamlit's upload (XSRF) cookie then stays valid when
# a browser moves to another replica because its own died.
export STREAMLIT_SERVER_COOKIE_SECRET=${STREAMLIT_SERVER_COOKIE_SECRET:-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/genlab-local.XXXXXX")
mkdir -p "$TMP"/{client_body,proxy,fastcgi,uwsgi,scgi}
PIDS=()
cleanup() {
  trap - EXIT INT TERM
  [ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SERVERS=""
: > "$TMP/replicas"
for i in $(seq 1 "$N"); do
  port=$((PORT + i))
  (cd "$ROOT" && exec "$PYTHON" -m genlib.cli run --port "$port" --address 127.0.0.1 \
      --server.headless true --server.fileWatcherType none --browser.gatherUsageStats false) \
      > "$TMP/replica$i.log" 2>&1 &
  PIDS+=($!)
  echo "$i $port $!" >> "$TMP/replicas"
  SERVERS+="    server 127.0.0.1:$port max_fails=1 fail_timeout=10s;"$'\n'
done

cat > "$TMP/nginx.conf" <<CONF
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/error.log warn;
events { worker_connections 4096; }
http {
    log_format routed '\$remote_addr "\$request" \$status route=\$route upstream=\$upstream_addr';
    access_log $TMP/access.log routed;
    client_body_temp_path $TMP/client_body;
    proxy_temp_path $TMP/proxy;
    fastcgi_temp_path $TMP/fastcgi;
    uwsgi_temp_path $TMP/uwsgi;
    scgi_temp_path $TMP/scgi;
    client_max_body_size 100m;  # the app's server.maxUploadSize

    # the browser's route: its cookie, or a new random id (sent back as the cookie below)
    map \$cookie_genlab_route \$route {
        ""      \$request_id;
        default \$cookie_genlab_route;
    }
    map \$cookie_genlab_route \$route_cookie {
        ""      "genlab_route=\$request_id; Path=/; HttpOnly; SameSite=Lax";
        default "";
    }
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ""      close;
    }
    upstream genlab {
        hash \$route consistent;
$SERVERS    }
    server {
        listen 127.0.0.1:$PORT;
        location / {
            proxy_pass http://genlab;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            # a dead replica: the request (websocket upgrade, health probe, media) goes on to
            # the next live one on the hash ring, the same one for every request of a route;
            # a hung one is given up on after 5 s, not nginx's default 60
            proxy_connect_timeout 5s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            add_header Set-Cookie \$route_cookie always;
            add_header X-GenLab-Replica \$upstream_addr always;
        }
    }
}
CONF

"$NGINX" -t -q -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/error.log"

for i in $(seq 1 "$N"); do  # every replica healthy before the door opens
  port=$((PORT + i))
  for _ in $(seq 1 300); do
    if ! kill -0 "${PIDS[$((i - 1))]}" 2>/dev/null; then
      echo "local.sh: replica $i exited:" >&2; tail -20 "$TMP/replica$i.log" >&2; exit 1
    fi
    [ "$("$PYTHON" -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$port/_stcore/health', timeout=1).read().decode())" 2>/dev/null)" = ok ] && break
    sleep 0.2
  done
done

"$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/error.log" -g "daemon off;" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
[ -n "${GENLAB_LOCAL_STATE:-}" ] && { cp "$TMP/replicas" "$GENLAB_LOCAL_STATE.tmp"; echo "tmp $TMP" >> "$GENLAB_LOCAL_STATE.tmp"; mv "$GENLAB_LOCAL_STATE.tmp" "$GENLAB_LOCAL_STATE"; }
while read -r i port pid; do echo "replica $i: http://127.0.0.1:$port (pid $pid)"; done < "$TMP/replicas"
echo "GenLab on http://127.0.0.1:$PORT (nginx, $N replicas, cookie affinity; logs in $TMP; Ctrl+C stops)"
wait "$NGINX_PID" || true  # a replica may die: the others go on serving; nginx ending stops all
