#!/usr/bin/env python3
"""The ltcc torch.distributed backend against gloo, on N local ranks.

Every rank creates the default group with backend "ltcc" and a second group
with backend "gloo" over the same ranks, runs each collective on the same
inputs in both, and compares:
  - all_reduce: every dtype x op (SUM, AVG, PRODUCT, MIN, MAX) x sizes
  - all_gather (list), all_gather_into_tensor/_all_gather_base
  - reduce_scatter (list), reduce_scatter_tensor/_reduce_scatter_base
  - broadcast from every root, barrier (it must really wait), async work
    (wait, is_completed, get_future), DDP gradients, and the errors for
    what is refused
  - send/recv/isend/irecv and batch_isend_irecv (ring shifts, 300 in
    flight), reduce (every dtype x op, BAND/BOR/BXOR on integers), gather,
    scatter, all_to_all_single (equal blocks, uneven splits with empty
    ones), all_to_all (lists), coalesced all_reduce/all_gather, and a
    per-call timeout; with --device cuda these calls again on CUDA tensors
    (check_issue17_cuda: equal to the CPU-tensor results, a CUDA send into
    a CPU receive, a future's CUDA value).
With --peer-death instead: the last rank crashes after a barrier, and the
others' next all_reduce must fail (is_completed() turns true, wait() raises
ltcc's sentence naming the operation) within about the group's timeout.

--device cuda: every collective above also runs on CUDA copies of the same
inputs (staged through pinned host memory by the backend) and each result
must equal the CPU-tensor ltcc result bitwise, random floats included (CPU
and CUDA all-reduces are split into the same chunks); plus async work on
CUDA (wait() orders the current stream, is_completed(), get_future() and
then(), a producer on a side stream that the copy-in must wait for), DDP
with the model on the GPU against DDP over gloo on the CPU, refusals, and
(torch >= 2.1) the device-backend map "cpu:gloo,cuda:ltcc". Without CUDA
it exits 77 (skipped) with the reason. --peer-death --device cuda: the
dying rank breaks a CUDA all_reduce.
The all_reduce grid runs with a 64 KiB chunk (ltcc_torch.set_chunk_bytes),
so its large cases span several ltcc calls (and, on CUDA, the pipeline).
Inputs are small integers, so every dtype's result is exact whatever the
reduction order and is compared with torch.equal. A random float32/float64
case compares with a tolerance instead: ltcc's ring adds in another order
than gloo. Every result is also checked against a reference computed locally
from all ranks' inputs (each rank can regenerate them); where gloo refuses a
case (1.13's gloo has no AVG, no reduce_scatter, no _allgather_base, no
bfloat16) the gloo side is composed from what it has (SUM, all_gather,
all_reduce) or, failing that, only the local reference is used, and the
summary says how many checks that was.

Usage: PYTHONPATH=<build>/integrations/torch/python test_backend.py --world-size 4 [--device cuda]
Exit 0: passed; 1: failed; 77: skipped (the reason is printed).
"""
import argparse
import datetime
import os
import socket
import sys
import time
import traceback
import zlib

SKIP = 77

DTYPES = None  # filled in once torch is imported
OPS = ("SUM", "AVG", "PRODUCT", "MIN", "MAX")
SIZES = (1, 7, 1000, 70000)  # 70000 x 4 B crosses the recursive-doubling/ring switch
SMALL_CHUNK = 64 << 10  # all_reduce grid: 70000 elements span 5 (4 B) or 9 (8 B) chunks


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Checker:
    def __init__(self, rank):
        self.rank = rank
        self.failures = []
        self.checks = 0
        self.vs_gloo = 0
        self.local_only = {}
        self.notes = []  # what was not checked here, and why

    def expect(self, ok, what):
        self.checks += 1
        if not ok:
            self.failures.append(what)

    def same(self, got, want, what, exact=True, rtol=1e-5, atol=1e-6):
        import torch
        if got.dtype != want.dtype or got.shape != want.shape:
            self.expect(False, "%s: got %s %s, want %s %s" % (what, got.dtype, tuple(got.shape),
                                                            want.dtype, tuple(want.shape)))
            return
        if exact:
            ok = torch.equal(got, want)
        else:
            ok = torch.allclose(got.double(), want.double(), rtol=rtol, atol=atol)
        if not ok:
            diff = (got.double() - want.double()).abs()
            idx = int(diff.argmax())
            what = "%s: differs (max |diff| %g at %d: got %s want %s)" % (
                what, float(diff.max()), idx, got.flatten()[idx].item(), want.flatten()[idx].item())
        self.expect(ok, what)


def make_input(torch, case, rank, n, dtype, op):
    """Rank `rank`'s input for a case: small integers, exact in every dtype."""
    # zlib.crc32, not hash(): str hashes differ between processes
    g = torch.Generator().manual_seed(zlib.crc32(repr((case, rank)).encode()))
    unsigned = dtype == torch.uint8
    if op == "PRODUCT":
        choices = torch.tensor([1, 2, 3] if unsigned else [-2, -1, 1, 2], dtype=torch.int64)
        v = choices[torch.randint(0, len(choices), (n,), generator=g)]
    elif op in ("MIN", "MAX"):
        v = torch.randint(0 if unsigned else -100, 101, (n,), generator=g)
    else:
        v = torch.randint(0 if unsigned else -8, 9, (n,), generator=g)
    return v.to(dtype)


def reference(torch, inputs, op, dtype, ws):
    """The exact result from every rank's input (int64/float64, then cast)."""
    floating = dtype.is_floating_point
    wide = [x.to(torch.float64 if floating else torch.int64) for x in inputs]
    stack = torch.stack(wide)
    if op in ("SUM", "AVG"):
        r = stack.sum(0)
        if op == "AVG":
            r = r / ws if floating else torch.div(r, ws, rounding_mode="trunc")
    elif op == "PRODUCT":
        r = stack.prod(0)
    elif op == "MIN":
        r = stack.min(0).values
    else:
        r = stack.max(0).values
    return r.to(dtype)


def gloo_allreduce(torch, dist, gloo, x, op, ws):
    """Gloo's all_reduce of x with op, or None when gloo refuses the case.
    1.13's gloo has no AVG: SUM, then divided as ltcc documents."""
    try:
        y = x.clone()
        dist.all_reduce(y, op=dist.ReduceOp.SUM if op == "AVG" else getattr(dist.ReduceOp, op),
                        group=gloo)
    except RuntimeError:
        return None
    if op == "AVG":
        y = (y / ws).to(x.dtype) if x.dtype.is_floating_point else torch.div(y, ws, rounding_mode="trunc")
    return y


def rank_device(torch, device, rank):
    """None for CPU-only runs, else this rank's GPU (ranks spread over the GPUs)."""
    if device != "cuda":
        return None
    gpu = torch.device("cuda", rank % torch.cuda.device_count())
    torch.cuda.set_device(gpu)
    return gpu


def run_rank(rank, ws, port, device):
    import torch
    import torch.distributed as dist
    import ltcc_torch  # registers "ltcc"

    torch.set_num_threads(1)
    gpu = rank_device(torch, device, rank)
    dtypes = [torch.float32, torch.float64, torch.float16, torch.bfloat16,
              torch.int32, torch.int64, torch.int8, torch.uint8]
    dist.init_process_group("ltcc", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                            world_size=ws, timeout=datetime.timedelta(seconds=60))
    gloo = dist.new_group(backend="gloo")
    assert dist.get_backend() == "ltcc", dist.get_backend()
    c = Checker(rank)

    def note_local_only(kind):
        c.local_only[kind] = c.local_only.get(kind, 0) + 1

    # ---- all_reduce: dtype x op x size -----------------------------------
    default_chunk = ltcc_torch.set_chunk_bytes(SMALL_CHUNK)
    for dtype in dtypes:
        for op in OPS:
            for n in SIZES:
                if n == SIZES[-1] and dtype not in (torch.float32, torch.int64):
                    continue  # the large size once per kind (float, int) is enough
                case = ("allreduce", str(dtype), op, n)
                inputs = [make_input(torch, case, r, n, dtype, op) for r in range(ws)]
                x = inputs[rank]
                got = x.clone()
                dist.all_reduce(got, op=getattr(dist.ReduceOp, op))
                what = "all_reduce %s %s n=%d" % (dtype, op, n)
                c.same(got, reference(torch, inputs, op, dtype, ws), what + " vs reference")
                want = gloo_allreduce(torch, dist, gloo, x, op, ws)
                if want is None:
                    note_local_only("all_reduce %s" % dtype)
                else:
                    c.vs_gloo += 1
                    c.same(got, want, what + " vs gloo")
                if gpu is not None:
                    on_gpu = x.to(gpu)
                    dist.all_reduce(on_gpu, op=getattr(dist.ReduceOp, op))
                    c.same(on_gpu.cpu(), got, what + " cuda vs cpu")
    ltcc_torch.set_chunk_bytes(default_chunk)

    # Random floats: ltcc's reduction order is not gloo's; compare with a
    # tolerance. CUDA against CPU: bitwise, in several chunks and in one.
    for chunk in (SMALL_CHUNK, default_chunk):
        ltcc_torch.set_chunk_bytes(chunk)
        for dtype, rtol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
            g = torch.Generator().manual_seed(1000 + rank)
            x = torch.randn(100003, generator=g, dtype=dtype)
            got = x.clone()
            dist.all_reduce(got)
            what = "all_reduce random %s SUM, chunk %d" % (dtype, chunk)
            want = x.clone()
            dist.all_reduce(want, group=gloo)
            c.vs_gloo += 1
            c.same(got, want, what + " vs gloo (tolerance)", exact=False, rtol=rtol, atol=rtol)
            if gpu is not None:
                on_gpu = x.to(gpu)
                dist.all_reduce(on_gpu)
                c.same(on_gpu.cpu(), got, what + " cuda vs cpu (bitwise)")
    ltcc_torch.set_chunk_bytes(default_chunk)

    # ---- all_gather (list) and into one tensor ------------------------------
    all_gather_into = getattr(dist, "all_gather_into_tensor", None) or dist._all_gather_base
    for dtype in dtypes:
        for n in SIZES[:3]:
            case = ("allgather", str(dtype), n)
            inputs = [make_input(torch, case, r, n, dtype, "SUM").reshape(1, n) for r in range(ws)]
            x = inputs[rank]
            got = [torch.full((1, n), 99, dtype=dtype) for _ in range(ws)]
            dist.all_gather(got, x)
            what = "all_gather %s n=%d" % (dtype, n)
            for r in range(ws):
                c.same(got[r], inputs[r], "%s slot %d vs reference" % (what, r))
            want = [torch.zeros((1, n), dtype=dtype) for _ in range(ws)]
            try:
                dist.all_gather(want, x, group=gloo)
            except RuntimeError:
                want = None
                note_local_only("all_gather %s" % dtype)
            if want is not None:
                c.vs_gloo += 1
                for r in range(ws):
                    c.same(got[r], want[r], "%s slot %d vs gloo" % (what, r))
                want_flat = torch.cat(want)
            else:
                want_flat = torch.cat(inputs)
            out = torch.full((ws, n), 99, dtype=dtype)
            all_gather_into(out, x)
            c.same(out, want_flat, "all_gather_into_tensor %s n=%d vs %s" % (
                dtype, n, "gloo's all_gather" if want is not None else "reference"))
            if gpu is not None:
                got_gpu = [torch.full((1, n), 99, dtype=dtype, device=gpu) for _ in range(ws)]
                dist.all_gather(got_gpu, x.to(gpu))
                for r in range(ws):
                    c.same(got_gpu[r].cpu(), got[r], "%s slot %d cuda vs cpu" % (what, r))
                out_gpu = torch.full((ws, n), 99, dtype=dtype, device=gpu)
                all_gather_into(out_gpu, x.to(gpu))
                c.same(out_gpu.cpu(), out, "all_gather_into_tensor %s n=%d cuda vs cpu" % (dtype, n))

    # ---- reduce_scatter (list) and from one tensor --------------------------
    # 1.13's gloo has no reduce_scatter: the gloo side is all_reduce of the
    # whole input, then this rank's chunk.
    reduce_scatter_from = (getattr(dist, "reduce_scatter_tensor", None)
                           or dist._reduce_scatter_base)
    for dtype in dtypes:
        for op in OPS:
            for n in SIZES[:3]:
                case = ("reducescatter", str(dtype), op, n)
                inputs = [make_input(torch, case, r, n * ws, dtype, op) for r in range(ws)]
                x = inputs[rank]
                ref = reference(torch, inputs, op, dtype, ws)[rank * n:(rank + 1) * n]
                what = "reduce_scatter %s %s n=%d" % (dtype, op, n)
                got = torch.full((n,), 99, dtype=dtype)
                dist.reduce_scatter(got, list(x.chunk(ws)), op=getattr(dist.ReduceOp, op))
                c.same(got, ref, what + " vs reference")
                got2 = torch.full((n,), 99, dtype=dtype)
                reduce_scatter_from(got2, x, op=getattr(dist.ReduceOp, op))
                c.same(got2, ref, "reduce_scatter_tensor %s %s n=%d vs reference" % (dtype, op, n))
                if gpu is not None:
                    got_gpu = torch.full((n,), 99, dtype=dtype, device=gpu)
                    dist.reduce_scatter(got_gpu, list(x.to(gpu).chunk(ws)),
                                        op=getattr(dist.ReduceOp, op))
                    c.same(got_gpu.cpu(), got, what + " cuda vs cpu")
                    got2_gpu = torch.full((n,), 99, dtype=dtype, device=gpu)
                    reduce_scatter_from(got2_gpu, x.to(gpu), op=getattr(dist.ReduceOp, op))
                    c.same(got2_gpu.cpu(), got2,
                           "reduce_scatter_tensor %s %s n=%d cuda vs cpu" % (dtype, op, n))
                full = gloo_allreduce(torch, dist, gloo, x, op, ws)
                if full is None:
                    note_local_only("reduce_scatter %s" % dtype)
                else:
                    c.vs_gloo += 1
                    want = full[rank * n:(rank + 1) * n]
                    c.same(got, want, what + " vs gloo all_reduce chunk")
                    c.same(got2, want, "reduce_scatter_tensor %s %s n=%d vs gloo" % (dtype, op, n))

    # ---- broadcast from every root ----------------------------------------
    for dtype in dtypes:
        for root in range(ws):
            n = 1000
            case = ("broadcast", str(dtype), root)
            inputs = [make_input(torch, case, r, n, dtype, "MAX") for r in range(ws)]
            got = inputs[rank].clone()
            dist.broadcast(got, src=root)
            what = "broadcast %s root %d" % (dtype, root)
            c.same(got, inputs[root], what + " vs reference")
            if gpu is not None:
                got_gpu = inputs[rank].to(gpu)
                dist.broadcast(got_gpu, src=root)
                c.same(got_gpu.cpu(), got, what + " cuda vs cpu")
            want = inputs[rank].clone()
            try:
                dist.broadcast(want, src=root, group=gloo)
                c.vs_gloo += 1
                c.same(got, want, what + " vs gloo")
            except RuntimeError:
                note_local_only("broadcast %s" % dtype)

    # ---- barrier: nobody leaves before the last one arrives ------------------
    dist.barrier(group=gloo)
    if rank == ws - 1:
        time.sleep(0.5)
    t0 = time.monotonic()
    dist.barrier()
    waited = time.monotonic() - t0
    if rank != ws - 1:
        c.expect(waited >= 0.4, "barrier returned after %.3f s, before rank %d arrived (0.5 s late)"
                 % (waited, ws - 1))

    # ---- async work: wait, is_completed, result, get_future -----------------
    x = torch.full((50000,), float(rank + 1))
    work = dist.all_reduce(x, async_op=True)
    c.expect(work.wait() is True, "async all_reduce: wait() did not return True")
    c.expect(work.is_completed(), "async all_reduce: not is_completed() after wait()")
    c.same(x, torch.full((50000,), float(ws * (ws + 1) // 2)), "async all_reduce result")
    y = torch.full((50000,), float(rank + 1))
    work = dist.all_reduce(y, async_op=True)
    deadline = time.monotonic() + 30
    while not work.is_completed() and time.monotonic() < deadline:
        time.sleep(0.001)
    c.expect(work.is_completed(), "async all_reduce: is_completed() never became true")
    c.same(y, torch.full((50000,), float(ws * (ws + 1) // 2)), "polled async all_reduce result")
    z = torch.full((1000,), float(rank))
    fut = dist.all_reduce(z, async_op=True).get_future()
    value = fut.wait()
    c.same(value[0], torch.full((1000,), float(ws * (ws - 1) // 2)), "get_future() value")
    # several in flight at once, completed in any order
    bufs = [torch.full((3000,), float(rank + i)) for i in range(8)]
    works = [dist.all_reduce(b, async_op=True) for b in bufs]
    for w in reversed(works):
        w.wait()
    for i, b in enumerate(bufs):
        c.same(b, torch.full((3000,), float(ws * (ws - 1) // 2 + ws * i)),
               "in-flight all_reduce #%d" % i)
    if gpu is not None:
        check_cuda_async(torch, dist, c, gpu, rank, ws)

    # ---- DDP (its comm hook uses get_future): gradients as with gloo ----------
    # (--device cuda: the ltcc model on the GPU, gloo's on the CPU)
    from torch.nn.parallel import DistributedDataParallel as DDP
    grads = []
    for group, where in ((None, gpu), (gloo, None)):
        torch.manual_seed(0)  # same initial weights on every rank and for both groups
        model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
        g = torch.Generator().manual_seed(77 + rank)
        data = torch.randn(8, 16, generator=g)
        if where is not None:
            model, data = model.to(where), data.to(where)
            ddp = DDP(model, process_group=group, device_ids=[where.index])
        else:
            ddp = DDP(model, process_group=group)
        ddp(data).square().sum().backward()
        grads.append([p.grad.cpu() for p in model.parameters()])
    for i, (a, b) in enumerate(zip(*grads)):
        c.vs_gloo += 1
        c.same(a, b, "DDP gradient %d vs gloo DDP (tolerance)" % i, exact=False, rtol=1e-4,
               atol=1e-5)

    check_issue17_calls(torch, dist, c, gloo, rank, ws, note_local_only)
    if gpu is not None:
        check_issue17_cuda(torch, dist, c, gpu, rank, ws)

    # ---- what is refused, with a message that names it -----------------------
    pg = dist.distributed_c10d._get_default_group()

    def refused(fn, needle, what):
        try:
            fn()
        except RuntimeError as e:
            c.expect(needle in str(e), "%s: message %r lacks %r" % (what, str(e)[:300], needle))
            return
        c.expect(False, "%s: was not refused" % what)

    refused(lambda: dist.all_reduce(torch.zeros(4, dtype=torch.bool)), "unsupported tensor dtype",
            "bool all_reduce")
    refused(lambda: dist.all_reduce(torch.zeros(4, 4)[:, 0]), "not contiguous",
            "non-contiguous all_reduce")
    refused(lambda: dist.all_reduce(torch.zeros(4), op=dist.ReduceOp.BAND),
            "needs an integer type", "BAND all_reduce of float32")
    refused(lambda: dist.recv(torch.zeros(4)), "any source", "recv from any source")
    refused(lambda: dist.send(torch.zeros(4), dst=rank), "is this process", "send to oneself")
    refused(lambda: pg.allreduce([torch.zeros(4), torch.zeros(4)]).wait(), "exactly one",
            "two-tensor allreduce")
    if gpu is not None:
        refused(lambda: dist.all_reduce(torch.zeros(4, dtype=torch.bool, device=gpu)),
                "unsupported tensor dtype", "bool cuda all_reduce")
        refused(lambda: dist.all_reduce(torch.zeros(4, 4, device=gpu)[:, 0]), "not contiguous",
                "non-contiguous cuda all_reduce")
        refused(lambda: dist.all_gather([torch.zeros(4) for _ in range(ws)],
                                        torch.zeros(4, device=gpu)),
                "one device per call", "all_gather of a cuda input into cpu outputs")
    # still usable afterwards
    after = torch.ones(10)
    dist.all_reduce(after)
    c.same(after, torch.full((10,), float(ws)), "all_reduce after refused calls")
    if gpu is not None:
        after = torch.ones(10, device=gpu)
        dist.all_reduce(after)
        c.same(after.cpu(), torch.full((10,), float(ws)), "cuda all_reduce after refused calls")
        check_device_map(torch, dist, ltcc_torch, c, gpu, rank, ws)

    # ---- tally: every rank learns the total ----------------------------------
    for f in c.failures[:20]:
        print("rank %d FAIL: %s" % (rank, f), flush=True)
    tally = torch.tensor([len(c.failures), c.checks], dtype=torch.int64)
    dist.all_reduce(tally, group=gloo)
    if rank == 0:
        print("ltcc torch backend, %d ranks, %s tensors: %d checks, %d failed; %d cases also "
              "compared with gloo on rank 0" % (ws, device, int(tally[1]), int(tally[0]), c.vs_gloo),
              flush=True)
        for note in c.notes:
            print("  " + note, flush=True)
        for kind, count in sorted(c.local_only.items()):
            print("  gloo refused %d %s case(s): checked against the local reference only"
                  % (count, kind), flush=True)
    dist.destroy_process_group(gloo)
    dist.destroy_process_group()
    if int(tally[0]) != 0:
        raise SystemExit(1)


def check_issue17_calls(torch, dist, c, gloo, rank, ws, note_local_only):
    """send/recv/isend/irecv, batch_isend_irecv, reduce, gather, scatter,
    all_to_all_single (equal and uneven splits, empty blocks), all_to_all,
    coalesced all_reduce/all_gather, BAND/BOR/BXOR, a per-call timeout: each
    against a local reference and, where gloo has the call, against gloo on
    the same inputs."""
    dtypes = [torch.float32, torch.float64, torch.float16, torch.bfloat16,
              torch.int32, torch.int64, torch.int8, torch.uint8]
    right, left = (rank + 1) % ws, (rank - 1) % ws

    def inputs_of(case, n, dtype, op="SUM"):
        return [make_input(torch, case, r, n, dtype, op) for r in range(ws)]

    # send/recv (blocking), isend/irecv, batch_isend_irecv: ring shifts
    for dtype in (torch.float32, torch.int64, torch.bfloat16, torch.uint8):
        for n in (1, 1000, 70000):
            ins = inputs_of(("p2p", str(dtype), n), n, dtype)
            got = torch.zeros(n, dtype=dtype)
            if rank % 2 == 0:  # blocking, ordered so that no pair waits on itself
                dist.send(ins[rank], dst=right, tag=3)
                dist.recv(got, src=left, tag=3)
            else:
                dist.recv(got, src=left, tag=3)
                dist.send(ins[rank], dst=right, tag=3)
            c.same(got, ins[left], "send/recv %s n=%d from the left" % (dtype, n))
            back = torch.zeros(n, dtype=dtype)
            reqs = [dist.irecv(back, src=right, tag=4), dist.isend(ins[rank], dst=left, tag=4)]
            for w in reqs:
                w.wait()
            c.same(back, ins[right], "isend/irecv %s n=%d from the right" % (dtype, n))
            both = [torch.zeros(n, dtype=dtype), torch.zeros(n, dtype=dtype)]
            ops = [dist.P2POp(dist.isend, ins[rank], right), dist.P2POp(dist.irecv, both[0], left),
                   dist.P2POp(dist.isend, ins[rank], left), dist.P2POp(dist.irecv, both[1], right)]
            for w in dist.batch_isend_irecv(ops):
                w.wait()
            c.same(both[0], ins[left], "batch_isend_irecv %s n=%d from the left" % (dtype, n))
            c.same(both[1], ins[right], "batch_isend_irecv %s n=%d from the right" % (dtype, n))
            if dtype != torch.bfloat16:  # 1.13's gloo: no bfloat16
                g_got = torch.zeros(n, dtype=dtype)
                reqs = [dist.irecv(g_got, src=left, tag=3, group=gloo),
                        dist.isend(ins[rank], dst=right, tag=3, group=gloo)]
                for w in reqs:
                    w.wait()
                c.vs_gloo += 1
                c.same(got, g_got, "send/recv %s n=%d vs gloo" % (dtype, n))
    # many in flight at once, both directions
    outs = [torch.full((17,), float(rank * 1000 + i)) for i in range(300)]
    ins_l = [torch.zeros(17) for _ in range(300)]
    works = [dist.irecv(t, src=left, tag=9) for t in ins_l]
    works += [dist.isend(t, dst=right, tag=9) for t in outs]
    for w in works:
        w.wait()
    c.expect(all(float(t[0]) == float(left * 1000 + i) for i, t in enumerate(ins_l)),
             "300 isend/irecv in flight: messages out of order or wrong")

    # reduce to every root, every dtype x op (and the bitwise ones on ints)
    for dtype in dtypes:
        ops = list(OPS) + (["BAND", "BOR", "BXOR"] if not dtype.is_floating_point else [])
        for op in ops:
            root = (zlib.crc32(op.encode()) + dtypes.index(dtype)) % ws
            case = ("reduce", str(dtype), op)
            ins = inputs_of(case, 501, dtype, op if op in OPS else "SUM")
            got = ins[rank].clone()
            red = getattr(dist.ReduceOp, op)
            dist.reduce(got, dst=root, op=red)
            what = "reduce %s %s root %d" % (dtype, op, root)
            if rank == root:
                if op in OPS:
                    c.same(got, reference(torch, ins, op, dtype, ws), what + " vs reference")
            else:
                c.same(got, ins[rank], what + ": a non-root's tensor changed")
            want = ins[rank].clone()
            try:
                dist.reduce(want, dst=root, op=dist.ReduceOp.SUM if op == "AVG" else red, group=gloo)
            except RuntimeError:
                want = None
            if want is None or op == "AVG" or rank != root:
                if want is None:
                    note_local_only("reduce %s" % dtype)
                continue
            c.vs_gloo += 1
            c.same(got, want, what + " vs gloo")
        for op in ("BAND", "BOR", "BXOR") if not dtype.is_floating_point else ():
            ins = inputs_of(("bitwise", str(dtype), op), 333, dtype, "MAX")
            got = ins[rank].clone()
            dist.all_reduce(got, op=getattr(dist.ReduceOp, op))
            want = ins[0].clone()
            for r in range(1, ws):
                want = {"BAND": torch.bitwise_and, "BOR": torch.bitwise_or,
                        "BXOR": torch.bitwise_xor}[op](want, ins[r])
            c.same(got, want, "all_reduce %s %s vs reference" % (dtype, op))
            g = ins[rank].clone()
            dist.all_reduce(g, op=getattr(dist.ReduceOp, op), group=gloo)
            c.vs_gloo += 1
            c.same(got, g, "all_reduce %s %s vs gloo" % (dtype, op))

    # gather and scatter from every root
    for dtype in dtypes:
        for root in range(ws):
            ins = inputs_of(("gather", str(dtype), root), 77, dtype)
            lst = [torch.zeros(77, dtype=dtype) for _ in range(ws)] if rank == root else None
            dist.gather(ins[rank], gather_list=lst, dst=root)
            if rank == root:
                for r in range(ws):
                    c.same(lst[r], ins[r], "gather %s root %d slot %d" % (dtype, root, r))
            parts = inputs_of(("scatter", str(dtype), root), 55, dtype)
            out = torch.zeros(55, dtype=dtype)
            dist.scatter(out, scatter_list=parts if rank == root else None, src=root)
            c.same(out, parts[rank], "scatter %s root %d" % (dtype, root))
            if dtype == torch.bfloat16:
                continue
            g_out = torch.zeros(55, dtype=dtype)
            dist.scatter(g_out, scatter_list=parts if rank == root else None, src=root, group=gloo)
            c.vs_gloo += 1
            c.same(out, g_out, "scatter %s root %d vs gloo" % (dtype, root))

    # all_to_all_single: equal blocks, then uneven splits with empty blocks
    for dtype in dtypes:
        ins = inputs_of(("a2a", str(dtype)), 6 * ws, dtype).copy()
        got = torch.zeros(6 * ws, dtype=dtype)
        dist.all_to_all_single(got, ins[rank])
        want = torch.cat([ins[p][6 * rank:6 * rank + 6] for p in range(ws)])
        c.same(got, want, "all_to_all_single %s equal blocks" % dtype)
        # rank i sends rank j (i + 2 j) % 3 rows of 4 elements (0 for some pairs)
        rows = lambda i, j: (i + 2 * j) % 3
        in_split = [rows(rank, j) for j in range(ws)]
        out_split = [rows(j, rank) for j in range(ws)]
        src = make_input(torch, ("a2av", str(dtype)), rank, 4 * sum(in_split), dtype, "SUM")
        src = src.reshape(sum(in_split), 4)
        dst = torch.zeros(sum(out_split), 4, dtype=dtype)
        dist.all_to_all_single(dst, src, output_split_sizes=out_split, input_split_sizes=in_split)
        pieces = []
        for j in range(ws):
            theirs = make_input(torch, ("a2av", str(dtype)), j, 4 * sum(rows(j, k) for k in range(ws)),
                                dtype, "SUM").reshape(-1, 4)
            start = sum(rows(j, k) for k in range(rank))
            pieces.append(theirs[start:start + rows(j, rank)])
        c.same(dst, torch.cat(pieces), "all_to_all_single %s uneven splits" % dtype)
        if dtype in (torch.float32, torch.int64):
            g_dst = torch.zeros_like(dst)
            dist.all_to_all_single(g_dst, src, output_split_sizes=out_split,
                                   input_split_sizes=in_split, group=gloo)
            c.vs_gloo += 1
            c.same(dst, g_dst, "all_to_all_single %s uneven splits vs gloo" % dtype)
    # all_to_all (lists, a different length per peer)
    in_list = [torch.full((rank + p + 1,), float(rank * 10 + p)) for p in range(ws)]
    out_list = [torch.zeros(p + rank + 1) for p in range(ws)]
    dist.all_to_all(out_list, in_list)
    for p in range(ws):
        c.same(out_list[p], torch.full((p + rank + 1,), float(p * 10 + rank)),
               "all_to_all list block from rank %d" % p)

    # coalesced calls
    ts = [torch.full((n,), float(rank + 1)) for n in (3, 5000, 1)]
    if hasattr(dist, "all_reduce_coalesced"):
        dist.all_reduce_coalesced(ts)
        for t in ts:
            c.same(t, torch.full_like(t, float(ws * (ws + 1) // 2)), "all_reduce_coalesced")
    if hasattr(dist, "all_gather_coalesced"):
        outs = [[torch.zeros(2) for _ in range(ws)], [torch.zeros(3) for _ in range(ws)]]
        dist.all_gather_coalesced(outs, [torch.full((2,), float(rank)), torch.full((3,), rank + 0.5)])
        for r in range(ws):
            c.same(outs[0][r], torch.full((2,), float(r)), "all_gather_coalesced first, slot %d" % r)
            c.same(outs[1][r], torch.full((3,), r + 0.5), "all_gather_coalesced second, slot %d" % r)

    # a per-call timeout: the last rank is 1.5 s late into a reduce whose
    # options say 300 ms; the root's wait() gives up, a wait with its own
    # timeout then completes it
    pg = dist.distributed_c10d._get_default_group()
    opts = dist.ReduceOptions()
    opts.rootRank = 0
    opts.timeout = datetime.timedelta(milliseconds=300)
    x = torch.ones(10)
    dist.barrier(group=gloo)
    if rank == ws - 1:
        time.sleep(1.5)
    work = pg.reduce([x], opts)
    if rank == 0:
        try:
            work.wait()
            c.expect(False, "reduce with a 300 ms timeout, a rank 1.5 s late: wait() did not time out")
        except RuntimeError as e:
            c.expect("timed out" in str(e), "per-call timeout: message %r" % str(e)[:200])
    work.wait(datetime.timedelta(seconds=60))
    if rank == 0:
        c.same(x, torch.full((10,), float(ws)), "reduce after its per-call timeout")


def check_issue17_cuda(torch, dist, c, gpu, rank, ws):
    """The calls of issue 17 on CUDA tensors (staged through pinned host
    memory on the caller's thread): every result bitwise equal to the same
    call on CPU tensors (or the exact reference), and a CUDA send met by a
    CPU receive (both run on the group's first communicator)."""
    right, left = (rank + 1) % ws, (rank - 1) % ws
    cpu = torch.device("cpu")

    def inputs_of(case, n, dtype, op="SUM"):
        return [make_input(torch, case, r, n, dtype, op) for r in range(ws)]

    for dtype in (torch.float32, torch.bfloat16, torch.int64, torch.uint8):
        for n in (1, 70000):
            ins = inputs_of(("cuda-p2p", str(dtype), n), n, dtype)
            got = torch.zeros(n, dtype=dtype, device=gpu)
            reqs = [dist.irecv(got, src=left, tag=6), dist.isend(ins[rank].to(gpu), dst=right, tag=6)]
            for w in reqs:
                w.wait()
            c.same(got.cpu(), ins[left], "cuda isend/irecv %s n=%d from the left" % (dtype, n))
            both = [torch.zeros(n, dtype=dtype, device=gpu), torch.zeros(n, dtype=dtype)]
            ops = [dist.P2POp(dist.isend, ins[rank].to(gpu), right),
                   dist.P2POp(dist.irecv, both[0], left),
                   dist.P2POp(dist.isend, ins[rank].to(gpu), left),
                   dist.P2POp(dist.irecv, both[1], right)]  # a CPU receive meets a CUDA send
            for w in dist.batch_isend_irecv(ops):
                w.wait()
            c.same(both[0].cpu(), ins[left], "cuda batch_isend_irecv %s n=%d from the left" % (dtype, n))
            c.same(both[1], ins[right], "cuda send into a cpu recv %s n=%d" % (dtype, n))
            # a blocking receive: the tensor holds the data when recv returns
            got = torch.zeros(n, dtype=dtype, device=gpu)
            if rank % 2 == 0:
                dist.send(ins[rank].to(gpu), dst=right, tag=7)
                dist.recv(got, src=left, tag=7)
            else:
                dist.recv(got, src=left, tag=7)
                dist.send(ins[rank].to(gpu), dst=right, tag=7)
            c.same(got.cpu(), ins[left], "cuda send/recv %s n=%d" % (dtype, n))

    for dtype in (torch.float32, torch.float16, torch.int32, torch.int8):
        for op in ("SUM", "MAX"):
            root = (ws - 1) if op == "SUM" else 0
            ins = inputs_of(("cuda-reduce", str(dtype), op), 1001, dtype, op)
            on_cpu = ins[rank].clone()
            dist.reduce(on_cpu, dst=root, op=getattr(dist.ReduceOp, op))
            on_gpu = ins[rank].to(gpu)
            dist.reduce(on_gpu, dst=root, op=getattr(dist.ReduceOp, op))
            c.same(on_gpu.cpu(), on_cpu, "cuda reduce %s %s root %d vs cpu" % (dtype, op, root))
            if rank != root:
                c.same(on_gpu.cpu(), ins[rank], "cuda reduce: a non-root's tensor changed")
        ins = inputs_of(("cuda-gather", str(dtype)), 333, dtype)
        for root in (0, ws - 1):
            lst = [torch.zeros(333, dtype=dtype, device=gpu) for _ in range(ws)] if rank == root else None
            dist.gather(ins[rank].to(gpu), gather_list=lst, dst=root)
            if rank == root:
                for r in range(ws):
                    c.same(lst[r].cpu(), ins[r], "cuda gather %s root %d slot %d" % (dtype, root, r))
            out = torch.zeros(333, dtype=dtype, device=gpu)
            dist.scatter(out, scatter_list=[t.to(gpu) for t in ins] if rank == root else None, src=root)
            c.same(out.cpu(), ins[rank], "cuda scatter %s root %d" % (dtype, root))
        # all_to_all_single, uneven splits with empty blocks; all_to_all lists
        rows = lambda i, j: (i + 2 * j) % 3
        in_split = [rows(rank, j) for j in range(ws)]
        out_split = [rows(j, rank) for j in range(ws)]
        src = make_input(torch, ("cuda-a2av", str(dtype)), rank, 4 * sum(in_split), dtype, "SUM")
        src = src.reshape(-1, 4)
        want = torch.zeros(sum(out_split), 4, dtype=dtype)
        dist.all_to_all_single(want, src, output_split_sizes=out_split, input_split_sizes=in_split)
        got = torch.zeros(sum(out_split), 4, dtype=dtype, device=gpu)
        dist.all_to_all_single(got, src.to(gpu), output_split_sizes=out_split,
                               input_split_sizes=in_split)
        c.same(got.cpu(), want, "cuda all_to_all_single %s uneven splits vs cpu" % dtype)
        in_list = [torch.full((rank + p + 1,), rank * 10 + p, dtype=dtype, device=gpu) for p in range(ws)]
        out_list = [torch.zeros(p + rank + 1, dtype=dtype, device=gpu) for p in range(ws)]
        dist.all_to_all(out_list, in_list)
        for p in range(ws):
            c.same(out_list[p].cpu(), torch.full((p + rank + 1,), p * 10 + rank, dtype=dtype),
                   "cuda all_to_all %s block from rank %d" % (dtype, p))

    # coalesced, and an async work's future (its value holds the CUDA tensors)
    ts = [torch.full((n,), float(rank + 1), device=gpu) for n in (3, 5000, 1)]
    if hasattr(dist, "all_reduce_coalesced"):
        dist.all_reduce_coalesced(ts)
        for t in ts:
            c.same(t.cpu(), torch.full((t.numel(),), float(ws * (ws + 1) // 2)),
                   "cuda all_reduce_coalesced")
    if hasattr(dist, "all_gather_coalesced"):
        outs = [[torch.zeros(2, device=gpu) for _ in range(ws)]]
        dist.all_gather_coalesced(outs, [torch.full((2,), float(rank), device=gpu)])
        for r in range(ws):
            c.same(outs[0][r].cpu(), torch.full((2,), float(r)), "cuda all_gather_coalesced slot %d" % r)
    x = torch.full((4096,), float(rank), device=gpu)
    y = torch.zeros(4096, device=gpu)
    dst_split = [4096 // ws] * (ws - 1) + [4096 - (4096 // ws) * (ws - 1)]
    fut = dist.all_to_all_single(y, x, output_split_sizes=dst_split, input_split_sizes=dst_split,
                                 async_op=True).get_future()
    value = fut.wait()
    c.expect(len(value) == 1 and value[0].device == gpu,
             "cuda all_to_all_single future: value %r" % ([str(v.device) for v in value],))
    start = 0
    for p in range(ws):
        c.same(y[start:start + dst_split[p]].to(cpu), torch.full((dst_split[p],), float(p)),
               "cuda all_to_all_single future: block from rank %d" % p)
        start += dst_split[p]


def check_cuda_async(torch, dist, c, gpu, rank, ws):
    """Async work on CUDA tensors: wait() orders the current stream after the
    copy-out, is_completed() turns true, get_future() and then() see the
    result, several works in flight, and the copy-in waits for the producer on
    the caller's (non-default) stream."""
    total = float(ws * (ws + 1) // 2)
    x = torch.full((50000,), float(rank + 1), device=gpu)
    work = dist.all_reduce(x, async_op=True)
    c.expect(work.wait() is True, "cuda async all_reduce: wait() did not return True")
    c.same(x.cpu(), torch.full((50000,), total), "cuda async all_reduce result")
    deadline = time.monotonic() + 30
    while not work.is_completed() and time.monotonic() < deadline:
        time.sleep(0.001)  # the copy-out may still be finishing on the GPU just after wait()
    c.expect(work.is_completed(), "cuda async all_reduce: is_completed() never became true")
    y = torch.full((50000,), float(rank + 1), device=gpu)
    work = dist.all_reduce(y, async_op=True)
    deadline = time.monotonic() + 30
    while not work.is_completed() and time.monotonic() < deadline:
        time.sleep(0.001)
    c.expect(work.is_completed(), "cuda async all_reduce: is_completed() never became true (polled)")
    work.wait()
    c.same(y.cpu(), torch.full((50000,), total), "cuda polled async all_reduce result")
    z = torch.full((1000,), float(rank), device=gpu)
    fut = dist.all_reduce(z, async_op=True).get_future()
    doubled = fut.then(lambda f: f.value()[0] * 2)  # runs on a stream that waited for the copy-out
    value = fut.wait()
    c.same(value[0].cpu(), torch.full((1000,), float(ws * (ws - 1) // 2)), "cuda get_future() value")
    c.same(doubled.wait().cpu(), torch.full((1000,), float(ws * (ws - 1))),
           "cuda get_future().then() value")
    bufs = [torch.full((300000,), float(rank + i), device=gpu) for i in range(8)]
    works = [dist.all_reduce(b, async_op=True) for b in bufs]
    for w in reversed(works):
        w.wait()
    for i, b in enumerate(bufs):
        c.same(b.cpu(), torch.full((300000,), float(ws * (ws - 1) // 2 + ws * i)),
               "cuda in-flight all_reduce #%d" % i)
    # A producer on a side stream, still running at the call: the copy-in must
    # wait for it; the clone after the (synchronous) call must see the result.
    side = torch.cuda.Stream(device=gpu)
    n = 4 << 20  # 16 MiB of float32: two chunks, the last copy-out takes a while
    with torch.cuda.stream(side):
        big = torch.zeros(n, device=gpu)
        torch.cuda._sleep(20_000_000)  # about 10 ms of GPU time on this stream
        big.fill_(float(rank + 1))
        dist.all_reduce(big)
        seen = big.clone()
    side.synchronize()
    c.same(seen.cpu(), torch.full((n,), total), "cuda all_reduce on a busy side stream")


def check_device_map(torch, dist, ltcc_torch, c, gpu, rank, ws):
    """torch >= 2.1: the default "ltcc" group serves CPU and CUDA with one
    ltcc backend, and "cpu:gloo,cuda:ltcc" sends CUDA tensors to ltcc, CPU
    tensors to gloo."""
    pg = dist.distributed_c10d._get_default_group()
    if not hasattr(pg, "_get_backend"):
        c.notes.append("device-backend map not checked: torch %s has no per-device backends"
                       % torch.__version__)
        return
    for d in ("cpu", "cuda"):
        c.expect(isinstance(pg._get_backend(torch.device(d)), ltcc_torch.ProcessGroupLtcc),
                 "default group: the %s backend is %r, not ltcc" % (d, pg._get_backend(torch.device(d))))
    mixed = dist.new_group(backend="cpu:gloo,cuda:ltcc")
    c.expect(isinstance(mixed._get_backend(torch.device("cuda")), ltcc_torch.ProcessGroupLtcc),
             "cpu:gloo,cuda:ltcc: the cuda backend is not ltcc")
    c.expect(not isinstance(mixed._get_backend(torch.device("cpu")), ltcc_torch.ProcessGroupLtcc),
             "cpu:gloo,cuda:ltcc: the cpu backend is ltcc")
    total = float(ws * (ws + 1) // 2)
    for where in (gpu, torch.device("cpu")):
        t = torch.full((70000,), float(rank + 1), device=where)
        dist.all_reduce(t, group=mixed)
        c.same(t.cpu(), torch.full((70000,), total), "cpu:gloo,cuda:ltcc all_reduce on %s" % where)
    outs = [torch.zeros(5, device=gpu) for _ in range(ws)]
    dist.all_gather(outs, torch.full((5,), float(rank), device=gpu), group=mixed)
    c.same(torch.stack(outs).cpu(), torch.arange(ws, dtype=torch.float32).repeat_interleave(5)
           .reshape(ws, 5), "cpu:gloo,cuda:ltcc all_gather on cuda")
    dist.destroy_process_group(mixed)


def run_peer_death(rank, ws, port, device):
    """The last rank dies after a barrier; the others' next collective must
    fail, with ltcc's sentence, within about the group's timeout. CUDA: a
    first CUDA all_reduce before the barrier creates the staging
    communicator; the one that fails is staged."""
    import torch
    import torch.distributed as dist
    import ltcc_torch  # noqa: F401

    timeout_s = 3
    gpu = rank_device(torch, device, rank)
    where = gpu if gpu is not None else torch.device("cpu")
    dist.init_process_group("ltcc", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                            world_size=ws, timeout=datetime.timedelta(seconds=timeout_s))
    if gpu is not None:
        dist.all_reduce(torch.ones(10, device=gpu))
    dist.barrier()
    if rank == ws - 1:
        time.sleep(0.2)
        os._exit(0)  # no destroy, no goodbye: as a crash
    failures = []
    t0 = time.monotonic()
    work = dist.all_reduce(torch.ones(100000, device=where), async_op=True)
    while not work.is_completed() and time.monotonic() - t0 < 10 * timeout_s:
        time.sleep(0.01)
    elapsed = time.monotonic() - t0
    if not work.is_completed():
        failures.append("is_completed() still false %.1f s after the peer died" % elapsed)
    try:
        work.wait()
        failures.append("wait() did not raise after the peer died")
    except RuntimeError as e:
        msg = str(e)
        print("rank %d: after %.1f s: %s" % (rank, elapsed, msg.splitlines()[0][:300]), flush=True)
        if "ltcc allreduce (sum, float32, 100000 elements) failed" not in msg:
            failures.append("the error does not name the operation: %r" % msg[:300])
    try:
        dist.all_reduce(torch.ones(10, device=where))
        failures.append("a collective on the broken group did not raise")
    except RuntimeError:
        pass
    dist.destroy_process_group()
    for f in failures:
        print("rank %d FAIL: %s" % (rank, f), flush=True)
    if failures:
        raise SystemExit(1)


def spawned(rank, ws, port, peer_death, device):
    try:
        if peer_death:
            run_peer_death(rank, ws, port, device)
        else:
            run_rank(rank, ws, port, device)
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush()
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world-size", type=int, default=2)
    ap.add_argument("--peer-death", action="store_true",
                    help="instead: the last rank crashes; the others must fail with ltcc's message")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="cuda: also run every collective on CUDA tensors (exit 77 without CUDA)")
    args = ap.parse_args()
    try:
        import torch
        import torch.distributed as dist
        import torch.multiprocessing as mp
    except Exception as e:  # noqa: BLE001
        print("SKIP: cannot import torch: %s" % e)
        return SKIP
    if not dist.is_available() or not dist.is_gloo_available():
        print("SKIP: torch %s lacks torch.distributed or gloo" % torch.__version__)
        return SKIP
    try:
        import ltcc_torch
    except Exception as e:  # noqa: BLE001
        print("SKIP: cannot import ltcc_torch (PYTHONPATH=%s): %s"
              % (os.environ.get("PYTHONPATH", ""), e))
        return SKIP
    if args.device == "cuda" and not torch.cuda.is_available():
        print("SKIP: --device cuda: torch %s sees no CUDA device (torch.cuda.is_available() is "
              "False; built with CUDA %s)" % (torch.__version__, torch.version.cuda))
        return SKIP
    print("torch %s, ltcc %d, %d ranks, %s tensors%s" % (
        torch.__version__, ltcc_torch.ltcc_version(), args.world_size, args.device,
        " (%s x %d)" % (torch.cuda.get_device_name(0), torch.cuda.device_count())
        if args.device == "cuda" else ""), flush=True)
    try:
        mp.start_processes(spawned, args=(args.world_size, free_port(), args.peer_death,
                                          args.device),
                           nprocs=args.world_size,
                           join=True, start_method="spawn")
    except Exception as e:  # noqa: BLE001  a rank failed: its traceback is above
        print("FAILED: %s" % str(e).strip().splitlines()[0] if str(e).strip() else "FAILED")
        return 1
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
