#!/usr/bin/env python3
"""All-reduce bus bandwidth through the ltcc torch backend: CUDA tensors vs CPU tensors.

N local ranks (spawned here, no launcher) each create an "ltcc" group and
time dist.all_reduce (SUM, float32) of each size in three ways:

  cpu-1call  CPU tensor, one ltcc call (chunking off: set_chunk_bytes(1 TiB))
  cpu        CPU tensor, split into the backend's chunks (default 8 MiB; --chunk)
  cuda       CUDA tensor: the same chunks, staged through pinned host memory
             (copy in, ltcc, copy out, chunks overlapping)

so cuda / cpu is what the staging costs, and cpu / cpu-1call what the
chunking costs. "extra ms" is what a CUDA call took beyond the CPU one,
"copy ms" a plain device->pinned->device round trip of the whole tensor
(what the copies would add with no overlap at all): extra below copy means
the pipeline hid part of the copies; above it, the rest is per-call
overhead (thread hand-offs, event waits).
Every measurement's final result is checked (inputs are small integers,
and each call multiplies them by N: exact or nearly so in float32).

Time per call: the slowest rank's mean over the iterations, after warm-up,
the three modes interleaved in rounds (median of the rounds); busbw =
bytes x 2 (N-1) / N / time, as nccl-tests. One table, then one RESULT line
per size for machines.

  PYTHONPATH=build/release/integrations/torch/python \\
      python3 integrations/torch/examples/bench_allreduce.py --ranks 4 --sizes 1M,16M,64M

Exit 0: measured (without CUDA the cuda column says why it is empty); 1: a
result was wrong or a rank failed; 77: torch or ltcc_torch missing.
"""
import argparse
import datetime
import os
import socket
import statistics
import sys
import time
import traceback

SKIP = 77
MODES = ("cpu-1call", "cpu", "cuda")


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B").rstrip("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def human(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return "%d %s" % (n // size, unit)
    return "%d B" % n


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iterations(nbytes):
    return max(8, min(40, (512 << 20) // nbytes))


def run_rank(rank, ws, port, sizes, rounds, use_cuda, chunk, queue):
    import torch
    import torch.distributed as dist
    import ltcc_torch

    torch.set_num_threads(1)
    gpu = None
    if use_cuda:
        gpu = torch.device("cuda", rank % torch.cuda.device_count())
        torch.cuda.set_device(gpu)
    dist.init_process_group("ltcc", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                            world_size=ws, timeout=datetime.timedelta(seconds=120))
    default_chunk = ltcc_torch.chunk_bytes()
    if chunk:
        ltcc_torch.set_chunk_bytes(chunk)
    chunked = ltcc_torch.chunk_bytes()
    first_sum = float(ws * (ws + 1) // 2)
    wrong = []
    rows = []
    modes = MODES if gpu is not None else MODES[:2]

    one_call = 1 << 40  # larger than any tensor: chunking off

    def measure(mode, n, iters):
        where = gpu if mode == "cuda" else torch.device("cpu")
        ltcc_torch.set_chunk_bytes(one_call if mode == "cpu-1call" else chunked)
        buf = torch.full((n,), float(rank + 1), device=where)
        dist.all_reduce(buf)  # warm-up (the first CUDA call creates the staging communicator)
        buf.fill_(float(rank + 1))
        if gpu is not None:
            torch.cuda.synchronize(gpu)
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(buf)
        if gpu is not None:
            torch.cuda.synchronize(gpu)
        elapsed = (time.perf_counter() - t0) / iters
        # Each call sums the same value on every rank: after the first, x ws.
        want = torch.full((n,), first_sum * float(ws) ** (iters - 1), dtype=torch.float64)
        if not torch.allclose(buf.cpu().double(), want, rtol=1e-5):
            wrong.append("%s, %d floats: wrong result" % (mode, n))
        slowest = torch.tensor([elapsed], dtype=torch.float64)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        return float(slowest[0])

    for nbytes in sizes:
        n = nbytes // 4
        iters = iterations(nbytes)
        per_round = max(2, iters // rounds)
        times = {m: [] for m in modes}
        for _ in range(rounds):
            for mode in modes:
                times[mode].append(measure(mode, n, per_round))
        copy_ms = None
        if gpu is not None:  # a plain round trip through pinned memory, for scale
            dev = torch.ones(n, device=gpu)
            host = torch.empty(n, pin_memory=True)
            torch.cuda.synchronize(gpu)
            reps = 5
            t0 = time.perf_counter()
            for _ in range(reps):
                host.copy_(dev, non_blocking=True)
                dev.copy_(host, non_blocking=True)
            torch.cuda.synchronize(gpu)
            copy_ms = (time.perf_counter() - t0) / reps * 1e3
        rows.append((nbytes, {m: statistics.median(v) for m, v in times.items()}, copy_ms))
    ltcc_torch.set_chunk_bytes(default_chunk)
    flag = torch.tensor([len(wrong)], dtype=torch.int64)
    dist.all_reduce(flag)
    for w in wrong:
        print("rank %d: %s" % (rank, w), flush=True)
    if rank == 0:
        queue.put((rows, int(flag[0]), chunked))
    dist.barrier()
    dist.destroy_process_group()


def spawned(rank, ws, port, sizes, rounds, use_cuda, chunk, queue):
    try:
        run_rank(rank, ws, port, sizes, rounds, use_cuda, chunk, queue)
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush()
        raise


def busbw(nbytes, seconds, ws):
    return nbytes * 2 * (ws - 1) / ws / seconds / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--sizes", default="1M,16M,64M", help="comma-separated, e.g. 1M,16M,64M")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per size (median)")
    ap.add_argument("--no-cuda", action="store_true", help="CPU modes only")
    ap.add_argument("--chunk", default="", help="chunk size for cpu and cuda (default: the "
                    "backend's, ltcc_torch.DEFAULT_CHUNK_BYTES)")
    args = ap.parse_args()
    try:
        import torch
        import torch.multiprocessing as mp
        import ltcc_torch
    except Exception as e:  # noqa: BLE001
        print("SKIP: cannot import torch / ltcc_torch (PYTHONPATH=%s): %s"
              % (os.environ.get("PYTHONPATH", ""), e))
        return SKIP
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    use_cuda = torch.cuda.is_available() and not args.no_cuda
    why_no_cuda = ("--no-cuda" if args.no_cuda else
                   "torch %s sees no CUDA device" % torch.__version__)
    print("all_reduce SUM float32 through the ltcc torch backend: %d local ranks, torch %s, "
          "ltcc %d, %s" % (args.ranks, torch.__version__, ltcc_torch.ltcc_version(),
                           torch.cuda.get_device_name(0) if use_cuda else "no cuda: " + why_no_cuda),
          flush=True)
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    try:
        mp.start_processes(spawned, args=(args.ranks, free_port(), sizes, args.rounds, use_cuda,
                                          parse_size(args.chunk) if args.chunk else 0, queue),
                           nprocs=args.ranks, join=True, start_method="spawn")
    except Exception as e:  # noqa: BLE001  a rank failed: its traceback is above
        print("FAILED: %s" % (str(e).strip().splitlines() or ["a rank failed"])[0])
        return 1
    rows, wrong, chunk = queue.get()
    ws = args.ranks
    print("chunk %s; busbw in GB/s (time per call in ms)" % human(chunk))
    header = "%10s %18s %18s %18s %9s %10s %8s %8s" % (
        "size", "cpu-1call", "cpu", "cuda", "cuda/cpu", "cuda/1call", "extra ms", "copy ms")
    print(header)
    for nbytes, t, copy_ms in rows:
        def cell(mode):
            if mode not in t:
                return "%18s" % "n/a"
            return "%18s" % ("%7.2f (%7.2f)" % (busbw(nbytes, t[mode], ws), t[mode] * 1e3))
        if "cuda" in t:
            ratio = t["cpu"] / t["cuda"]
            ratio1 = t["cpu-1call"] / t["cuda"]
            extra_ms = (t["cuda"] - t["cpu"]) * 1e3
            tail = "%9.3f %10.3f %8.2f %8.2f" % (ratio, ratio1, extra_ms, copy_ms)
        else:
            tail = "%9s %10s %8s %8s" % ("n/a", "n/a", "n/a", "n/a")
        print("%10s %s %s %s %s" % (human(nbytes), cell("cpu-1call"), cell("cpu"), cell("cuda"),
                                    tail))
    for nbytes, t, copy_ms in rows:
        fields = ["size=%d" % nbytes, "ranks=%d" % ws, "chunk=%d" % chunk]
        for mode in MODES:
            if mode in t:
                key = mode.replace("-", "_")
                fields.append("%s_busbw=%.3f" % (key, busbw(nbytes, t[mode], ws)))
                fields.append("%s_ms=%.3f" % (key, t[mode] * 1e3))
        if "cuda" in t:
            fields.append("cuda_over_cpu=%.3f" % (t["cpu"] / t["cuda"]))
            fields.append("copy_ms=%.3f" % copy_ms)
        print("RESULT " + " ".join(fields))
    if not use_cuda:
        print("cuda column empty: %s" % why_no_cuda)
    if wrong:
        print("FAILED: %d wrong results" % wrong)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
