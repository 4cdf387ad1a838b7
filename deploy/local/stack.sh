#!/usr/bin/env bash
# Local stack for mailbill without Docker: PostgreSQL 15 (Debian's packages) and a single-node
# Apache Kafka 3.9 in KRaft mode (jars from Maven Central via deploy/local/kafka/pom.xml).
#
#   deploy/local/stack.sh up        start what is not running, wait until both accept work
#   deploy/local/stack.sh down      stop what this script started (pid files in the state dir)
#   deploy/local/stack.sh status    exit 0 when both run, 1 otherwise
#   deploy/local/stack.sh logs-dir  print the directory holding postgres.log and kafka.log
#   deploy/local/stack.sh promtool  print the path of a promtool (unpacked from Debian's
#                                   prometheus package into the state dir when none is on PATH)
#   deploy/local/stack.sh kill-kafka               SIGKILL the broker, as a crash would (fault tests)
#   deploy/local/stack.sh stop-postgres-immediate  pg_ctl stop -m immediate: no checkpoint, crash
#                                                  recovery on the next start (fault tests)
#   ('up' starts again whatever of the two is not running)
#
# Environment:
#   MAILBILL_STATE_DIR              default <repo>/.local (data dirs, jars, pid files, logs); any
#                                   directory works: when the postgres OS user cannot reach it
#                                   (a clone under /root, a mode-700 home, mktemp -d), PostgreSQL's
#                                   data goes to /var/lib/mailbill/<hash of the state dir>/postgres
#                                   and <state dir>/postgres is a symlink to it
#   MAILBILL_PG_PORT                default 5432 (PostgreSQL on 127.0.0.1)
#   MAILBILL_KAFKA_PORT             default 9092 (Kafka client listener on 127.0.0.1)
#   MAILBILL_KAFKA_CONTROLLER_PORT  default MAILBILL_KAFKA_PORT + 1 (KRaft controller listener)
#
# What it provides: role mailbill / password mailbill (CREATEDB), databases pricing, ledger, payments
# owned by it; Kafka at 127.0.0.1:9092 with auto topic creation off.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)

PG_PORT=${MAILBILL_PG_PORT:-5432}
KAFKA_PORT=${MAILBILL_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${MAILBILL_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
PG_USER=mailbill
PG_PASSWORD=mailbill
PG_DATABASES=(pricing ledger payments)
PG_MAJOR_WANTED=15
KAFKA_HEAP=(-Xms512m -Xmx512m)
KAFKA_READY_TIMEOUT=90
KAFKA_STOP_TIMEOUT=30
PG_READY_TIMEOUT=60
# Where PostgreSQL's data goes when the postgres OS user cannot reach the state dir (as root).
PG_OUTSIDE_ROOT=/var/lib/mailbill
PYTHON=$REPO/.venv/bin/python

# ------------------------------------------------------------------------------------------
# Output helpers
# ------------------------------------------------------------------------------------------
say() { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] WARNING: %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# Print the last lines of a log so a failure explains itself without a second command.
show_tail() {
  local file=$1 lines=${2:-40}
  if [[ -s $file ]]; then
    printf '[stack] ---- last %s lines of %s ----\n' "$lines" "$file" >&2
    tail -n "$lines" -- "$file" >&2 || true
    printf '[stack] ---- end of %s ----\n' "$file" >&2
  fi
}

# ------------------------------------------------------------------------------------------
# Paths (the state dir is made absolute: pg_ctl and the JVM run with other working dirs)
# ------------------------------------------------------------------------------------------
resolve_state_dir() {
  local dir=${MAILBILL_STATE_DIR:-$REPO/.local}
  mkdir -p -- "$dir"
  STATE=$(cd -- "$dir" && pwd -P)
  LOG_DIR=$STATE/logs
  resolve_pg_dir
  PGDATA=$PG_DIR/data
  PG_LOG=$LOG_DIR/postgres.log
  KAFKA_DIR=$STATE/kafka
  KAFKA_LIBS=$KAFKA_DIR/libs
  KAFKA_DATA=$KAFKA_DIR/data
  KAFKA_PROPS=$KAFKA_DIR/server.properties
  KAFKA_CLUSTER_ID_FILE=$KAFKA_DIR/cluster.id
  KAFKA_PID_FILE=$STATE/kafka.pid
  KAFKA_LOG=$LOG_DIR/kafka.log
  # stdout/stderr of the JVM: empty unless the JVM dies before log4j is up (bad classpath...).
  KAFKA_OUT=$LOG_DIR/kafka.out
  # A unix socket path is limited to 107 bytes; a repo cloned deep down would break PostgreSQL.
  PG_SOCKET_DIR=$PG_DIR/run
  if (( ${#PG_SOCKET_DIR} + ${#PG_PORT} + 10 > 100 )); then
    PG_SOCKET_DIR=/tmp/mailbill-pg-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)
  fi
}

# PostgreSQL runs as the postgres OS user (when we are root), so its data dir must be reachable
# by that user: every parent traversable. A clone under /root, in a mode-700 home or in a
# `mktemp -d` dir is not; then the cluster lives in PG_OUTSIDE_ROOT/<hash of the state dir>, a
# path derived from the state dir alone, so that down, status and the next up find it again,
# and <state>/postgres is a symlink to it (which keeps pointing there whatever happens to the
# permissions later). Kafka, the logs and the pid files stay in the state dir.
resolve_pg_dir() {
  PG_DIR=$STATE/postgres
  PG_OUTSIDE=""
  if [[ -L $PG_DIR ]]; then
    PG_DIR=$(readlink -m -- "$PG_DIR")
    PG_OUTSIDE=1
  elif (( EUID == 0 )) && id -u postgres >/dev/null 2>&1 && [[ ! -e $PG_DIR/data/PG_VERSION ]] &&
      ! (cd / && runuser -u postgres -- test -x "$STATE") 2>/dev/null; then
    PG_DIR=$PG_OUTSIDE_ROOT/$(printf '%s' "$STATE" | sha256sum | cut -c1-16)/postgres
    PG_OUTSIDE=1
  fi
}

# The dir outside the state dir: made reachable by postgres, with a note naming the state dir
# it belongs to; <state>/postgres becomes the symlink to it. A leftover <state>/postgres that
# holds no cluster (the empty socket dir of a start that failed before this existed) is
# removed; anything else in the way is left alone and reported.
pg_prepare_outside() {
  local link=$STATE/postgres parent
  parent=$(dirname -- "$PG_DIR")
  mkdir -p -- "$parent"
  if [[ $parent == "$PG_OUTSIDE_ROOT"/* ]]; then
    chmod 0755 -- "$PG_OUTSIDE_ROOT" "$parent"
    printf '%s\n' "$STATE" >"$parent/state-dir"
  fi
  if [[ ! -L $link ]]; then
    if [[ -e $link ]]; then
      rmdir -- "$link/run" 2>/dev/null || true
      rmdir -- "$link" 2>/dev/null ||
        die "$link is in the way (the postgres OS user cannot reach $STATE, so PostgreSQL's data goes to $PG_DIR); move it away and retry"
    fi
    ln -s -- "$PG_DIR" "$link"
    say "the postgres OS user cannot reach $STATE: PostgreSQL's data goes to $PG_DIR ($link links to it)"
  fi
}

# ------------------------------------------------------------------------------------------
# Processes and ports
# ------------------------------------------------------------------------------------------
# True when pid runs and is not a zombie (a zombie answers kill -0 but serves nothing; in
# containers whose PID 1 does not reap, a killed JVM can stay one).
pid_alive() {
  local pid=$1 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# True when something accepts TCP connections on 127.0.0.1:port.
port_open() {
  # shellcheck disable=SC2016 # $1 is expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Who listens on a port, for error messages.
port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" 2>/dev/null | sed 's/^/    /' || true
  fi
}

fail_port_taken() {
  local port=$1 what=$2
  {
    printf '[stack] ERROR: port 127.0.0.1:%s (%s) is already in use by a process this stack did not start.\n' "$port" "$what"
    port_owner "$port"
    printf '[stack] Stop that process, or choose another port (MAILBILL_PG_PORT, MAILBILL_KAFKA_PORT).\n'
  } >&2
  exit 1
}

# Run a PostgreSQL binary as the postgres OS user (initdb refuses root). From / so that it does
# not complain about a working directory it cannot read (e.g. /root). A non-root caller runs
# PostgreSQL as itself. fd 9 (the state lock, see lock_state) is closed: a postmaster that
# inherited it would hold the lock for its whole life.
as_pg() {
  if (( EUID == 0 )); then
    (cd / && runuser -u postgres -- "$@") 9>&-
  else
    (cd / && "$@") 9>&-
  fi
}

# ------------------------------------------------------------------------------------------
# Prerequisites
# ------------------------------------------------------------------------------------------
apt_install() {
  (( EUID == 0 )) || die "missing packages: $*; install them (apt-get install $*) or run as root"
  say "installing Debian packages: $* (apt-get update first)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

find_pg_bin() {
  local version=""
  # A data dir belongs to one major version; use that one if it exists.
  [[ -s $PGDATA/PG_VERSION ]] && version=$(cat "$PGDATA/PG_VERSION")
  [[ -z $version && -x /usr/lib/postgresql/$PG_MAJOR_WANTED/bin/initdb ]] && version=$PG_MAJOR_WANTED
  if [[ -z $version ]]; then
    local candidate
    for candidate in /usr/lib/postgresql/*/bin/initdb; do
      [[ -x $candidate ]] || continue
      candidate=${candidate#/usr/lib/postgresql/}
      candidate=${candidate%%/*}
      [[ $candidate =~ ^[0-9]+$ ]] || continue
      if [[ -z $version ]] || (( candidate > version )); then version=$candidate; fi
    done
  fi
  PG_BIN=/usr/lib/postgresql/$version/bin
  [[ -n $version && -x $PG_BIN/initdb ]]
}

java_cmd() {
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then echo "$JAVA_HOME/bin/java"; else echo java; fi
}

ensure_prerequisites() {
  local missing=()
  resolve_state_dir
  find_pg_bin || missing+=(postgresql)
  command -v "$(java_cmd)" >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  if ((${#missing[@]})); then
    apt_install "${missing[@]}"
    resolve_state_dir # the postgres OS user may have just come with PostgreSQL
    find_pg_bin || die "PostgreSQL binaries still missing under /usr/lib/postgresql/*/bin"
  fi
  [[ -x $PYTHON ]] || die "$PYTHON not found: create the venv first (uv sync --frozen)"
}

# ------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------
# pg_ctl status alone is not enough: it only does kill -0 on the pid in postmaster.pid, and a
# killed postmaster stays a zombie until PID 1 reaps it (seconds, in some containers).
pg_running() {
  [[ -n ${PG_BIN:-} && -s $PGDATA/PG_VERSION ]] || return 1
  pid_alive "$(head -n1 "$PGDATA/postmaster.pid" 2>/dev/null)" || return 1
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

# After a crash (kill -9) the dead postmaster's pid and its orphaned children linger for a
# moment; PostgreSQL refuses to start while its old lock file or shared memory look in use.
pg_wait_old_gone() {
  local pid deadline=$((SECONDS + 30))
  pid=$(head -n1 "$PGDATA/postmaster.pid" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  while [[ -e /proc/$pid ]] && (( SECONDS < deadline )); do
    sleep 0.2
  done
}

# Port of the running server, from postmaster.pid (line 4).
pg_running_port() {
  sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null || true
}

pg_prepare() {
  mkdir -p -- "$LOG_DIR"
  [[ -z $PG_OUTSIDE ]] || pg_prepare_outside
  mkdir -p -- "$PG_DIR" "$PG_SOCKET_DIR"
  touch -- "$PG_LOG"
  if (( EUID == 0 )); then
    # The server runs as postgres: it needs its dirs, nothing else of ours (its log is opened
    # by this script, see pg_start, so it may be in a dir postgres cannot reach).
    chown postgres:postgres -- "$PG_DIR" "$PG_SOCKET_DIR"
    if ! (cd / && runuser -u postgres -- test -x "$PG_DIR"); then
      [[ -n $PG_OUTSIDE ]] || die "the postgres OS user cannot reach $PG_DIR, which holds a cluster made when it could; make its parents traversable again (chmod o+x), or move $PG_DIR away and a new cluster will be made outside the state dir"
      die "the postgres OS user cannot reach $PG_DIR (a parent directory is not traversable by it)"
    fi
  fi
  chmod 0700 -- "$PG_DIR" "$PG_SOCKET_DIR"

  if [[ ! -s $PGDATA/PG_VERSION ]]; then
    if [[ -d $PGDATA ]] && [[ -n $(ls -A -- "$PGDATA") ]]; then
      die "$PGDATA exists but is not a PostgreSQL data dir (interrupted initdb?); remove it and retry"
    fi
    say "initdb: $PGDATA ($("$PG_BIN/postgres" --version))"
    # Local (socket) connections: trust, but the socket itself is 0700 (see mailbill.conf), so
    # only the server's OS user and root reach it. TCP: SCRAM passwords, like production.
    as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >>"$PG_LOG" 2>&1 ||
      { show_tail "$PG_LOG"; die "initdb failed"; }
    # Our settings live in their own file, rewritten at each start (ports may change).
    printf "\n# Settings of deploy/local/stack.sh, rewritten at each start.\ninclude_if_exists = 'mailbill.conf'\n" |
      as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
  fi

  as_pg tee "$PGDATA/mailbill.conf" >/dev/null <<EOF
# Written by deploy/local/stack.sh at each start; edit the script, not this file.
listen_addresses = '127.0.0.1'
port = $PG_PORT
# Socket in the state dir, not /var/run/postgresql: no clash with a system cluster, no root dir.
unix_socket_directories = '$PG_SOCKET_DIR'
unix_socket_permissions = 0700
max_connections = 200
# Crash tests kill -9 the server and expect every acknowledged commit back: keep durability on.
# (synchronous_commit = off would lose commits still in WAL buffers when the server dies.)
fsync = on
synchronous_commit = on
full_page_writes = on
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

pg_start() {
  if port_open "$PG_PORT"; then
    fail_port_taken "$PG_PORT" "PostgreSQL"
  fi
  pg_wait_old_gone
  say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  # pg_ctl detaches the postmaster (setsid) and waits until it accepts connections. A few
  # tries: right after a crash, orphaned backends may still hold the old shared memory.
  local _try
  for _try in 1 2 3 4 5; do
    # No -l: pg_ctl would open the log as postgres. The server inherits this script's stdout
    # and stderr instead, opened here, so postgres.log stays in the state dir in every case.
    if as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -w -t "$PG_READY_TIMEOUT" start >>"$PG_LOG" 2>&1; then
      return 0
    fi
    tail -n 5 -- "$PG_LOG" | grep -qE 'still in use|lock file .* already exists' || break
    say "old PostgreSQL processes still shutting down; retrying in 2s"
    sleep 2
  done
  show_tail "$PG_LOG"
  die "PostgreSQL did not start (log: $PG_LOG)"
}

# Role and databases, idempotent: safe to run on every start.
pg_provision() {
  local sql="" db
  sql+="SELECT 'CREATE ROLE $PG_USER' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER')"$'\n\\gexec\n'
  sql+="ALTER ROLE $PG_USER WITH LOGIN CREATEDB PASSWORD '$PG_PASSWORD';"$'\n'
  for db in "${PG_DATABASES[@]}"; do
    sql+="SELECT 'CREATE DATABASE $db OWNER $PG_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')"$'\n\\gexec\n'
    sql+="ALTER DATABASE $db OWNER TO $PG_USER;"$'\n'
  done
  printf '%s' "$sql" |
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres -f - >/dev/null ||
    die "could not create role $PG_USER and databases ${PG_DATABASES[*]}"
}

# Ready = the application's own path works: TCP, password auth, each database.
pg_wait_ready() {
  local deadline=$((SECONDS + PG_READY_TIMEOUT)) db
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres; do
    (( SECONDS < deadline )) || { show_tail "$PG_LOG"; die "PostgreSQL not answering on 127.0.0.1:$PG_PORT"; }
    sleep 0.2
  done
  pg_provision
  for db in "${PG_DATABASES[@]}"; do
    PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -w -qAt -h 127.0.0.1 -p "$PG_PORT" \
      -U "$PG_USER" -d "$db" -c 'SELECT 1' >/dev/null ||
      { show_tail "$PG_LOG"; die "cannot query database $db as $PG_USER over TCP"; }
  done
  local IFS=,
  say "PostgreSQL ready: postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/{${PG_DATABASES[*]}}"
}

pg_up() {
  if pg_running; then
    local port
    port=$(pg_running_port)
    [[ $port == "$PG_PORT" ]] ||
      die "our PostgreSQL already runs on port $port, not $PG_PORT; run '$0 down' first"
    say "PostgreSQL already running (pid $(head -n1 "$PGDATA/postmaster.pid"))"
  else
    pg_prepare
    pg_start
  fi
  pg_wait_ready
}

pg_down() {
  if pg_running; then
    say "stopping PostgreSQL (pid $(head -n1 "$PGDATA/postmaster.pid"))"
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null ||
      { show_tail "$PG_LOG"; die "pg_ctl stop failed"; }
  else
    say "PostgreSQL not running"
  fi
}

# ------------------------------------------------------------------------------------------
# Kafka
# ------------------------------------------------------------------------------------------
kafka_pid() {
  cat "$KAFKA_PID_FILE" 2>/dev/null || true
}

# Ours = the pid in our pid file is alive and is a kafka.Kafka JVM reading our config
# (guards against a recycled pid after a reboot or a lost stop).
kafka_running() {
  local pid
  pid=$(kafka_pid)
  pid_alive "$pid" || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF kafka.Kafka || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$KAFKA_PROPS"
}

# Copy the broker's jars from the local Maven repo (~/.m2 caches downloads). Redone when the
# pom changes, e.g. a Kafka upgrade; copied to a temp dir first so an interrupted copy never
# looks like a complete libs dir.
kafka_ensure_libs() {
  local pom=$SCRIPT_DIR/kafka/pom.xml stamp want
  want=$(sha256sum <"$pom" | cut -d' ' -f1)
  stamp=$(cat "$KAFKA_LIBS/.pom.sha256" 2>/dev/null || true)
  if compgen -G "$KAFKA_LIBS/*.jar" >/dev/null && [[ $stamp == "$want" ]]; then
    return 0
  fi
  say "resolving Kafka jars with Maven (first run downloads ~50 MB into ~/.m2)"
  local tmp=$KAFKA_DIR/libs.tmp.$$
  rm -rf -- "$tmp"
  local mvn_log=$LOG_DIR/mvn.log
  if ! mvn -B -q -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1 9>&-; then
    rm -rf -- "$tmp"
    show_tail "$mvn_log"
    die "mvn could not resolve the Kafka jars (log: $mvn_log)"
  fi
  printf '%s\n' "$want" >"$tmp/.pom.sha256"
  rm -rf -- "$KAFKA_LIBS"
  mv -- "$tmp" "$KAFKA_LIBS"
}

kafka_java() {
  "$(java_cmd)" -cp "$KAFKA_LIBS/*" \
    -Dkafka.logs.dir="$LOG_DIR" \
    -Dlog4j.configuration="file:$SCRIPT_DIR/kafka/log4j.properties" \
    "$@"
}

kafka_prepare() {
  mkdir -p -- "$KAFKA_DIR" "$KAFKA_DATA" "$LOG_DIR"
  kafka_ensure_libs
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@DATA_DIR@|$KAFKA_DATA|g" \
      "$SCRIPT_DIR/kafka/server.properties" >"$KAFKA_PROPS"

  # KRaft needs its storage formatted once with a cluster id; the id is kept so that a later
  # format (e.g. after the data dir was wiped) does not mix ids.
  if [[ ! -s $KAFKA_DATA/meta.properties ]]; then
    if [[ ! -s $KAFKA_CLUSTER_ID_FILE ]]; then
      kafka_java kafka.tools.StorageTool random-uuid >"$KAFKA_CLUSTER_ID_FILE.tmp" 2>>"$KAFKA_OUT" ||
        { show_tail "$KAFKA_OUT"; die "kafka.tools.StorageTool random-uuid failed"; }
      mv -- "$KAFKA_CLUSTER_ID_FILE.tmp" "$KAFKA_CLUSTER_ID_FILE"
    fi
    say "formatting Kafka storage (cluster id $(cat "$KAFKA_CLUSTER_ID_FILE"))"
    kafka_java kafka.tools.StorageTool format -t "$(cat "$KAFKA_CLUSTER_ID_FILE")" -c "$KAFKA_PROPS" \
      --ignore-formatted >>"$KAFKA_OUT" 2>&1 ||
      { show_tail "$KAFKA_OUT"; die "kafka.tools.StorageTool format failed"; }
  fi
}

kafka_start() {
  local port
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$port"; then
      fail_port_taken "$port" "Kafka"
    fi
  done
  say "starting Kafka on 127.0.0.1:$KAFKA_PORT (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)"
  rm -f -- "$KAFKA_PID_FILE"
  # setsid + nohup: own session, immune to the hangup of the calling shell or terminal.
  # The inner bash writes its own pid and then execs the JVM, so the pid file holds the
  # JVM's pid whatever setsid did (it forks when the caller leads a process group).
  # shellcheck disable=SC2016 # $$, $1 and $@ belong to the inner bash
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$KAFKA_PID_FILE" \
    "$(java_cmd)" "${KAFKA_HEAP[@]}" \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dkafka.logs.dir="$LOG_DIR" \
    -Dlog4j.configuration="file:$SCRIPT_DIR/kafka/log4j.properties" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
    </dev/null >>"$KAFKA_OUT" 2>&1 9>&- &
  local deadline=$((SECONDS + 10))
  until [[ -s $KAFKA_PID_FILE ]]; do
    (( SECONDS < deadline )) || die "Kafka launcher did not write $KAFKA_PID_FILE"
    sleep 0.05
  done
}

kafka_wait_ready() {
  local pid
  pid=$(kafka_pid)
  if ! "$PYTHON" "$SCRIPT_DIR/wait_kafka.py" --bootstrap "127.0.0.1:$KAFKA_PORT" \
      --timeout "$KAFKA_READY_TIMEOUT" --pid "$pid" --quiet; then
    show_tail "$KAFKA_OUT" 20
    show_tail "$KAFKA_LOG" 60
    pid_alive "$pid" && warn "Kafka (pid $pid) still runs; '$0 down' stops it"
    die "Kafka did not become ready (logs: $KAFKA_LOG, $KAFKA_OUT)"
  fi
  say "Kafka ready: 127.0.0.1:$KAFKA_PORT (pid $pid)"
}

kafka_up() {
  if kafka_running; then
    grep -q "^listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT," "$KAFKA_PROPS" ||
      die "our Kafka already runs with other ports ($(grep '^listeners=' "$KAFKA_PROPS")); run '$0 down' first"
    say "Kafka already running (pid $(kafka_pid))"
  else
    kafka_prepare
    kafka_start
  fi
  kafka_wait_ready
}

kafka_down() {
  local pid
  pid=$(kafka_pid)
  if ! kafka_running; then
    say "Kafka not running"
    rm -f -- "$KAFKA_PID_FILE"
    return 0
  fi
  say "stopping Kafka (pid $pid)"
  # SIGTERM = controlled shutdown: the broker closes its logs cleanly, so the next start does
  # not run log recovery.
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  while pid_alive "$pid" && (( SECONDS < deadline )); do
    sleep 0.2
  done
  if pid_alive "$pid"; then
    warn "Kafka did not exit within ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while pid_alive "$pid" && (( SECONDS < deadline )); do sleep 0.1; done
    pid_alive "$pid" && die "Kafka (pid $pid) survived SIGKILL"
  fi
  rm -f -- "$KAFKA_PID_FILE"
}

# ------------------------------------------------------------------------------------------
# promtool (checks and unit-tests deploy/monitoring's alert rules)
# ------------------------------------------------------------------------------------------
# Debian's prometheus package ships promtool beside the server. Only promtool is wanted, not a
# server whose package scripts would start it, so the package is downloaded and this one file
# unpacked into the state dir, as the Kafka jars are kept there; a promtool on PATH wins.
# Messages go to stderr: stdout is the path.
promtool_path() {
  local found
  if found=$(command -v promtool 2>/dev/null); then
    printf '%s\n' "$found"
    return 0
  fi
  local dir=$STATE/tools/prometheus
  local bin=$dir/promtool
  if [[ ! -x $bin ]]; then
    say "unpacking promtool from Debian's prometheus package into $dir" >&2
    mkdir -p -- "$dir"
    local tmp
    tmp=$(mktemp -d "$dir/download.XXXXXX")
    # A fresh machine may have no package lists yet: update them once (root only) and retry.
    if ! (cd "$tmp" && apt-get download -q prometheus) >"$tmp/apt.log" 2>&1; then
      (( EUID == 0 )) || { show_tail "$tmp/apt.log"; rm -rf -- "$tmp"; die "apt-get download prometheus failed; install promtool (apt-get install prometheus) or run as root"; }
      apt-get update -q >/dev/null 2>&1 || true
      (cd "$tmp" && apt-get download -q prometheus) >"$tmp/apt.log" 2>&1 ||
        { show_tail "$tmp/apt.log"; rm -rf -- "$tmp"; die "apt-get download prometheus failed"; }
    fi
    local deb
    deb=$(compgen -G "$tmp/prometheus_*.deb" | head -n1)
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" ./usr/bin/promtool ||
      { rm -rf -- "$tmp"; die "no usr/bin/promtool in $deb"; }
    # Renamed into place last, so an interrupted unpack never looks like a promtool.
    mv -- "$tmp/usr/bin/promtool" "$bin"
    rm -rf -- "$tmp"
  fi
  printf '%s\n' "$bin"
}

# ------------------------------------------------------------------------------------------
# Subcommands
# ------------------------------------------------------------------------------------------
# One stack operation at a time per state dir (e.g. two `make up` in parallel). The lock is
# fd 9; every long-lived child is started with 9>&- so that it does not keep the lock.
lock_state() {
  exec 9>"$STATE/.stack.lock"
  flock -w 180 9 || die "another stack.sh (or a process that inherited its lock) holds $STATE/.stack.lock"
}

both_up_fast() {
  find_pg_bin || return 1
  pg_running && [[ $(pg_running_port) == "$PG_PORT" ]] && port_open "$PG_PORT" &&
    kafka_running && grep -q "^listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT," "$KAFKA_PROPS" &&
    port_open "$KAFKA_PORT"
}

# Check every port we are about to bind before starting anything, so that a conflict on the
# Kafka port does not leave a freshly started PostgreSQL behind.
preflight_ports() {
  if ! pg_running && port_open "$PG_PORT"; then
    fail_port_taken "$PG_PORT" "PostgreSQL"
  fi
  if ! kafka_running; then
    local port
    for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
      if port_open "$port"; then
        fail_port_taken "$port" "Kafka"
      fi
    done
  fi
}

print_where() {
  say "state: $STATE"
  [[ -z $PG_OUTSIDE ]] || say "postgres data: $PGDATA ($STATE/postgres links to it)"
  say "logs:  $LOG_DIR (postgres.log, kafka.log)"
}

cmd_up() {
  resolve_state_dir
  lock_state
  if both_up_fast; then
    say "already running: PostgreSQL 127.0.0.1:$PG_PORT (pid $(head -n1 "$PGDATA/postmaster.pid")), Kafka 127.0.0.1:$KAFKA_PORT (pid $(kafka_pid))"
    print_where
    return 0
  fi
  ensure_prerequisites
  preflight_ports
  pg_up
  kafka_up
  say "stack up in ${SECONDS}s"
  print_where
}

cmd_down() {
  resolve_state_dir
  lock_state
  find_pg_bin || true
  # Kafka first: services consuming from it may still write to the database.
  kafka_down
  pg_down
}

cmd_status() {
  resolve_state_dir
  local rc=0
  if find_pg_bin && pg_running && port_open "$(pg_running_port)"; then
    say "PostgreSQL: running (pid $(head -n1 "$PGDATA/postmaster.pid"), 127.0.0.1:$(pg_running_port))"
  else
    say "PostgreSQL: not running"
    rc=1
  fi
  if kafka_running && port_open "$KAFKA_PORT"; then
    say "Kafka: running (pid $(kafka_pid), 127.0.0.1:$KAFKA_PORT)"
  elif kafka_running; then
    say "Kafka: process $(kafka_pid) alive but 127.0.0.1:$KAFKA_PORT not answering"
    rc=1
  else
    say "Kafka: not running"
    rc=1
  fi
  [[ -z $PG_OUTSIDE ]] || say "postgres data: $PGDATA"
  say "logs: $LOG_DIR"
  return "$rc"
}

# Fault injection for the soak (tests/soak): the state is left as a crash leaves it, and
# 'up' brings it back.
cmd_kill_kafka() {
  resolve_state_dir
  lock_state
  local pid
  pid=$(kafka_pid)
  if ! kafka_running; then
    say "Kafka not running"
    return 0
  fi
  say "killing Kafka (pid $pid) with SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 15))
  while pid_alive "$pid" && (( SECONDS < deadline )); do sleep 0.1; done
  pid_alive "$pid" && die "Kafka (pid $pid) survived SIGKILL"
  rm -f -- "$KAFKA_PID_FILE"
}

cmd_stop_postgres_immediate() {
  resolve_state_dir
  lock_state
  find_pg_bin || die "PostgreSQL binaries not found"
  if ! pg_running; then
    say "PostgreSQL not running"
    return 0
  fi
  say "stopping PostgreSQL (pid $(head -n1 "$PGDATA/postmaster.pid")) with -m immediate"
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 60 stop >/dev/null ||
    { show_tail "$PG_LOG"; die "pg_ctl stop -m immediate failed"; }
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

main() {
  case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    kill-kafka) cmd_kill_kafka ;;
    stop-postgres-immediate) cmd_stop_postgres_immediate ;;
    logs-dir) resolve_state_dir; mkdir -p -- "$LOG_DIR"; printf '%s\n' "$LOG_DIR" ;;
    promtool) resolve_state_dir; promtool_path ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
