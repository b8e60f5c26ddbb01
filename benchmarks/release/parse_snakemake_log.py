"""Job wall times of a finished Snakemake run, from its log (.snakemake/log/*.snakemake.log).

Prints, per rule, the number of jobs and the sum and maximum of their wall times, the run's
span (first job start to last job end), the job-minute total and the longest jobs. With
``--cores N`` the ratio of job time to N x span says how busy the job slots were: at ~1 every
slot was busy all along and the wall time is the job time / N.

Usage: python -m benchmarks parse_snakemake_log LOG [--top 20] [--cores 2]

The log format is Snakemake 9's: a ``[timestamp]`` line, then ``rule NAME:`` / ``localrule
NAME:`` with ``jobid: N`` and ``wildcards: ...``; ``Finished jobid: N`` after a timestamp.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import re
import sys

_STAMP = re.compile(r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]")
_RULE = re.compile(r"(?:local)?(?:rule|checkpoint) (\w+):")
_JOBID = re.compile(r"\s+jobid: (\d+)")
_WILDCARDS = re.compile(r"\s+wildcards: (.*)")
_FINISHED = re.compile(r"Finished jobid: (\d+)")


def parse(lines):
    """Return {jobid: (rule, wildcards, start, end)} for every job that finished."""
    stamp = None
    rule = rule_stamp = None
    started, rules, wildcards, ended = {}, {}, {}, {}
    last_job = None
    for line in lines:
        if m := _STAMP.match(line):
            stamp = datetime.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := _RULE.match(line):
            rule, rule_stamp = m.group(1), stamp
        elif (m := _JOBID.match(line)) and rule is not None:
            last_job = m.group(1)
            started[last_job], rules[last_job] = rule_stamp, rule
        elif (m := _WILDCARDS.match(line)) and last_job is not None:
            wildcards[last_job] = m.group(1)
        elif m := _FINISHED.match(line):
            ended[m.group(1)] = stamp
    return {
        j: (rules[j], wildcards.get(j, ""), started[j], ended[j])
        for j in ended
        if j in started
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--top", type=int, default=20, help="longest jobs to list")
    ap.add_argument("--cores", type=int, default=2, help="job slots of the run")
    args = ap.parse_args(argv)
    try:
        with open(args.log) as fh:
            jobs = parse(fh.read().splitlines())
    except OSError as err:
        sys.exit(f"cannot read log {args.log}: {err}")
    if not jobs:
        sys.exit(f"no finished jobs in {args.log}")
    per_rule = collections.defaultdict(list)
    for rule, _, start, end in jobs.values():
        per_rule[rule].append((end - start).total_seconds())
    print(f"{'rule':28s} {'jobs':>5s} {'sum min':>8s} {'max min':>8s}")
    for rule, secs in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
        print(f"{rule:28s} {len(secs):5d} {sum(secs) / 60:8.1f} {max(secs) / 60:8.1f}")
    total = sum(sum(v) for v in per_rule.values())
    span = (
        max(e for *_, e in jobs.values()) - min(s for *_, s, _ in jobs.values())
    ).total_seconds()
    print(
        f"\n{len(jobs)} jobs, {total / 60:.1f} job-min, span {span / 60:.1f} min, "
        f"slot occupancy {total / (args.cores * span):.2f} at {args.cores} slots"
    )
    print(f"\nlongest {args.top} jobs (min):")
    longest = sorted(jobs.values(), key=lambda j: j[2] - j[3])[: args.top]
    for rule, wc, start, end in longest:
        print(f"{(end - start).total_seconds() / 60:6.1f}  {rule}  {wc}")
    return 0
