#!/usr/bin/env bash
# A one-node SLURM cluster on localhost (Debian's slurmctld/slurmd/munge) for the SLURM executor test.
# Needs root and apt access to the Debian archive. Idempotent: re-running reuses running daemons.
#   SLURM_TEST_DIR=/tmp/factmlp-slurm bash tests/slurm/setup_slurm.sh
# No accounting database: run Snakemake with --slurm-status-command squeue (sacct would fail).
set -euo pipefail
dir=${SLURM_TEST_DIR:-/tmp/factmlp-slurm}
export DEBIAN_FRONTEND=noninteractive

packages="slurmctld slurmd slurm-client munge"
missing=0
for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing=1; done
if [ "$missing" = 1 ]; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends $packages
fi
mkdir -p "$dir/state" "$dir/spool" "$dir/log" /etc/slurm

# munge: key, runtime dirs, daemon as the munge user (no systemd here)
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    head -c 1024 /dev/urandom > /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
chmod 700 /etc/munge
chmod 400 /etc/munge/munge.key
chmod 755 /run/munge
if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 40); do munge -n >/dev/null 2>&1 && break; sleep 0.25; done
fi
munge -n | unmunge >/dev/null

# a site's own slurm.conf / gres.conf is kept in $dir and put back by teardown_slurm.sh; ours carry
# a marker line so that teardown removes them (a slurm-client without a reachable controller makes
# every `scontrol` call, and so every Snakemake start with the SLURM plugin installed, wait ~9 s)
marker="# written by factmlp tests/slurm/setup_slurm.sh"
for f in slurm.conf gres.conf; do
    if [ -f "/etc/slurm/$f" ] && ! grep -qxF "$marker" "/etc/slurm/$f"; then
        cp -p "/etc/slurm/$f" "$dir/$f.site"
    fi
done

# the node is named localhost (the machine's hostname may differ): slurmd runs with -N localhost
mem=$(( $(free -m | awk '/^Mem:/{print $2}') - 2048 ))
cat > /etc/slurm/slurm.conf <<CONF
$marker
ClusterName=factmlp-test
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=300
GresTypes=gpu
NodeName=localhost NodeHostname=localhost CPUs=$(nproc) RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# a fake GPU, so that rules requesting gpu=1 can be scheduled in the test
printf '%s\n%s\n' "$marker" "NodeName=localhost Name=gpu File=/dev/null" > /etc/slurm/gres.conf

# a daemon already running (from an earlier setup) is reconfigured, not started twice
if pgrep -x slurmctld >/dev/null; then scontrol reconfigure || true; else slurmctld; fi
pgrep -x slurmd >/dev/null || slurmd -N localhost
for _ in $(seq 120); do
    if sinfo -h -n localhost -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
        sinfo
        exit 0
    fi
    sleep 0.5
done
echo "SLURM node did not become idle; see $dir/log" >&2
sinfo >&2 || true
exit 1
