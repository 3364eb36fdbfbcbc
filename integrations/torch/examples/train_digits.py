#!/usr/bin/env python3
"""Train an MLP on sklearn's digits with DistributedDataParallel over gloo or ltcc.

A real (small) training run: load_digits() (1797 8x8 images, 10 classes),
a fixed seeded 1437/360 train/test split, a 64-128-64-10 MLP, SGD with
momentum, fixed seeds; each rank trains on its DistributedSampler shard
(batch --batch-size per rank), so every step all-reduces the gradients
through the chosen backend. Rank 0 prints each epoch's training loss
(averaged over the ranks) and test accuracy; at the end every rank hashes
its parameters (SHA-256 of their bytes), the hashes are all-gathered through
the same backend, and rank 0 says whether all replicas are bitwise
identical. The last line rank 0 prints is machine readable:

  RESULT backend=ltcc device=cpu ranks=4 epochs=30 loss=0.0123 acc=0.9722 \
      step_ms_mean=1.23 step_ms_median=1.10 replicas_identical=1 ...

Step time: wall time of forward + backward (DDP's all-reduce included) +
optimizer step, per iteration, epochs after the first (--device cuda: up to
the end of the step's GPU work).

--device cuda: the model and the data live on the GPU (rank r on GPU
r % device_count), so DDP all-reduces CUDA gradients: with ltcc they are
staged through pinned host memory. --backend also takes a device-backend map
such as "cpu:gloo,cuda:ltcc" (torch >= 2.1).

No launcher: set MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE per process
(run_digits.sh next to this does it; torch 1.13's torchrun fails on Python
3.11). ltcc reads its LTCC_* variables (e.g. LTCC_FAULT_LOSS=0.01) as usual.

--kill-rank R --kill-at-step S: rank R dies (os._exit(1), no goodbye) just
before its step S (0-based, counted over all epochs); the others' next
collective must fail within the group's --timeout. They print the error and
exit with status 3 (EXIT_PEER_FAILED).

Exit status: 0 done (replicas identical), 3 a collective failed (peer death,
timeout: the message is printed), 4 replicas differ, 5 accuracy below
--min-acc, 77 sklearn / torch / ltcc_torch / CUDA (--device cuda) missing
(the reason is printed).
"""
import argparse
import datetime
import hashlib
import os
import statistics
import sys
import time
import traceback

EXIT_PEER_FAILED = 3
EXIT_REPLICAS_DIFFER = 4
EXIT_LOW_ACC = 5
SKIP = 77


def log(msg):
    print(msg, flush=True)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="ltcc",
                    help="gloo, ltcc, or a device map such as cpu:gloo,cuda:ltcc (default ltcc)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where the model and the data live (default cpu)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32, help="per rank (default 32)")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-size", type=int, default=360)
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="init_process_group timeout in seconds (ltcc: how long a silent "
                         "peer may stay silent; LTCC_TIMEOUT wins when set)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--kill-rank", type=int, default=-1, help="this rank dies at --kill-at-step")
    ap.add_argument("--kill-at-step", type=int, default=-1)
    ap.add_argument("--min-acc", type=float, default=0.0,
                    help="rank 0 exits 5 when the final test accuracy is below this")
    ap.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return ap.parse_args(argv)


def load_data(torch, seed, test_size):
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0  # pixels are 0..16
    y = torch.tensor(d.target, dtype=torch.int64)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    test, train = perm[:test_size], perm[test_size:]
    return x[train], y[train], x[test], y[test]


def params_sha256(model):
    h = hashlib.sha256()
    for name, p in model.state_dict().items():
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()


def main(argv=None):
    args = parse_args(argv)
    try:
        import torch
        import torch.distributed as dist
        import torch.nn as nn
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
    except Exception as e:  # noqa: BLE001
        log("SKIP: cannot import torch: %s" % e)
        return SKIP
    try:
        import sklearn.datasets  # noqa: F401
    except Exception as e:  # noqa: BLE001
        log("SKIP: cannot import sklearn (Debian: apt-get install python3-sklearn): %s" % e)
        return SKIP
    if "ltcc" in args.backend:
        try:
            import ltcc_torch  # noqa: F401  registers "ltcc"
        except Exception as e:  # noqa: BLE001
            log("SKIP: cannot import ltcc_torch (PYTHONPATH=%s): %s"
                % (os.environ.get("PYTHONPATH", ""), e))
            return SKIP

    if args.device == "cuda" and not torch.cuda.is_available():
        log("SKIP: --device cuda: torch %s sees no CUDA device" % torch.__version__)
        return SKIP

    rank = int(os.environ["RANK"])
    ws = int(os.environ["WORLD_SIZE"])
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.device == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank))
                              % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")

    dist.init_process_group(args.backend, rank=rank, world_size=ws,
                            timeout=datetime.timedelta(seconds=args.timeout))

    xtr, ytr, xte, yte = (t.to(device) for t in load_data(torch, args.seed, args.test_size))
    train = TensorDataset(xtr, ytr)
    sampler = DistributedSampler(train, num_replicas=ws, rank=rank, shuffle=True,
                                 seed=args.seed, drop_last=False)
    loader = DataLoader(train, batch_size=args.batch_size, sampler=sampler)

    torch.manual_seed(args.seed)  # same initial weights everywhere (DDP broadcasts rank 0's anyway)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                          nn.Linear(64, 10)).to(device)
    ddp = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=args.momentum)
    loss_fn = nn.CrossEntropyLoss()
    if rank == 0:
        log("digits: %d train / %d test, %d ranks, backend %s, device %s, %d epochs, batch %d "
            "per rank, %d steps per epoch, LTCC_FAULT_LOSS=%s"
            % (len(ytr), len(yte), ws, args.backend, device, args.epochs, args.batch_size,
               len(loader), os.environ.get("LTCC_FAULT_LOSS", "")))

    def test_accuracy():
        model.eval()
        with torch.no_grad():
            acc = (model(xte).argmax(1) == yte).float().mean().item()
        model.train()
        return acc

    step = 0
    step_ms = []
    epoch_loss = float("nan")
    t_start = time.monotonic()
    try:
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)
            loss_sum = torch.zeros(2, dtype=torch.float64, device=device)  # batch losses, batches
            for xb, yb in loader:
                if rank == args.kill_rank and step == args.kill_at_step:
                    log("rank %d: dying at step %d (--kill-rank)" % (rank, step))
                    os._exit(1)  # as a crash: no destroy, no goodbye
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(ddp(xb), yb)
                loss.backward()  # DDP all-reduces the gradients here
                opt.step()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                dt = time.perf_counter() - t0
                if epoch > 0 or args.epochs == 1:
                    step_ms.append(dt * 1e3)
                loss_sum[0] += loss.item()
                loss_sum[1] += 1
                step += 1
            dist.all_reduce(loss_sum)  # the mean over every rank's batches
            epoch_loss = (loss_sum[0] / loss_sum[1]).item()
            if rank == 0 and not args.quiet:
                log("epoch %3d  loss %.4f  test acc %.4f" % (epoch + 1, epoch_loss, test_accuracy()))

        digest = params_sha256(model)
        mine = torch.tensor(list(digest), dtype=torch.uint8, device=device)
        hashes = [torch.zeros(32, dtype=torch.uint8, device=device) for _ in range(ws)]
        dist.all_gather(hashes, mine)
    except RuntimeError as e:
        msg = str(e).strip()
        log("rank %d: collective failed at step %d after %.1f s: %s"
            % (rank, step, time.monotonic() - t_start, msg.splitlines()[0] if msg else repr(e)))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_PEER_FAILED)  # no destroy: the group is broken

    log("rank %d: params sha256 %s" % (rank, digest.hex()))
    identical = all(torch.equal(h, hashes[0]) for h in hashes)
    rc = 0
    if rank == 0:
        acc = test_accuracy()
        med = statistics.median(step_ms) if step_ms else float("nan")
        mean = statistics.fmean(step_ms) if step_ms else float("nan")
        srt = sorted(step_ms)
        p99 = srt[min(len(srt) - 1, int(0.99 * len(srt)))] if srt else float("nan")
        log("final: test accuracy %.4f, loss %.4f, step time mean %.3f ms, median %.3f ms, "
            "p99 %.3f ms (%d steps timed of %d), %.1f s total"
            % (acc, epoch_loss, mean, med, p99, len(step_ms), step, time.monotonic() - t_start))
        if not identical:
            for r, h in enumerate(hashes):
                log("  rank %d: %s" % (r, bytes(h.tolist()).hex()))
        log("replicas identical: %s" % ("yes" if identical else "no"))
        log("RESULT backend=%s device=%s ranks=%d epochs=%d steps=%d loss=%.4f acc=%.4f "
            "step_ms_mean=%.3f step_ms_median=%.3f step_ms_p99=%.3f replicas_identical=%d "
            "fault_loss=%s sha256=%s"
            % (args.backend, device.type, ws, args.epochs, step, epoch_loss, acc, mean, med, p99,
               int(identical),
               os.environ.get("LTCC_FAULT_LOSS", "0") or "0", digest.hex()[:16]))
        if acc < args.min_acc:
            log("accuracy %.4f below --min-acc %.4f" % (acc, args.min_acc))
            rc = EXIT_LOW_ACC
    if not identical:
        rc = EXIT_REPLICAS_DIFFER
    dist.barrier()
    dist.destroy_process_group()
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush()
        sys.exit(1)
