// Launcher environment: see launch_env.h.
#include "src/launch_env.h"

#include <unistd.h>

#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string_view>
#include <vector>

#include "common/config.h"

namespace ltcc {
namespace {

// getenv with "" for unset (launcher variables are not LTCC_* settings, so
// they are read here and not through the registry).
std::string env_text(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool env_set(const char* name) { return !env_text(name).empty(); }

bool parse_u32_text(const std::string& t, uint32_t* out) {
  if (t.empty() || t.size() > 10) return false;
  uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// Reads the non-negative integer in variable `name`, set by `launcher`.
Status env_u32(const char* name, const char* launcher, uint32_t* out) {
  std::string t = env_text(name);
  uint32_t v = 0;
  if (!parse_u32_text(t, &v)) {
    return Status(Code::kInvalidArgument, std::string(name) + "='" + t +
                                              "' is not a non-negative integer (read as the " +
                                              launcher + " job layout)");
  }
  *out = v;
  return Status::ok();
}

Status half_set(const char* set, const char* missing, const char* launcher) {
  return Status(Code::kInvalidArgument, std::string(set) + " is set but " + missing +
                                            " is not (" + launcher + " sets both)");
}

// One launcher's variable names. size_vars: the first one set is used.
struct Layout {
  const char* source;
  const char* rank_var;
  std::vector<const char*> size_vars;
  const char* local_rank_var;  // nullptr: none
  const char* local_size_var;
};

// Parses the rank and size; checks rank < size and size > 0.
Status read_rank_size(const Layout& l, uint32_t* rank, uint32_t* nranks) {
  const char* size_var = nullptr;
  for (const char* v : l.size_vars) {
    if (env_set(v)) {
      size_var = v;
      break;
    }
  }
  if (!size_var) return half_set(l.rank_var, l.size_vars[0], l.source);
  uint32_t r = 0, n = 0;
  LTCC_CHECK(env_u32(l.rank_var, l.source, &r));
  LTCC_CHECK(env_u32(size_var, l.source, &n));
  if (n == 0) {
    return Status(Code::kInvalidArgument,
                  std::string(size_var) + "=0: a job has at least one rank (" + l.source + ")");
  }
  if (r >= n) {
    return Status(Code::kInvalidArgument, std::string(l.rank_var) + "=" + std::to_string(r) +
                                              " is not below " + size_var + "=" +
                                              std::to_string(n) + " (" + l.source + ")");
  }
  *rank = r;
  *nranks = n;
  return Status::ok();
}

// Local rank and size when both variables are set; else leaves them unknown.
Status read_local(const char* rank_var, const char* size_var, const char* source,
                  uint32_t nranks, uint32_t* local_rank, uint32_t* local_size) {
  if (!rank_var || !env_set(rank_var) || !env_set(size_var)) return Status::ok();
  uint32_t lr = 0, ls = 0;
  LTCC_CHECK(env_u32(rank_var, source, &lr));
  LTCC_CHECK(env_u32(size_var, source, &ls));
  if (ls == 0 || ls > nranks) {
    return Status(Code::kInvalidArgument, std::string(size_var) + "=" + std::to_string(ls) +
                                              " is not in [1, " + std::to_string(nranks) +
                                              "] (the job size)");
  }
  if (lr >= ls) {
    return Status(Code::kInvalidArgument, std::string(rank_var) + "=" + std::to_string(lr) +
                                              " is not below " + size_var + "=" +
                                              std::to_string(ls));
  }
  *local_rank = lr;
  *local_size = ls;
  return Status::ok();
}

// Tasks on node `node` from Slurm's compressed list "2(x3),1,4".
bool slurm_tasks_on_node(const std::string& list, uint32_t node, uint32_t* out) {
  uint64_t index = 0;
  size_t pos = 0;
  while (pos < list.size()) {
    size_t comma = list.find(',', pos);
    std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? list.size() : comma + 1;
    uint32_t tasks = 0, reps = 1;
    size_t paren = item.find('(');
    if (paren == std::string::npos) {
      if (!parse_u32_text(item, &tasks)) return false;
    } else {
      if (item.size() < paren + 4 || item.compare(paren, 2, "(x") != 0 || item.back() != ')')
        return false;
      if (!parse_u32_text(item.substr(0, paren), &tasks)) return false;
      if (!parse_u32_text(item.substr(paren + 2, item.size() - paren - 3), &reps)) return false;
    }
    if (node < index + reps) {
      *out = tasks;
      return true;
    }
    index += reps;
  }
  return false;
}

Status read_slurm_local(uint32_t nranks, uint32_t* local_rank, uint32_t* local_size) {
  if (!env_set("SLURM_LOCALID")) return Status::ok();
  uint32_t lr = 0;
  LTCC_CHECK(env_u32("SLURM_LOCALID", "Slurm", &lr));
  const char* list_var = env_set("SLURM_STEP_TASKS_PER_NODE") ? "SLURM_STEP_TASKS_PER_NODE"
                                                               : "SLURM_TASKS_PER_NODE";
  uint32_t ls = 0;
  if (env_set(list_var) && env_set("SLURM_NODEID")) {
    uint32_t node = 0;
    LTCC_CHECK(env_u32("SLURM_NODEID", "Slurm", &node));
    if (!slurm_tasks_on_node(env_text(list_var), node, &ls) || ls == 0 || ls > nranks) {
      return Status(Code::kInvalidArgument,
                    std::string(list_var) + "='" + env_text(list_var) +
                        "' does not give the task count of node " + std::to_string(node) +
                        " (SLURM_NODEID; expected a list such as 2(x3),1)");
    }
  } else if (env_text("SLURM_NNODES") == "1" || env_text("SLURM_JOB_NUM_NODES") == "1") {
    ls = nranks;
  }
  if (ls == 0) return Status::ok();  // local size unknown
  if (lr >= ls) {
    return Status(Code::kInvalidArgument, "SLURM_LOCALID=" + std::to_string(lr) +
                                              " is not below the " + std::to_string(ls) +
                                              " tasks on this node");
  }
  *local_rank = lr;
  *local_size = ls;
  return Status::ok();
}

// Rank, size and local layout from the first launcher found.
Status detect_layout(LaunchEnv* e) {
  uint32_t rank = 0, nranks = 0, lrank = 0, lsize = 0;
  std::string source;
  if (env_set("RANK") || env_set("WORLD_SIZE")) {
    if (!env_set("RANK")) return half_set("WORLD_SIZE", "RANK", "torchrun");
    Layout l{"torchrun", "RANK", {"WORLD_SIZE"}, "LOCAL_RANK", "LOCAL_WORLD_SIZE"};
    LTCC_CHECK(read_rank_size(l, &rank, &nranks));
    LTCC_CHECK(read_local(l.local_rank_var, l.local_size_var, l.source, nranks, &lrank, &lsize));
    source = l.source;
  } else if (env_set("OMPI_COMM_WORLD_RANK")) {
    Layout l{"Open MPI", "OMPI_COMM_WORLD_RANK", {"OMPI_COMM_WORLD_SIZE"},
             "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"};
    LTCC_CHECK(read_rank_size(l, &rank, &nranks));
    LTCC_CHECK(read_local(l.local_rank_var, l.local_size_var, l.source, nranks, &lrank, &lsize));
    source = l.source;
  } else if (env_set("PMIX_RANK") &&
             (env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMI_SIZE"))) {
    Layout l{"PMIx", "PMIX_RANK", {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}, nullptr, nullptr};
    LTCC_CHECK(read_rank_size(l, &rank, &nranks));
    LTCC_CHECK(read_local("MPI_LOCALRANKID", "MPI_LOCALNRANKS", "PMIx", nranks, &lrank, &lsize));
    source = l.source;
  } else if (env_set("PMI_RANK")) {
    Layout l{"PMI", "PMI_RANK", {"PMI_SIZE"}, "MPI_LOCALRANKID", "MPI_LOCALNRANKS"};
    LTCC_CHECK(read_rank_size(l, &rank, &nranks));
    LTCC_CHECK(read_local(l.local_rank_var, l.local_size_var, l.source, nranks, &lrank, &lsize));
    source = l.source;
  } else if (env_set("SLURM_PROCID")) {
    Layout l{"Slurm", "SLURM_PROCID", {"SLURM_NTASKS", "SLURM_NPROCS"}, nullptr, nullptr};
    LTCC_CHECK(read_rank_size(l, &rank, &nranks));
    LTCC_CHECK(read_slurm_local(nranks, &lrank, &lsize));
    source = l.source;
  } else if (env_set("PMIX_RANK")) {
    return Status(Code::kInvalidArgument,
                  "PMIX_RANK is set but the job size is not (looked for OMPI_COMM_WORLD_SIZE, "
                  "PMI_SIZE, SLURM_NTASKS)");
  } else {
    return Status(Code::kInvalidArgument,
                  "no launcher environment found: expected torchrun (RANK, WORLD_SIZE), Open MPI "
                  "(OMPI_COMM_WORLD_RANK), PMIx (PMIX_RANK), PMI (PMI_RANK, PMI_SIZE) or Slurm "
                  "(SLURM_PROCID, SLURM_NTASKS); without a launcher use ltccGetUniqueId and "
                  "ltccCommInitRank");
  }
  e->rank = rank;
  e->nranks = nranks;
  e->local_rank = lrank;
  e->local_size = lsize;
  e->source = source;
  return Status::ok();
}

// Where rank 0's bootstrap root listens (see launch_env.h for the order).
Status detect_rendezvous(LaunchEnv* e) {
  std::string root;
  LTCC_CHECK(param_string("LTCC_ROOT", &root));
  if (!root.empty()) {
    if (root.rfind("file:", 0) == 0) {
      std::string path = root.substr(5);
      if (path.empty()) {
        return Status(Code::kInvalidArgument,
                      "LTCC_ROOT='file:' names no file (expected file:PATH on a file system "
                      "every rank sees, e.g. file:/shared/ltcc-root)");
      }
      e->root_file = path;
    } else {
      LTCC_CHECK(parse_host_port(root, "LTCC_ROOT", &e->root_host, &e->root_port));
    }
    e->root_source = "LTCC_ROOT";
    return Status::ok();
  }
  if (env_set("MASTER_ADDR")) {
    if (!env_set("MASTER_PORT")) return half_set("MASTER_ADDR", "MASTER_PORT", "torchrun");
    uint32_t p = 0;
    std::string t = env_text("MASTER_PORT");
    if (!parse_u32_text(t, &p) || p == 0 || p > 65535) {
      return Status(Code::kInvalidArgument,
                    "MASTER_PORT='" + t + "' is not a TCP port (expected 1..65535)");
    }
    if (p == 65535) {
      return Status(Code::kInvalidArgument,
                    "MASTER_PORT=65535 leaves no port for ltcc, which listens on MASTER_PORT+1 "
                    "(MASTER_PORT is torch's TCPStore); set LTCC_ROOT=host:port");
    }
    e->root_host = env_text("MASTER_ADDR");
    e->root_port = static_cast<uint16_t>(p + 1);
    e->root_source = "MASTER_ADDR/MASTER_PORT+1";
    return Status::ok();
  }
  if (e->nranks == 1 || (e->local_size == e->nranks && e->job_unique)) {
    e->root_file = default_root_file(e->job_identity);
    e->root_private_dir = default_root_dir();
    e->root_source = "single host";
    return Status::ok();
  }
  if (e->local_size == e->nranks) {
    return Status(Code::kInvalidArgument,
                  "cannot find the rendezvous: " + e->describe() +
                      " names no job id, so this rank could meet the ranks of another job "
                      "started on this host at the same time; set LTCC_ROOT=host:port (or "
                      "file:PATH), one per job, or MASTER_ADDR/MASTER_PORT, or "
                      "LTCC_SESSION=<a value unique to the job> on every rank");
  }
  std::string local = e->local_size ? std::to_string(e->local_size) : std::string("unknown");
  return Status(Code::kInvalidArgument,
                "cannot find the rendezvous: set LTCC_ROOT=host:port (or file:PATH on a file "
                "system every rank sees) naming where rank 0 may listen; found " +
                    e->source + " rank " + std::to_string(e->rank) + " of " +
                    std::to_string(e->nranks) + " (ranks on this host: " + local +
                    "), no MASTER_ADDR");
}

}  // namespace

std::string LaunchEnv::describe() const {
  std::string s = source + " rank " + std::to_string(rank) + " of " + std::to_string(nranks);
  if (local_size)
    s += " (" + std::to_string(local_rank) + " of " + std::to_string(local_size) + " on this host)";
  return s;
}

uint64_t stable_hash64(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  h ^= h >> 30;  // splitmix64 finaliser: spreads FNV's weak high bits
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

std::string job_identity_from_env(bool* unique) {
  std::string id = "uid=" + std::to_string(::getuid());
  bool named = false;
  std::string session;
  // An invalid LTCC_SESSION cannot happen (it is a string); ignore the status.
  if (param_string("LTCC_SESSION", &session).is_ok() && !session.empty()) {
    id += ";LTCC_SESSION=" + session;
    named = true;
  }
  // name: the variable names one job (a restart count or step id alone
  // does not).
  static const struct {
    const char* var;
    bool names_job;
  } kVars[] = {{"TORCHELASTIC_RUN_ID", true},     {"TORCHELASTIC_RESTART_COUNT", false},
               {"OMPI_MCA_orte_ess_jobid", true}, {"OMPI_MCA_ess_base_jobid", true},
               {"PMIX_NAMESPACE", true},          {"SLURM_JOB_ID", true},
               {"SLURM_STEP_ID", false}};
  for (const auto& v : kVars) {
    if (!env_set(v.var)) continue;
    const std::string text = env_text(v.var);
    id += std::string(";") + v.var + "=" + text;
    // torchrun's default --rdzv-id is "none", the same for every job.
    if (v.names_job && !text.empty() && text != "none") named = true;
  }
  if (unique) *unique = named;
  return id;
}

std::string default_root_dir() { return "/tmp/ltcc-" + std::to_string(::geteuid()); }

std::string default_root_file(const std::string& job_identity) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "/root-%016" PRIx64, stable_hash64(job_identity));
  return default_root_dir() + buf;
}

Status parse_host_port(const std::string& text, const char* what, std::string* host,
                       uint16_t* port) {
  auto bad = [&](const std::string& why) {
    return Status(Code::kInvalidArgument, std::string(what) + "='" + text + "' " + why +
                                              " (expected host:port, e.g. 10.0.0.1:29500)");
  };
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return bad("has no port");
  std::string h = text.substr(0, colon);
  std::string p = text.substr(colon + 1);
  if (h.empty()) return bad("has no host");
  if (h.find(':') != std::string::npos || h.front() == '[')
    return bad("is an IPv6 address, which the bootstrap does not support");
  for (char c : h) {
    if (std::isspace(static_cast<unsigned char>(c))) return bad("has a blank in the host");
  }
  uint32_t v = 0;
  if (!parse_u32_text(p, &v) || v == 0 || v > 65535) return bad("has no valid port (1..65535)");
  *host = h;
  *port = static_cast<uint16_t>(v);
  return Status::ok();
}

Status detect_launch_layout(LaunchEnv* out) {
  LaunchEnv e;
  LTCC_CHECK(detect_layout(&e));
  *out = std::move(e);
  return Status::ok();
}

Status detect_launch_env(LaunchEnv* out) {
  try {
    LaunchEnv e;
    LTCC_CHECK(detect_layout(&e));
    e.job_identity = job_identity_from_env(&e.job_unique);
    LTCC_CHECK(detect_rendezvous(&e));
    *out = std::move(e);
    return Status::ok();
  } catch (const std::bad_alloc&) {
    return Status(Code::kSystemError, "launcher environment: out of memory");
  }
}

}  // namespace ltcc
