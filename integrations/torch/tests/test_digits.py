#!/usr/bin/env python3
"""DDP training on sklearn's digits over the ltcc backend, as a test.

Spawns N local ranks of examples/train_digits.py (MASTER_ADDR/PORT, RANK,
WORLD_SIZE set here; no torchrun) and checks what they did:

  --min-acc A   (training) every rank exits 0, rank 0's RESULT line says
                replicas_identical=1 and acc >= A.
  --kill R:S    (peer death) rank R dies at step S; it must exit 1, and every
                other rank must exit 3 (train_digits.py's "a collective
                failed") within --deadline seconds of that death, printing
                ltcc's error that names rank R ("collective failed: ltcc ... rank R ...").

--device cuda passes --device cuda on (model and data on the GPU) and skips
when torch sees no CUDA device.

Arguments after -- go to train_digits.py. Every rank's output is printed,
prefixed with [rank i]. Exit 0: passed; 1: failed; 77: skipped (sklearn,
torch or ltcc_torch not importable, or no CUDA for --device cuda; the reason
is printed).
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
TRAIN = os.path.join(HERE, "..", "examples", "train_digits.py")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--backend", default="ltcc")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--min-acc", type=float, default=None)
    ap.add_argument("--kill", default=None, metavar="R:S")
    ap.add_argument("--deadline", type=float, default=60.0,
                    help="kill mode: seconds the others may take to fail after the death")
    ap.add_argument("--run-timeout", type=float, default=110.0,
                    help="every rank is killed after this many seconds (a failure)")
    ap.add_argument("train_args", nargs="*")
    args = ap.parse_args()

    # Skip (77) before spawning anything when a piece is missing.
    probe = ("import sklearn.datasets, torch, torch.distributed as d; "
             "assert d.is_available(), 'torch lacks torch.distributed'"
             + ("; import ltcc_torch" if "ltcc" in args.backend else "")
             + ("; assert torch.cuda.is_available(), 'torch %s sees no CUDA device' % "
                "torch.__version__" if args.device == "cuda" else ""))
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        print("SKIP: sklearn / torch / ltcc_torch%s missing (PYTHONPATH=%s): %s"
              % (" / CUDA" if args.device == "cuda" else "", os.environ.get("PYTHONPATH", ""),
                 last))
        return SKIP

    kill_rank = kill_step = None
    train_args = ["--backend", args.backend, "--device", args.device] + args.train_args
    if args.kill:
        kill_rank, kill_step = (int(v) for v in args.kill.split(":"))
        train_args += ["--kill-rank", str(kill_rank), "--kill-at-step", str(kill_step)]

    port = free_port()
    procs, logs = [], []
    t0 = time.monotonic()
    for r in range(args.ranks):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(r),
                   WORLD_SIZE=str(args.ranks), LOCAL_RANK=str(r), LOCAL_WORLD_SIZE=str(args.ranks))
        log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                "test_digits.%d.%d.log" % (os.getpid(), r)), "w+")
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-u", TRAIN] + train_args, env=env,
                                      stdout=log, stderr=subprocess.STDOUT))
    ended = [None] * args.ranks
    while None in ended and time.monotonic() - t0 < args.run_timeout:
        for r, pr in enumerate(procs):
            if ended[r] is None and pr.poll() is not None:
                ended[r] = time.monotonic() - t0
        time.sleep(0.05)
    failures = []
    for r, pr in enumerate(procs):
        if pr.poll() is None:
            pr.kill()
            pr.wait()
            failures.append("rank %d still running after %.0f s (hang): killed"
                            % (r, args.run_timeout))
    outs = []
    for r, log in enumerate(logs):
        log.seek(0)
        outs.append(log.read())
        log.close()
        os.unlink(log.name)
        for line in outs[r].splitlines():
            print("[rank %d] %s" % (r, line))
        print("[rank %d] exit %s after %s s" % (r, procs[r].returncode,
                                                "%.1f" % ended[r] if ended[r] else "?"))
    sys.stdout.flush()

    if args.kill:
        if procs[kill_rank].returncode != 1 or "dying at step" not in outs[kill_rank]:
            failures.append("rank %d was to die at step %d: exit %s"
                            % (kill_rank, kill_step, procs[kill_rank].returncode))
        for r in range(args.ranks):
            if r == kill_rank or ended[r] is None:
                continue
            if procs[r].returncode != 3:
                failures.append("rank %d: exit %s, want 3 (a collective failed)"
                                % (r, procs[r].returncode))
                continue
            m = re.search(r"^rank %d: collective failed .*$" % r, outs[r], re.M)
            if not m:
                failures.append("rank %d: no 'collective failed' line" % r)
            elif "ltcc" not in m.group(0) or not re.search(r"\brank %d\b" % kill_rank,
                                                            m.group(0)):
                failures.append("rank %d: the error does not name the dead rank %d: %s"
                                % (r, kill_rank, m.group(0)[:300]))
            if ended[kill_rank] is not None and ended[r] - ended[kill_rank] > args.deadline:
                failures.append("rank %d failed %.1f s after the death (deadline %.0f s)"
                                % (r, ended[r] - ended[kill_rank], args.deadline))
    else:
        for r, pr in enumerate(procs):
            if pr.returncode != 0:
                failures.append("rank %d: exit %s" % (r, pr.returncode))
        m = re.search(r"^RESULT .*$", outs[0], re.M)
        if not m:
            failures.append("rank 0 printed no RESULT line")
        else:
            fields = dict(kv.split("=", 1) for kv in m.group(0).split()[1:])
            if fields.get("replicas_identical") != "1":
                failures.append("replicas differ: %s" % m.group(0))
            if args.min_acc is not None and float(fields.get("acc", "nan")) < args.min_acc:
                failures.append("accuracy %s below %.2f" % (fields.get("acc"), args.min_acc))
            if not failures:
                print(m.group(0))

    if failures:
        for f in failures:
            print("FAILED: %s" % f)
        return 1
    print("PASSED (%.1f s)" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
