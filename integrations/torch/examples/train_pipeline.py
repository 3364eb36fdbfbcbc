#!/usr/bin/env python3
"""Pipeline parallelism over send/recv: an MLP on sklearn's digits in two stages.

Rank 0 holds the first half of the model (64 -> 128 -> 64), rank 1 the second
(64 -> 10 and the loss). Every batch of --batch-size images is cut into
--micro-batches micro-batches, run GPipe-style: stage 0 sends each
micro-batch's activations to stage 1 as soon as they are computed
(dist.isend, tag = micro-batch), stage 1 receives them (dist.irecv), runs its
half and the loss, and sends back the gradient of each activation; stage 0
waits for them and runs its backward; both then step their own optimizers.
Every byte between the stages goes through the backend's send/recv, many in
flight at once. The computation is the same whatever the backend moves the
bytes with, so a run over ltcc (even through packet loss) must end with
parameters bitwise identical to the same run over gloo: each rank prints the
SHA-256 of its parameters.

The last line of each rank is machine readable:

  RESULT backend=ltcc rank=1 stage=1 epochs=12 loss=0.0712 acc=0.9611 params_sha=...

(acc and loss on the last stage; stage 0 prints them as nan).

No launcher: set MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE=2 per process
(tests/test_parallel_examples.py does). ltcc reads LTCC_* (e.g.
LTCC_FAULT_LOSS=0.01) as usual. Exit 0 done, 77 torch/sklearn/ltcc_torch missing.
"""
import argparse
import datetime
import hashlib
import os
import sys

SKIP = 77


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="ltcc")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--micro-batches", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args(argv)
    try:
        import torch
        import torch.distributed as dist
        import torch.nn as nn
        from sklearn.datasets import load_digits
    except Exception as e:  # noqa: BLE001
        print("SKIP: cannot import torch or sklearn: %s" % e, flush=True)
        return SKIP
    if "ltcc" in args.backend:
        try:
            import ltcc_torch  # noqa: F401  registers "ltcc"
        except Exception as e:  # noqa: BLE001
            print("SKIP: cannot import ltcc_torch: %s" % e, flush=True)
            return SKIP

    rank, ws = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if ws != 2:
        print("train_pipeline.py: two stages, WORLD_SIZE must be 2 (got %d)" % ws, flush=True)
        return 2
    torch.set_num_threads(1)
    dist.init_process_group(args.backend, rank=rank, world_size=ws,
                            timeout=datetime.timedelta(seconds=args.timeout))

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(args.seed))
    test, train = perm[:360], perm[360:]

    torch.manual_seed(args.seed)
    first = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
    second = nn.Sequential(nn.Linear(64, 10))
    stage = first if rank == 0 else second
    opt = torch.optim.SGD(stage.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    width = 64  # the activations between the stages
    m = args.micro_batches
    last_loss = float("nan")

    def run_batch(xb, yb, train_step=True):
        """One batch through both stages; returns (loss sum, correct) on stage 1."""
        chunks_x, chunks_y = xb.chunk(m), yb.chunk(m)
        k = len(chunks_x)
        if rank == 0:
            outs = []
            sends = []
            for i in range(k):
                a = stage(chunks_x[i]) if train_step else stage(chunks_x[i]).detach()
                outs.append(a)
                sends.append(dist.isend(a.detach().contiguous(), dst=1, tag=i))
            for w in sends:
                w.wait()
            if train_step:
                grads = [torch.empty_like(a) for a in outs]
                recvs = [dist.irecv(grads[i], src=1, tag=100 + i) for i in range(k)]
                for w in recvs:
                    w.wait()
                torch.autograd.backward(outs, grads)
            return 0.0, 0
        acts = [torch.empty(len(chunks_y[i]), width) for i in range(k)]
        recvs = [dist.irecv(acts[i], src=0, tag=i) for i in range(k)]
        loss_sum, correct, sends = 0.0, 0, []
        for i in range(k):
            recvs[i].wait()
            a = acts[i].requires_grad_(train_step)
            logits = stage(a)
            loss = loss_fn(logits, chunks_y[i]) * len(chunks_y[i]) / len(yb)
            loss_sum += loss.item()
            correct += int((logits.argmax(1) == chunks_y[i]).sum())
            if train_step:
                loss.backward()
                sends.append(dist.isend(a.grad.contiguous(), dst=0, tag=100 + i))
        for w in sends:
            w.wait()
        return loss_sum, correct

    g = torch.Generator().manual_seed(args.seed + 1)
    for epoch in range(args.epochs):
        order = train[torch.randperm(len(train), generator=g)]
        total = 0.0
        batches = 0
        for s in range(0, len(order), args.batch_size):
            idx = order[s:s + args.batch_size]
            opt.zero_grad(set_to_none=True)
            loss_sum, _ = run_batch(x[idx], y[idx])
            opt.step()
            total += loss_sum
            batches += 1
        last_loss = total / batches if rank == 1 else float("nan")
        if rank == 1:
            print("epoch %3d  loss %.4f" % (epoch + 1, last_loss), flush=True)
    with torch.no_grad():
        _, correct = run_batch(x[test], y[test], train_step=False)
    acc = correct / len(test) if rank == 1 else float("nan")

    h = hashlib.sha256()
    for name, p in stage.state_dict().items():
        h.update(name.encode())
        h.update(p.detach().contiguous().numpy().tobytes())
    print("RESULT backend=%s rank=%d stage=%d epochs=%d loss=%.6f acc=%.4f params_sha=%s"
          % (args.backend, rank, rank, args.epochs, last_loss, acc, h.hexdigest()), flush=True)
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
