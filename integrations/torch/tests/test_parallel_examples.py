#!/usr/bin/env python3
"""Pipeline and expert parallelism over ltcc match the same runs over gloo.

Runs an example (examples/train_pipeline.py: two stages joined by
send/recv; examples/train_moe.py: a mixture-of-experts layer dispatched with
all_to_all_single) on N local ranks twice, over gloo and over ltcc (the
LTCC_* environment, e.g. LTCC_FAULT_LOSS=0.01, applies to the ltcc run
only), and checks: every rank of both runs exits 0; each rank's parameters
(params_sha in its RESULT line) are bitwise the same in both runs; the test
accuracy is at least --min-acc.

  test_parallel_examples.py --example pipeline|moe --ranks N [--min-acc A] [-- ARGS]

Exit 0 passed, 1 failed, 77 skipped (torch, sklearn or ltcc_torch missing).
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = {"pipeline": "train_pipeline.py", "moe": "train_moe.py"}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(script, backend, ranks, extra, timeout):
    """Every rank's (exit status, output)."""
    port = free_port()
    procs = []
    for r in range(ranks):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(r),
                   WORLD_SIZE=str(ranks), LOCAL_RANK=str(r), LOCAL_WORLD_SIZE=str(ranks))
        if backend != "ltcc":
            env = {k: v for k, v in env.items() if not k.startswith("LTCC_")}
        procs.append(subprocess.Popen([sys.executable, script, "--backend", backend] + extra,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    deadline = time.monotonic() + timeout
    results = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            out, _ = p.communicate()
            out += "\n(killed after %.0f s)" % timeout
            results.append((-9, out))
            continue
        results.append((p.returncode, out))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--example", choices=sorted(EXAMPLES), required=True)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--min-acc", type=float, default=0.8)
    ap.add_argument("--timeout", type=float, default=150.0)
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    probe = subprocess.run([sys.executable, "-c", "import torch, sklearn.datasets, ltcc_torch"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        print("SKIPPED: %s" % (probe.stderr.strip().splitlines() or ["import failed"])[-1])
        return SKIP
    script = os.path.join(HERE, "..", "examples", EXAMPLES[a.example])
    runs = {}
    failed = []
    for backend in ("gloo", "ltcc"):
        t0 = time.monotonic()
        res = run(script, backend, a.ranks, a.args, a.timeout)
        print("== %s over %s, %d ranks: %.1f s" % (a.example, backend, a.ranks, time.monotonic() - t0))
        lines = {}
        for r, (rc, out) in enumerate(res):
            for line in out.splitlines():
                print("[%s rank %d] %s" % (backend, r, line))
            if rc == SKIP:
                return SKIP
            if rc != 0:
                failed.append("%s rank %d exited %d" % (backend, r, rc))
            m = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
            if not m:
                failed.append("%s rank %d printed no RESULT line" % (backend, r))
                continue
            lines[r] = dict(kv.split("=", 1) for kv in m[-1].split()[1:])
        runs[backend] = lines
    for r in range(a.ranks):
        g, l = runs["gloo"].get(r), runs["ltcc"].get(r)
        if not g or not l:
            continue
        if g["params_sha"] != l["params_sha"]:
            failed.append("rank %d: parameters differ between gloo (%s...) and ltcc (%s...)"
                          % (r, g["params_sha"][:12], l["params_sha"][:12]))
        acc = float(l["acc"])
        if acc == acc and acc < a.min_acc:  # nan: a stage without the classifier
            failed.append("rank %d: ltcc run's test accuracy %.4f < %.2f" % (r, acc, a.min_acc))
    for f in failed:
        print("FAIL: " + f)
    if failed:
        return 1
    accs = [float(v["acc"]) for v in runs["ltcc"].values() if float(v["acc"]) == float(v["acc"])]
    print("PASS: %s, %d ranks, LTCC_FAULT_LOSS=%s: parameters bitwise identical to gloo's on every "
          "rank, test accuracy %.4f" % (a.example, a.ranks, os.environ.get("LTCC_FAULT_LOSS", "0"),
                                         max(accs) if accs else float("nan")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
