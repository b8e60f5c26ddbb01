#!/usr/bin/env bash
# Stop the test cluster started by setup_slurm.sh (daemons only; packages stay installed).
pkill -x slurmd 2>/dev/null || true
pkill -x slurmctld 2>/dev/null || true
exit 0
