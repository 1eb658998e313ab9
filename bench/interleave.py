#!/usr/bin/env python3
"""Run commands round-robin and compare each with the first one.

usage: interleave.py ROUNDS NAME CMD... [-- NAME CMD...]...

Every round runs every command once, in order, so on a shared machine all
of them see the same load; a command may start with VAR=value words (set in
its environment, no `env` process in between). For each command prints one
line:

  NAME best_wall worst_wall median_wall median_cpu vs_wall vs_cpu

(seconds; cpu = user + sys of the child; vs_* = the median over the rounds
of this command's time divided by the first command's in the same round).
"""
import os
import resource
import statistics
import subprocess
import sys
import time


def parse(argv):
    cmds, cur = [], []
    for a in argv:
        if a == "--":
            if cur:
                cmds.append(cur)
            cur = []
        else:
            cur.append(a)
    if cur:
        cmds.append(cur)
    out = []
    for c in cmds:
        name, rest = c[0], c[1:]
        env = dict(os.environ)
        while rest and "=" in rest[0] and not rest[0].startswith(("/", ".")):
            k, v = rest[0].split("=", 1)
            env[k] = v
            rest = rest[1:]
        out.append((name, rest, env))
    return out


def run_once(cmd, env):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return t1 - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main():
    rounds = int(sys.argv[1])
    cmds = parse(sys.argv[2:])
    walls = [[] for _ in cmds]
    cpus = [[] for _ in cmds]
    for _ in range(rounds):
        for i, (_, cmd, env) in enumerate(cmds):
            w, c = run_once(cmd, env)
            walls[i].append(w)
            cpus[i].append(c)
    for i, (name, _, _) in enumerate(cmds):
        vw = statistics.median(walls[i][r] / walls[0][r] for r in range(rounds))
        vc = statistics.median(cpus[i][r] / max(cpus[0][r], 1e-6) for r in range(rounds))
        print("%s %.4f %.4f %.4f %.4f %.2f %.2f" % (name, min(walls[i]), max(walls[i]),
              statistics.median(walls[i]), statistics.median(cpus[i]), vw, vc))


if __name__ == "__main__":
    main()
