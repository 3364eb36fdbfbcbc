#!/usr/bin/env python3
"""Expert parallelism over all_to_all_single: a mixture-of-experts layer on sklearn's digits.

Every rank holds one expert (an MLP 32 -> 64 -> 32) and a replica of the
shared layers (an embedding 64 -> 32, a top-1 gate over the experts, a
classifier 32 -> 10). For each batch of its shard a rank embeds its images,
gates every token to one expert, and dispatches the tokens to the experts'
ranks with all_to_all_single (the split sizes exchanged first with another
all_to_all_single: uneven, some empty); the experts run, the results come
back the same way, are weighted by the gate and added to the embedding
(a residual), and classified. The backward pass goes through the same
all-to-alls (torch.distributed.nn.functional.all_to_all_single). Each
expert keeps its own gradients; the shared layers' gradients are averaged
by all_gather and a sum in rank order, so that every replica stays bitwise
identical and the run does not depend on the backend's reduction order:
a run over ltcc, through packet loss too, must end with parameters bitwise
identical to the same run over gloo (each rank prints their SHA-256).

The last line of each rank:

  RESULT backend=ltcc rank=0 ranks=4 epochs=15 loss=0.1234 acc=0.9444 params_sha=...

No launcher: set MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE per process
(tests/test_parallel_examples.py does). Exit 0 done, 77 torch/sklearn/
ltcc_torch missing.
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
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=32, help="per rank")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args(argv)
    try:
        import torch
        import torch.distributed as dist
        import torch.distributed.nn.functional as dnn
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
    torch.set_num_threads(1)
    dist.init_process_group(args.backend, rank=rank, world_size=ws,
                            timeout=datetime.timedelta(seconds=args.timeout))

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(args.seed))
    test, train = perm[:360], perm[360:]
    shard = train[rank::ws][: len(train) // ws]  # equal shards: the same number of steps

    torch.manual_seed(args.seed)  # the shared layers: the same on every rank
    embed = nn.Linear(64, 32)
    gate = nn.Linear(32, ws)
    classify = nn.Linear(32, 10)
    shared = [embed, gate, classify]
    torch.manual_seed(args.seed + 100 + rank)  # this rank's expert
    expert = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 32))
    params = [p for m in shared + [expert] for p in m.parameters()]
    opt = torch.optim.SGD(params, lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def forward(xb):
        h = torch.relu(embed(xb))
        probs = torch.softmax(gate(h), dim=1)
        choice = probs.argmax(dim=1)
        order = torch.argsort(choice, stable=True)  # tokens grouped by expert
        send_counts = torch.bincount(choice, minlength=ws)
        recv_counts = torch.empty_like(send_counts)
        dist.all_to_all_single(recv_counts, send_counts)  # how many each rank sends us
        sc, rc = send_counts.tolist(), recv_counts.tolist()
        tokens = torch.empty(sum(rc), h.shape[1])
        tokens = dnn.all_to_all_single(tokens, h[order].contiguous(), rc, sc)
        done = expert(tokens)
        back = torch.empty(len(order), h.shape[1])
        back = dnn.all_to_all_single(back, done.contiguous(), sc, rc)
        out = torch.empty_like(back)
        out = out.index_copy(0, order, back)  # back to the tokens' order
        weight = probs.gather(1, choice[:, None])
        return classify(h + weight * out)

    def average_shared_grads():
        # all_gather + a sum in rank order: the same bits on every rank and
        # whichever backend moves them.
        for m in shared:
            for p in m.parameters():
                g = p.grad.contiguous()
                parts = [torch.empty_like(g) for _ in range(ws)]
                dist.all_gather(parts, g)
                total = parts[0].clone()
                for q in parts[1:]:
                    total += q
                p.grad.copy_(total / ws)

    g = torch.Generator().manual_seed(args.seed + 1)
    last = float("nan")
    for epoch in range(args.epochs):
        order = shard[torch.randperm(len(shard), generator=g)]
        total, steps = 0.0, 0
        for s in range(0, len(order), args.batch_size):
            idx = order[s:s + args.batch_size]
            opt.zero_grad(set_to_none=False)
            for p in params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            loss = loss_fn(forward(x[idx]), y[idx])
            loss.backward()
            average_shared_grads()
            opt.step()
            total += loss.item()
            steps += 1
        mean = torch.tensor([total / steps], dtype=torch.float64)
        parts = [torch.empty_like(mean) for _ in range(ws)]
        dist.all_gather(parts, mean)
        last = sum(float(p) for p in parts) / ws
        if rank == 0:
            print("epoch %3d  loss %.4f" % (epoch + 1, last), flush=True)
    with torch.no_grad():
        acc = (forward(x[test]).argmax(1) == y[test]).float().mean().item()

    h = hashlib.sha256()
    for m in shared + [expert]:
        for name, p in m.state_dict().items():
            h.update(name.encode())
            h.update(p.detach().contiguous().numpy().tobytes())
    print("RESULT backend=%s rank=%d ranks=%d epochs=%d loss=%.6f acc=%.4f params_sha=%s"
          % (args.backend, rank, ws, args.epochs, last, acc, h.hexdigest()), flush=True)
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
