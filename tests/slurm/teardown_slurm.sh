#!/usr/bin/env bash
# Stop the test cluster started by setup_slurm.sh and remove its config files, putting back a
# site's own slurm.conf / gres.conf if setup saved one (packages stay installed). Without this, a
# slurm-client with no reachable controller makes every later Snakemake start wait ~9 s: the SLURM
# executor plugin runs `scontrol show config` when it is imported.
dir=${SLURM_TEST_DIR:-/tmp/factmlp-slurm}
marker="# written by factmlp tests/slurm/setup_slurm.sh"
pkill -x slurmd 2>/dev/null || true
pkill -x slurmctld 2>/dev/null || true
for f in slurm.conf gres.conf; do
    if [ -f "/etc/slurm/$f" ] && grep -qxF "$marker" "/etc/slurm/$f"; then
        if [ -f "$dir/$f.site" ]; then mv -f "$dir/$f.site" "/etc/slurm/$f"; else rm -f "/etc/slurm/$f"; fi
    fi
done
exit 0
