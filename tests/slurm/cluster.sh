# shellcheck shell=bash
# A throw-away single-node Slurm cluster for tests (sourced by tests/slurm/run.sh).
#
#   . tests/slurm/cluster.sh
#   cluster_start DIR     # munged + slurmctld + slurmd, all files under DIR; exports SLURM_CONF
#   ... sbatch / squeue / scancel ...
#   cluster_stop          # cancel every job, stop the daemons by PID, check nothing is left
#   cluster_logs [N]      # the last N lines of each daemon's log (for failures)
#
# Needs: bash, munged (munge), slurmctld, slurmd and the client commands
# (slurm-wlm), running as root (SlurmUser=root) or as the user named in
# CLUSTER_USER. Nothing outside DIR is written; no systemd, no /etc/slurm.
#
# What mattered on Debian 12 (munge 0.5.15, Slurm 22.05):
#  - munged checks its paths: the key file 0400 and owned by the user running
#    it, its directories (and every parent) not writable by group/other unless
#    sticky (/tmp is fine), the socket directory searchable by clients: DIR/munge
#    is 0755. Slurm talks to this munged through AuthInfo=socket=... (used by
#    both auth/munge and cred/munge).
#  - ClusterName is required; SlurmctldHost=localhost is accepted on any
#    hostname; the node is NodeName=localhost and slurmd runs with -N localhost.
#  - Free ports are picked for SlurmctldPort and SlurmdPort (a bash /dev/tcp
#    probe: connection refused = free).
#  - SchedulerParameters=batch_sched_delay=0: a submitted job starts within about
#    1 s (default 3 s); slurmctld still schedules nothing in its first ~3 s.
#  - MinJobAge=300 (the default) keeps finished tasks' records (JobState,
#    ExitCode) for the checks. `sbatch --wait` then sleeps 2 s, 8 s, 32 s between
#    polls (Slurm 22.05: x4 while under MinJobAge/2), and a low MinJobAge lets a
#    record be purged in between, losing its exit code ("Job N no longer found
#    and exit code not found", seen with MinJobAge=6): so tests poll squeue.
#  - ProctrackType=proctrack/linuxproc, TaskPlugin=task/none: no cgroups needed.
#  - SelectType=select/cons_tres, CR_CPU: one CPU per task, nproc tasks at once.
#  - No GRES is defined: a job asking --gres=gpu:1 is refused at submission;
#    `sbatch --gres=none` (or SBATCH_GRES=none) drops a script's #SBATCH --gres.

CLUSTER_DIR=
CLUSTER_PIDS=()        # slurmd slurmctld munged, in stopping order
CLUSTER_MARK=

cluster_have() {
    local b
    for b in munged munge unmunge slurmctld slurmd sbatch sinfo squeue scancel scontrol; do
        command -v "$b" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$b" >/dev/null 2>&1 || return 1
    done
}

# A free TCP port on 127.0.0.1 in 20000..59999, not in the list given.
_cluster_free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        [[ " $* " == *" $p "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    return 1
}

cluster_logs() {
    local n=${1:-30} d f
    for d in munged slurmctld slurmd; do
        f=$CLUSTER_DIR/log/$d.log
        [[ -s $f ]] || f=$CLUSTER_DIR/log/$d.out     # its stderr: what it said before its log opened
        [[ -s $f ]] || continue
        echo "---- tail -n $n $f"
        tail -n "$n" "$f"
    done
}

# cluster_start DIR: DIR must be empty or absent; it is created 0755.
cluster_start() {
    CLUSTER_DIR=$1
    CLUSTER_MARK="AM_SLURM_TEST_CLUSTER=$CLUSTER_DIR"
    export PATH="$PATH:/usr/sbin:/sbin"
    local d=$CLUSTER_DIR user=${CLUSTER_USER:-root} ncpu
    ncpu=$(nproc)
    mkdir -p "$d" && chmod 0755 "$d" || return 1
    mkdir -p "$d/munge" "$d/log" "$d/state" "$d/spool" "$d/run" && chmod 0755 "$d/munge" "$d/log" "$d/run" || return 1
    chmod 0700 "$d/state" "$d/spool"

    # munge: its own key, socket, log, pid and seed.
    head -c 1024 /dev/urandom > "$d/munge/munge.key" && chmod 0400 "$d/munge/munge.key" || return 1
    # In the foreground as our child (so that we can wait for it); ready once a
    # credential round-trips through its socket.
    env "$CLUSTER_MARK" munged --foreground --socket="$d/munge/munge.socket" --key-file="$d/munge/munge.key" \
        --log-file="$d/log/munged.log" --pid-file="$d/run/munged.pid" --seed-file="$d/munge/munged.seed" \
        --num-threads=2 >"$d/log/munged.out" 2>&1 &
    CLUSTER_PIDS=("$!")
    local i ok=
    for ((i = 0; i < 100; i++)); do         # 10 s
        kill -0 "${CLUSTER_PIDS[0]}" 2>/dev/null || break
        if [[ -S $d/munge/munge.socket ]] &&
           munge -n -S "$d/munge/munge.socket" 2>/dev/null | unmunge -S "$d/munge/munge.socket" >/dev/null 2>&1; then
            ok=1; break
        fi
        sleep 0.1
    done
    if [[ -z $ok ]]; then
        echo "slurm test: munged did not start" >&2; cat "$d/log/munged.out" >&2; cluster_logs 30 >&2; return 1
    fi

    local cport dport
    cport=$(_cluster_free_port) && dport=$(_cluster_free_port "$cport") || { echo "slurm test: no free port" >&2; return 1; }
    cat > "$d/slurm.conf" <<EOF
# written by tests/slurm/cluster.sh: a throw-away one-node cluster
ClusterName=amtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MinJobAge=300
KillWait=5
InactiveLimit=0
MaxArraySize=1001
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$ncpu State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    export SLURM_CONF=$d/slurm.conf
    # Daemons carry a mark in their environment (slurmstepd inherits it) so that
    # cluster_stop can prove none is left.
    env "$CLUSTER_MARK" slurmctld -D -i -f "$SLURM_CONF" >"$d/log/slurmctld.out" 2>&1 &
    CLUSTER_PIDS=("$!" "${CLUSTER_PIDS[@]}")
    env "$CLUSTER_MARK" slurmd -D -N localhost -f "$SLURM_CONF" >"$d/log/slurmd.out" 2>&1 &
    CLUSTER_PIDS=("$!" "${CLUSTER_PIDS[@]}")

    local state=
    for ((i = 0; i < 300; i++)); do         # 30 s
        state=$(sinfo -h -n localhost -o %T 2>/dev/null)
        [[ $state == idle ]] && return 0
        local p
        for p in "${CLUSTER_PIDS[@]}"; do
            kill -0 "$p" 2>/dev/null || { echo "slurm test: a daemon (pid $p) exited during start-up" >&2; cluster_logs 30 >&2; return 1; }
        done
        sleep 0.1
    done
    echo "slurm test: the node is not idle after 30 s (sinfo: '${state}')" >&2
    cluster_logs 30 >&2
    return 1
}

# PIDs of live processes whose environment carries the cluster's mark.
_cluster_marked() {
    local e p
    [[ -n $CLUSTER_MARK ]] || return 0
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}; p=${p%/environ}
        [[ $p == "$$" || $p == "$BASHPID" ]] && continue
        if tr '\0' '\n' 2>/dev/null < "$e" | grep -qxF -- "$CLUSTER_MARK"; then echo "$p"; fi
    done
}

_cluster_wait_gone() {     # PID, tenths of a second
    local i
    for ((i = 0; i < $2; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# Stops everything cluster_start started; returns 1 if something had to be
# killed with SIGKILL or could not be killed, 0 after a clean stop.
cluster_stop() {
    [[ -n $CLUSTER_DIR ]] || return 0
    local rc=0 p i
    if [[ -n ${SLURM_CONF:-} ]] && ((${#CLUSTER_PIDS[@]} > 1)) && kill -0 "${CLUSTER_PIDS[1]}" 2>/dev/null; then
        # Cancel every job, then give them KillWait to end.
        scancel --quiet --user="$(id -un)" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            [[ -z $(squeue -h -o %i -t PENDING,CONFIGURING,RUNNING,COMPLETING,SUSPENDED 2>/dev/null) ]] && break
            sleep 0.1
        done
    fi
    for p in "${CLUSTER_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || continue
        if ! _cluster_wait_gone "$p" 100; then
            echo "slurm test: pid $p ignored SIGTERM for 10 s: SIGKILL" >&2
            kill -KILL "$p" 2>/dev/null; rc=1
        fi
        wait "$p" 2>/dev/null
    done
    # slurmstepd (it inherits the mark) or anything else the daemons left.
    local left; left=$(_cluster_marked)
    if [[ -n $left ]]; then
        sleep 1; left=$(_cluster_marked)
        if [[ -n $left ]]; then
            echo -n "slurm test: left behind, killed:" >&2
            for p in $left; do
                echo -n " $(tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline")($p)" >&2
                kill -KILL "$p" 2>/dev/null
            done
            echo >&2; rc=1
        fi
    fi
    CLUSTER_PIDS=()
    unset SLURM_CONF
    return $rc
}
