"""ltcc as a torch.distributed backend.

    import torch.distributed as dist
    import ltcc_torch                  # registers the "ltcc" backend
    dist.init_process_group("ltcc")    # torchrun's MASTER_ADDR/PORT, RANK, WORLD_SIZE

CPU tensors; all_reduce (SUM, AVG, PRODUCT, MIN, MAX), all_gather,
all_gather_into_tensor / _all_gather_base, reduce_scatter,
reduce_scatter_tensor / _reduce_scatter_base, broadcast, barrier.
See integrations/torch/README.md in the ltcc sources.
"""

import inspect

import torch  # noqa: F401  (loads libtorch before the extension)
import torch.distributed as dist

from . import _ltcc_torch as _C

ProcessGroupLtcc = _C.ProcessGroupLtcc
BACKEND_NAME = "ltcc"

__all__ = ["ProcessGroupLtcc", "BACKEND_NAME", "ltcc_version"]


def ltcc_version():
    """ltcc's version code of the loaded libltcc (major * 10000 + minor * 100 + patch)."""
    return _C.ltcc_version()


def _create_process_group(store, rank, world_size, timeout):
    """torch.distributed's creator: (store, rank, world_size, timedelta)."""
    return ProcessGroupLtcc(store, rank, world_size, timeout.total_seconds())


def _register():
    if BACKEND_NAME.upper() in getattr(dist.Backend, "_plugins", {}):
        return  # already registered (the module was imported under another name)
    kwargs = {}
    params = inspect.signature(dist.Backend.register_backend).parameters
    if "devices" in params:  # torch >= 2.1: say which devices the backend serves
        kwargs["devices"] = ["cpu"]
    dist.Backend.register_backend(BACKEND_NAME, _create_process_group, **kwargs)


_register()
