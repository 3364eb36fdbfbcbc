// Launcher environment: who am I, how many are we, where do we meet.
//
// ltccCommInitFromEnv takes the rank and the job size from what the launcher
// exported. The first launcher whose rank variable is set wins, in this order:
//
//   torchrun  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE
//   Open MPI  OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE
//   PMIx      PMIX_RANK; the size from OMPI_COMM_WORLD_SIZE or PMI_SIZE (when
//             neither is set, detection goes on: srun --mpi=pmix also sets
//             the Slurm variables)
//   PMI       PMI_RANK, PMI_SIZE; local rank and size from MPICH/Hydra's
//             MPI_LOCALRANKID, MPI_LOCALNRANKS
//   Slurm     SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; the local size from
//             SLURM_STEP_TASKS_PER_NODE (else SLURM_TASKS_PER_NODE, "2(x3),1")
//             at index SLURM_NODEID
//
// The local rank and size are optional: local_size == 0 means "unknown".
//
// The rendezvous (where rank 0's bootstrap root listens), first match wins:
//   1. LTCC_ROOT=host:port, or LTCC_ROOT=file:PATH on a file system every
//      rank sees (rank 0 writes "host:port key" there; see bootstrap.h).
//   2. MASTER_ADDR with port MASTER_PORT+1. MASTER_PORT itself is taken by
//      torch's TCPStore (torchrun's rank-0 agent, or the first rank's
//      torch.distributed, listens there), so ltcc uses the port after it.
//   3. Every rank on this host (local_size == nranks, or nranks == 1) and a
//      job id that no other job has (LTCC_SESSION, TORCHELASTIC_RUN_ID other
//      than "none", the Open MPI job id, PMIX_NAMESPACE, SLURM_JOB_ID): the
//      file /tmp/ltcc-<uid>/root-<hash of the job identity>, in a directory
//      of this user's with mode 0700 (checked: owner and mode).
//   4. Else an error that says to set LTCC_ROOT (or LTCC_SESSION): without a
//      job id, two jobs started together on one host would meet each
//      other's ranks (RANK/WORLD_SIZE, PMI_RANK/PMI_SIZE say nothing about
//      which job a rank belongs to), so ltcc does not guess.
//
// Malformed numbers, rank >= size, size 0 and half-set pairs are errors
// (kInvalidArgument) naming the variable and its value.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace ltcc {

struct LaunchEnv {
  uint32_t rank = 0;
  uint32_t nranks = 0;
  uint32_t local_rank = 0;  // 0 when unknown
  uint32_t local_size = 0;  // ranks on this host; 0 = unknown
  // Rendezvous: either root_host/root_port (root_file empty) or root_file.
  std::string root_host;  // IPv4 address or host name
  uint16_t root_port = 0;
  std::string root_file;  // path of the file rendezvous
  std::string source;       // launcher: "torchrun", "Open MPI", "PMIx", "PMI", "Slurm"
  std::string root_source;  // "LTCC_ROOT", "MASTER_ADDR/MASTER_PORT+1", "single host"
  // What every rank of this job (and no other job) shares: the user id and
  // LTCC_SESSION, TORCHELASTIC_RUN_ID (+ restart count), the Open MPI job id,
  // PMIX_NAMESPACE, SLURM_JOB_ID + SLURM_STEP_ID, those that are set. The
  // launcher-mode session key and the default rendezvous file derive from it.
  std::string job_identity;
  // job_identity holds a variable that names this job alone (see 3. above).
  bool job_unique = false;
  // The directory of the default rendezvous file, which must be private
  // (created 0700, owner and mode checked); empty for LTCC_ROOT's files.
  std::string root_private_dir;

  std::string describe() const;  // "torchrun rank 3 of 8 (2 of 4 on this host)"
};

// Fills *out from the environment (see above). Sets *out only on success.
Status detect_launch_env(LaunchEnv* out);

// Only the launcher's rank, size and local layout (no rendezvous, no job
// identity): for ltccCommInitRank, which needs no launcher but spreads the
// ranks of a host over its NICs where one says the local rank (src/nic.h).
Status detect_launch_layout(LaunchEnv* out);

// The job identity string described in LaunchEnv::job_identity; *unique
// (optional) says whether it names this job alone.
std::string job_identity_from_env(bool* unique = nullptr);

// "/tmp/ltcc-<uid>": the private directory of the default rendezvous files.
std::string default_root_dir();
// "<default_root_dir()>/root-<16 hex digits>" for this job identity.
std::string default_root_file(const std::string& job_identity);

// 64-bit FNV-1a of `text` followed by a splitmix64 finaliser: stable across
// processes, hosts and builds (the ranks of a job must agree on it).
uint64_t stable_hash64(const std::string& text);

// Parses "host:port" (port 1..65535; IPv4 address or host name, no IPv6).
// `what` names the source in errors ("LTCC_ROOT"). Sets outputs only on success.
Status parse_host_port(const std::string& text, const char* what, std::string* host,
                       uint16_t* port);

}  // namespace ltcc
