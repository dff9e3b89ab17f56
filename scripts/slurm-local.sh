#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for development and tests (design.md §7).
#
#   eval "$(scripts/slurm-local.sh up)"   # install (if needed), start, wait for the node; exports SLURM_CONF
#   scripts/slurm-local.sh status         # sinfo + squeue
#   scripts/slurm-local.sh down [--purge] # cancel jobs, stop the daemons by PID; --purge also deletes the state dir
#
# Needs root. Uses Debian's slurmctld/slurmd/slurm-client/munge packages, installs them with apt-get when
# missing. Everything the cluster writes (slurm.conf, logs, pid files, spool, saved state) lives in the
# state dir ${SLURM_LOCAL_DIR:-/tmp/trajmbrl-slurm}; /etc is touched only for the munge key and
# /run/munge. `up` prints `export SLURM_CONF=...` plus a PATH line for the sacct shim ($STATE/bin, see
# write_sacct_shim) on stdout (all chatter goes to stderr) and writes the same lines to $STATE/env.sh,
# so other shells can `. /tmp/trajmbrl-slurm/env.sh`.
#
# Environment: SLURM_LOCAL_DIR (state dir), SLURM_LOCAL_CLUSTER (ClusterName, default trajmbrl),
# SLURM_LOCAL_TIMEOUT (seconds `up` waits for the node to be idle, default 60). Ports 6817/6818 are fixed,
# so run one such cluster per machine.
set -euo pipefail

STATE="${SLURM_LOCAL_DIR:-/tmp/trajmbrl-slurm}"
CLUSTER="${SLURM_LOCAL_CLUSTER:-trajmbrl}"
TIMEOUT="${SLURM_LOCAL_TIMEOUT:-60}"
CONF="$STATE/slurm.conf"
RUN="$STATE/run"
LOG="$STATE/log"
MARKER="$STATE/.trajmbrl-slurm-local"
PACKAGES=(slurmctld slurmd slurm-client munge)
MUNGE_KEY=/etc/munge/munge.key
MUNGE_SOCKET=/run/munge/munge.socket.2

say() { printf 'slurm-local: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

require_root() {
    [[ ${EUID} -eq 0 ]] || die "must run as root (it installs packages and starts munged/slurmctld/slurmd)"
}

# --- packages ---------------------------------------------------------------------------------------

installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]; }

ensure_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        installed "$p" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
        say "apt-get install failed; running apt-get update once and retrying"
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
}

# --- pid bookkeeping --------------------------------------------------------------------------------

# pid_of NAME -> prints the recorded PID if that process is alive and is still NAME; else nothing.
pid_of() {
    local name=$1 f="$RUN/$1.pid" pid comm
    [[ -s $f ]] || return 0
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    [[ $comm == "$name" ]] && printf '%s\n' "$pid"
    return 0
}

# start NAME LOGFILE CMD... : run CMD in its own session, detached from our stdio, record its PID.
start() {
    local name=$1 logfile=$2 pid i
    shift 2
    # Not a process-group leader inside a script, so setsid execs in place and $! is the daemon's PID.
    nohup setsid "$@" >>"$logfile" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$RUN/$name.pid"
    for i in 1 2 3 4 5 6 7 8 9 10; do
        [[ -n $(pid_of "$name") ]] && break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null || {
        tail -n 20 "$logfile" >&2 || true
        die "$name exited at start (see $logfile)"
    }
    say "started $name (pid $pid)"
}

# stop NAME: TERM the recorded PID, wait up to 10 s, then KILL. Never matches processes by name.
stop() {
    local name=$1 pid i
    pid=$(pid_of "$name")
    if [[ -z $pid ]]; then
        [[ -e $RUN/$name.pid ]] && say "$name not running (stale pid file)"
        rm -f "$RUN/$name.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$name.pid"
    say "stopped $name (pid $pid)"
}

# --- munge ------------------------------------------------------------------------------------------

munge_works() { command -v munge >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

ensure_munge() {
    install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [[ ! -s $MUNGE_KEY ]]; then
        say "generating $MUNGE_KEY"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$MUNGE_KEY"
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"

    if [[ -n $(pid_of munged) ]]; then
        return 0
    fi
    if munge_works; then
        say "using the munged that is already running (not ours; 'down' will leave it alone)"
        rm -f "$RUN/munged.pid"
        return 0
    fi
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    touch "$LOG/munged.log"
    chown munge:munge "$LOG/munged.log"
    # As the Debian unit does: user munge, foreground (-F) so the recorded PID is munged itself.
    start munged "$LOG/munged.out" setpriv --reuid=munge --regid=munge --init-groups \
        /usr/sbin/munged -F --log-file="$LOG/munged.log"
    local i
    for ((i = 0; i < 50; i++)); do
        munge_works && return 0
        sleep 0.1
    done
    tail -n 20 "$LOG/munged.log" "$LOG/munged.out" >&2 || true
    die "munged does not answer on $MUNGE_SOCKET"
}

# --- slurm.conf -------------------------------------------------------------------------------------

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(free -m | awk '/^Mem:/ {print $2}')
    install -d -m 0755 "$STATE/spool/slurmd" "$STATE/state/slurmctld"
    cat >"$CONF.tmp" <<EOF
# Generated by scripts/slurm-local.sh on $(date -Is); regenerated on every cold 'up'.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
# No cgroups: plain process tracking, no task confinement.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# No accounting daemon: sacct does not work, use squeue/scontrol and the job's output files.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/state/slurmctld
SlurmdSpoolDir=$STATE/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.daemon.pid
SlurmdPidFile=$RUN/slurmd.daemon.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Quick turnaround for tests.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
# Finished jobs stay visible to scontrol (and the sacct shim) for an hour.
MinJobAge=3600
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
    write_sacct_shim
    env_lines >"$STATE/env.sh"
}

# --- sacct shim -------------------------------------------------------------------------------------

# Without accounting, real sacct only says "Slurm accounting storage is disabled". submitit polls
# `sacct -o JobID,State,NodeList --parsable2 -j ID...` to notice jobs that died without writing a result
# (scancel, timeout, OOM, os._exit), and without an answer it waits forever. This shim answers that
# query from `scontrol show job` (finished jobs stay there for MinJobAge). `up` puts $STATE/bin first
# on PATH.
write_sacct_shim() {
    install -d -m 0755 "$STATE/bin"
    cat >"$STATE/bin/sacct.tmp" <<'EOF'
#!/usr/bin/env bash
# sacct stand-in generated by scripts/slurm-local.sh (no accounting on the local dev cluster).
# Supports: -o/--format FIELDS, -j/--jobs IDS (repeatable), -n/--noheader; -P/--parsable2 is implied.
set -euo pipefail
fields=JobID,JobName,State,ExitCode,NodeList header=1 jobs=()
while (($#)); do
    case $1 in
        -o | --format) fields=$2; shift ;;
        -o* | --format=*) fields=${1#-o}; fields=${fields#--format=} ;;
        -j | --jobs) IFS=, read -r -a ids <<<"$2"; jobs+=("${ids[@]}"); shift ;;
        -j* | --jobs=*) v=${1#-j}; v=${v#--jobs=}; IFS=, read -r -a ids <<<"$v"; jobs+=("${ids[@]}") ;;
        -n | --noheader) header=0 ;;
    esac
    shift
done
((${#jobs[@]})) || jobs=("")
for j in "${jobs[@]}"; do
    # shellcheck disable=SC2086 # empty $j means all jobs
    scontrol -o show job ${j%%_*} 2>/dev/null || true
done | awk -v fields="$fields" -v header="$header" '
BEGIN { n = split(fields, f, ","); if (header) { for (i = 1; i <= n; i++) printf "%s%s", f[i], (i < n ? "|" : "\n") } }
{
    delete kv
    for (i = 1; i <= NF; i++) { p = index($i, "="); if (p) kv[substr($i, 1, p - 1)] = substr($i, p + 1) }
    id = kv["JobId"]
    if ("ArrayJobId" in kv) id = kv["ArrayJobId"] "_" (kv["ArrayTaskId"] ~ /^[0-9]+$/ ? kv["ArrayTaskId"] : "[" kv["ArrayTaskId"] "]")
    if (seen[id]++) next
    for (i = 1; i <= n; i++) {
        k = tolower(f[i]); v = ""
        if (k == "jobid") v = id
        else if (k == "state") v = kv["JobState"]
        else if (k == "nodelist") v = kv["NodeList"]
        else if (k == "jobname") v = kv["JobName"]
        else if (k == "exitcode") v = kv["ExitCode"]
        else if (k == "partition") v = kv["Partition"]
        printf "%s%s", v, (i < n ? "|" : "\n")
    }
}'
EOF
    chmod 0755 "$STATE/bin/sacct.tmp"
    mv "$STATE/bin/sacct.tmp" "$STATE/bin/sacct"
}

# The lines `up` prints for eval and writes to $STATE/env.sh.
env_lines() {
    printf 'export SLURM_CONF=%s\n' "$CONF"
    # shellcheck disable=SC2016 # $PATH is expanded by the caller's shell
    printf 'case ":$PATH:" in *":%s:"*) ;; *) export PATH="%s:$PATH" ;; esac\n' "$STATE/bin" "$STATE/bin"
}

node_state() { SLURM_CONF=$CONF sinfo -h -N -o '%t' 2>/dev/null | head -n 1 || true; }

print_tails() {
    local f
    for f in "$LOG"/*.log "$LOG"/*.out; do
        [[ -e $f ]] || continue
        printf '\n==> %s <==\n' "$f" >&2
        tail -n 25 "$f" >&2 || true
    done
}

# --- commands ---------------------------------------------------------------------------------------

cmd_up() {
    require_root
    local t0 ctld slurmd state
    t0=$(date +%s.%N)
    ensure_packages
    install -d -m 0755 "$STATE" "$RUN" "$LOG"
    touch "$MARKER"

    ctld=$(pid_of slurmctld)
    slurmd=$(pid_of slurmd)
    if [[ -n $ctld && -n $slurmd ]] && munge_works && [[ $(node_state) =~ ^(idle|mix|alloc) ]]; then
        say "already up (slurmctld $ctld, slurmd $slurmd; node $(node_state))"
        env_lines
        return 0
    fi

    ensure_munge
    [[ -n $ctld && -s $CONF ]] || write_conf
    export SLURM_CONF="$CONF"
    # -D: stay in the foreground so the recorded PID is the daemon; -i: ignore unreadable saved state.
    [[ -n $ctld ]] || start slurmctld "$LOG/slurmctld.out" /usr/sbin/slurmctld -D -i -f "$CONF"
    [[ -n $slurmd ]] || start slurmd "$LOG/slurmd.out" /usr/sbin/slurmd -D -f "$CONF"

    local deadline
    deadline=$(($(date +%s) + TIMEOUT))
    while :; do
        state=$(node_state)
        [[ $state =~ ^(idle|mix|alloc) ]] && break
        if (($(date +%s) >= deadline)); then
            say "node not idle after ${TIMEOUT}s (state: '${state:-no answer}'); log tails:"
            print_tails
            sinfo -R >&2 2>/dev/null || true
            exit 1
        fi
        [[ -n $(pid_of slurmctld) ]] || {
            print_tails
            die "slurmctld died"
        }
        [[ -n $(pid_of slurmd) ]] || {
            print_tails
            die "slurmd died"
        }
        sleep 0.25
    done
    say "up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s: node $(hostname -s) $state, partition debug; logs in $LOG"
    env_lines
}

cmd_status() {
    local name pid up=0
    for name in munged slurmctld slurmd; do
        pid=$(pid_of "$name")
        if [[ -n $pid ]]; then
            printf '%-10s pid %s\n' "$name" "$pid"
        else
            printf '%-10s not running (no live pid in %s)\n' "$name" "$RUN"
        fi
    done
    if [[ -s $CONF ]] && SLURM_CONF=$CONF sinfo >/dev/null 2>&1; then
        up=1
        printf '\nexport SLURM_CONF=%s\n\n' "$CONF"
        SLURM_CONF=$CONF sinfo
        echo
        SLURM_CONF=$CONF squeue
    fi
    ((up)) || {
        say "cluster is down"
        return 3
    }
}

cmd_down() {
    require_root
    local purge=0 arg jobs i
    for arg in "$@"; do
        case $arg in
            --purge) purge=1 ;;
            *) usage ;;
        esac
    done
    if [[ -n $(pid_of slurmctld) ]]; then
        # Cancel jobs first, otherwise their slurmstepd and payload outlive slurmd.
        jobs=$(SLURM_CONF=$CONF squeue -h -o %i 2>/dev/null || true)
        if [[ -n $jobs ]]; then
            say "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
            # shellcheck disable=SC2086 # one argument per job id
            SLURM_CONF=$CONF scancel $jobs || true
            for ((i = 0; i < 50; i++)); do
                [[ -z $(SLURM_CONF=$CONF squeue -h -t R,CG -o %i 2>/dev/null || true) ]] && break
                sleep 0.2
            done
        fi
    fi
    stop slurmd
    stop slurmctld
    stop munged
    rm -f "$RUN"/*.pid 2>/dev/null || true
    if ((purge)); then
        if [[ -e $MARKER ]]; then
            rm -rf -- "$STATE"
            say "purged $STATE"
        elif [[ -e $STATE ]]; then
            die "$STATE has no $(basename "$MARKER"); refusing to delete it"
        fi
    fi
    say "down"
}

case "${1:-}" in
    up) cmd_up ;;
    down)
        shift
        cmd_down "$@"
        ;;
    status) cmd_status ;;
    *) usage ;;
esac
