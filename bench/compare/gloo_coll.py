#!/usr/bin/python3
"""gloo_coll — the Gloo peer of ltcc-perf for bench/compare.

    RANK=.. WORLD_SIZE=.. MASTER_ADDR=.. MASTER_PORT=.. \\
        /usr/bin/python3 gloo_coll.py [-t allreduce|allgather|alltoall|sendrecv] [-b MIN] [-e MAX]
                                      [-f F] [-n ITERS] [-w WARMUP] [-c 0|1]

torch.distributed with the gloo backend (Debian's python3-torch), CPU
tensors. Measures what ltcc-perf and mpi_coll measure: float32 sum,
out-of-place for all-gather (all-reduce in torch is in place on its tensor:
the input is refilled outside the timed loop only when checking); a barrier,
ITERS blocking calls, average time per call, maximum over ranks; busbw as in
nccl-tests. GLOO_SOCKET_IFNAME picks the interface (the lab's eth0 or lo).
Prints one CSV row per size on rank 0:
    size,count,type,redop,root,time_us,algbw,busbw,wrong
"""
import argparse
import datetime
import os
import sys
import time

import torch
import torch.distributed as dist


def size_arg(text):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip()
    if text and text[-1].upper() in mult:
        return int(float(text[:-1]) * mult[text[-1].upper()])
    return int(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-t", default="allreduce", choices=["allreduce", "allgather", "alltoall", "sendrecv"])
    p.add_argument("-b", type=size_arg, default=1 << 20)
    p.add_argument("-e", type=size_arg, default=64 << 20)
    p.add_argument("-f", type=int, default=4)
    p.add_argument("-n", type=int, default=20)
    p.add_argument("-w", type=int, default=5)
    p.add_argument("-c", type=int, default=1)
    p.add_argument("--timeout", type=float, default=300, help="gloo's operation timeout, seconds")
    a = p.parse_args()

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=a.timeout))
    rank, n = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)
    if rank == 0:
        print("# gloo_coll %s, %d ranks, float sum, iters %d warmup %d check %d (torch %s)"
              % (a.t, n, a.n, a.w, a.c, torch.__version__))
        print("size,count,type,redop,root,time_us,algbw,busbw,wrong", flush=True)
    nbytes = a.b
    while nbytes <= a.e:
        count = nbytes // 4
        if a.t == "allgather":
            per = count // n
            count = per * n
            send = (torch.arange(per, dtype=torch.int64) % 7 + (rank + 1)).to(torch.float32)
            outs = [torch.empty(per, dtype=torch.float32) for _ in range(n)]
        elif a.t == "alltoall":  # all_to_all_single: block p to rank p
            per = count // n
            count = per * n
            send = (torch.arange(count, dtype=torch.int64) % 7 + (rank + 1) * 10).to(torch.float32)
            recv = torch.empty(count, dtype=torch.float32)
        elif a.t == "sendrecv":  # to rank + 1, from rank - 1, both in flight
            send = (torch.arange(count, dtype=torch.int64) % 7 + (rank + 1) * 10).to(torch.float32)
            recv = torch.empty(count, dtype=torch.float32)
        else:
            base = (torch.arange(count, dtype=torch.int64) % 7 + (rank + 1)).to(torch.float32)
            send = base.clone()
        for it in range(-a.w, a.n):
            if it == 0:
                dist.barrier()
                t0 = time.perf_counter()
            if a.t == "allgather":
                dist.all_gather(outs, send)
            elif a.t == "alltoall":
                dist.all_to_all_single(recv, send)
            elif a.t == "sendrecv":
                works = [dist.irecv(recv, src=(rank - 1) % n), dist.isend(send, dst=(rank + 1) % n)]
                for w in works:
                    w.wait()
            else:
                dist.all_reduce(send)
        us = (time.perf_counter() - t0) * 1e6 / a.n
        t = torch.tensor([us], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        wrong = -1
        if a.c:
            if a.t == "allgather":
                got = torch.cat(outs)
                idx = torch.arange(count, dtype=torch.int64)
                want = ((idx % per) % 7 + idx // per + 1).to(torch.float32)
            elif a.t == "alltoall":
                got = recv
                idx = torch.arange(count, dtype=torch.int64)
                want = ((rank * per + idx % per) % 7 + (idx // per + 1) * 10).to(torch.float32)
            elif a.t == "sendrecv":
                got = recv
                want = (torch.arange(count, dtype=torch.int64) % 7 + ((rank - 1) % n + 1) * 10).to(torch.float32)
            else:
                # The timed calls summed in place; check one clean call.
                send = base.clone()
                dist.all_reduce(send)
                got = send
                want = (torch.arange(count, dtype=torch.int64) % 7 * n + n * (n + 1) // 2).to(torch.float32)
            w = torch.tensor([int((got != want).sum())], dtype=torch.int64)
            dist.all_reduce(w)
            wrong = int(w)
        if rank == 0:
            us_max = float(t)
            algbw = count * 4 / (us_max * 1e-6) / 1e9 if us_max > 0 else 0.0
            f = {"allgather": (n - 1) / n, "alltoall": (n - 1) / n, "sendrecv": 1.0}.get(a.t, 2 * (n - 1) / n)
            print("%d,%d,float,%s,-1,%.2f,%.4f,%.4f,%d" % (count * 4, count, "sum" if a.t == "allreduce" else "none",
                                                       us_max, algbw, algbw * f, wrong), flush=True)
        if nbytes > a.e // a.f:
            break
        nbytes *= a.f
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
