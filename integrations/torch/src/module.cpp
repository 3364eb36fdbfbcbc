// _ltcc_torch: the Python extension module behind ltcc_torch (see
// ltcc_torch/__init__.py, which registers the "ltcc" backend with
// torch.distributed). Exposes ProcessGroupLtcc as a subclass of torch's
// ProcessGroup (1.x) or Backend (2.x) Python type, and the all-reduce chunk
// size (staging.hpp).
#include <torch/csrc/utils/pybind.h>

#include "ltcc/ltcc.h"
#include "process_group_ltcc.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_ltcc_torch, m) {
  m.doc() = "ltcc (loss-tolerant collective communication) as a torch.distributed backend";

  // torch.distributed registers the c10d Store and ProcessGroup/Backend types
  // with pybind11; they must exist before our class names one as its base.
  py::module_::import("torch.distributed");

  py::class_<ltcc_torch::ProcessGroupLtcc, ltcc_torch::BackendBase,
             c10::intrusive_ptr<ltcc_torch::ProcessGroupLtcc>>(m, "ProcessGroupLtcc")
      .def(py::init([](const c10::intrusive_ptr<::c10d::Store>& store, int rank, int size,
                       double timeout_seconds) {
             // Blocks on the store and on the other ranks: let Python threads
             // run meanwhile (the GIL is taken back before pybind11 stores
             // the result).
             py::gil_scoped_release nogil;
             return c10::make_intrusive<ltcc_torch::ProcessGroupLtcc>(store, rank, size,
                                                                      timeout_seconds);
           }),
           py::arg("store"), py::arg("rank"), py::arg("size"), py::arg("timeout_seconds"),
           "Collective: every rank of the group calls it with the group's store.");

  m.def("chunk_bytes", &ltcc_torch::chunk_bytes,
        "All-reduce chunk size in bytes: all-reduces are split into ltcc calls of at most this "
        "many bytes, on CPU and GPU tensors alike (GPU: the pipelining unit of the staging).");
  m.def("set_chunk_bytes", &ltcc_torch::set_chunk_bytes, py::arg("bytes"),
        "Sets the all-reduce chunk size (1 KiB .. 1 TiB) for later calls, process-wide; returns "
        "the previous one. Every rank must use the same value.");
  m.attr("DEFAULT_CHUNK_BYTES") = ltcc_torch::kDefaultChunkBytes;

  m.def("ltcc_version", []() {
    int v = 0;
    ltccGetVersion(&v);
    return v;
  }, "ltcc's version code (major * 10000 + minor * 100 + patch) of the loaded libltcc");
  m.attr("torch_version_built") = py::str(TORCH_VERSION);
}
