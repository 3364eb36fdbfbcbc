"""ltcc as a torch.distributed backend.

    import torch.distributed as dist
    import ltcc_torch                  # registers the "ltcc" backend
    dist.init_process_group("ltcc")    # torchrun's MASTER_ADDR/PORT, RANK, WORLD_SIZE

    # torch >= 2.1: "ltcc" serves CPU and CUDA tensors; or mix backends:
    dist.init_process_group("cpu:gloo,cuda:ltcc")

all_reduce (SUM, AVG, PRODUCT, MIN, MAX), all_gather,
all_gather_into_tensor / _all_gather_base, reduce_scatter,
reduce_scatter_tensor / _reduce_scatter_base, broadcast, barrier, on CPU
tensors and on CUDA tensors (staged through pinned host memory: copied to
the host, reduced there by ltcc, copied back; all-reduces in chunks of
chunk_bytes(), with the copies of one chunk overlapping the collective of
another). See integrations/torch/README.md in the ltcc sources.
"""

import inspect

import torch  # noqa: F401  (loads libtorch before the extension)
import torch.distributed as dist

from . import _ltcc_torch as _C

ProcessGroupLtcc = _C.ProcessGroupLtcc
BACKEND_NAME = "ltcc"

DEFAULT_CHUNK_BYTES = _C.DEFAULT_CHUNK_BYTES

__all__ = ["ProcessGroupLtcc", "BACKEND_NAME", "DEFAULT_CHUNK_BYTES", "chunk_bytes",
           "set_chunk_bytes", "ltcc_version"]


def ltcc_version():
    """ltcc's version code of the loaded libltcc (major * 10000 + minor * 100 + patch)."""
    return _C.ltcc_version()


def chunk_bytes():
    """The all-reduce chunk size in bytes (default DEFAULT_CHUNK_BYTES, 8 MiB).

    Every all_reduce is split into ltcc calls of at most this many bytes, on
    CPU and CUDA tensors alike, so that both give bitwise the same result; on
    CUDA tensors it is the unit of the staging pipeline (two pinned host
    buffers of this size per device)."""
    return _C.chunk_bytes()


def set_chunk_bytes(nbytes):
    """Sets the all-reduce chunk size (1 KiB .. 1 TiB) for later calls, in this
    process; returns the previous one. Every rank must set the same value (the
    chunks are separate ltcc calls, matched in order)."""
    return _C.set_chunk_bytes(int(nbytes))


def _create_process_group(store, rank, world_size, timeout):
    """torch.distributed's creator: (store, rank, world_size, timedelta)."""
    return ProcessGroupLtcc(store, rank, world_size, timeout.total_seconds())


def _register():
    if BACKEND_NAME.upper() in getattr(dist.Backend, "_plugins", {}):
        return  # already registered (the module was imported under another name)
    kwargs = {}
    params = inspect.signature(dist.Backend.register_backend).parameters
    if "devices" in params:  # torch >= 2.1: say which devices the backend serves
        kwargs["devices"] = ["cpu", "cuda"]
    dist.Backend.register_backend(BACKEND_NAME, _create_process_group, **kwargs)


_register()
