/*
 * c_allreduce: the smallest complete ltcc program, in plain C99.
 *
 *   c_allreduce [NRANKS] [COUNT]      (defaults: 2 ranks, 1000 floats)
 *
 * The parent creates the unique id (ltccGetUniqueId) and forks NRANKS
 * children; each joins the communicator (ltccCommInitRank), sums a float
 * array over all ranks (ltccAllReduce), checks every element exactly,
 * prints "rank R of N: OK" and destroys the communicator. The parent exits
 * non-zero if any child failed. (A real job would pass the unique id to the
 * other processes by MPI, a file or its framework's store; a forked child
 * inherits it.)
 */
#define _POSIX_C_SOURCE 200809L

#include <ltcc/ltcc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Every rank's input: small integers, so the float sums are exact. */
static float input(int rank, size_t i) { return (float)(1 + (rank + (int)(i % 7)) % 5); }

static int report(const char* what, ltccResult_t r, ltccComm_t comm, int rank) {
  const char* detail = ltccGetLastError(comm);
  fprintf(stderr, "rank %d: %s: %s%s%s\n", rank, what, ltccGetErrorString(r),
          detail[0] ? ": " : "", detail);
  return 1;
}

static int run_rank(ltccUniqueId id, int nranks, int rank, size_t count) {
  ltccComm_t comm = NULL;
  ltccResult_t r;
  float* send;
  float* recv;
  size_t i, wrong = 0;
  int q;

  r = ltccCommInitRank(&comm, nranks, id, rank);
  if (r != ltccSuccess) return report("ltccCommInitRank", r, NULL, rank);

  send = (float*)malloc(count * sizeof(float));
  recv = (float*)malloc(count * sizeof(float));
  if (!send || !recv) {
    fprintf(stderr, "rank %d: out of memory\n", rank);
    ltccCommAbort(comm);
    return 1;
  }
  for (i = 0; i < count; ++i) {
    send[i] = input(rank, i);
    recv[i] = -1.0f;
  }

  r = ltccAllReduce(send, recv, count, ltccFloat, ltccSum, comm, NULL);
  if (r != ltccSuccess) {
    report("ltccAllReduce", r, comm, rank);
    ltccCommAbort(comm);
    free(send);
    free(recv);
    return 1;
  }
  for (i = 0; i < count; ++i) {
    float expected = 0.0f;
    for (q = 0; q < nranks; ++q) expected += input(q, i);
    if (recv[i] != expected) {
      if (wrong == 0)
        fprintf(stderr, "rank %d: element %lu is %g, expected %g\n", rank, (unsigned long)i,
                (double)recv[i], (double)expected);
      ++wrong;
    }
  }
  free(send);
  free(recv);

  r = ltccCommDestroy(comm);
  if (r != ltccSuccess) return report("ltccCommDestroy", r, NULL, rank);
  if (wrong) {
    fprintf(stderr, "rank %d of %d: %lu of %lu elements wrong\n", rank, nranks,
            (unsigned long)wrong, (unsigned long)count);
    return 1;
  }
  printf("rank %d of %d: OK (%lu floats summed)\n", rank, nranks, (unsigned long)count);
  fflush(stdout);
  return 0;
}

int main(int argc, char** argv) {
  int nranks = argc > 1 ? atoi(argv[1]) : 2;
  long count_arg = argc > 2 ? atol(argv[2]) : 1000;
  ltccUniqueId id;
  ltccResult_t r;
  pid_t* pids;
  int rank, failures = 0, version = 0;

  if (nranks < 1 || nranks > 64 || count_arg < 1) {
    fprintf(stderr, "usage: %s [NRANKS (1..64, default 2)] [COUNT (default 1000)]\n", argv[0]);
    return 2;
  }
  ltccGetVersion(&version);
  printf("ltcc %d.%d.%d: all-reduce of %ld floats over %d ranks\n", version / 10000,
         version / 100 % 100, version % 100, count_arg, nranks);
  fflush(stdout);

  r = ltccGetUniqueId(&id);
  if (r != ltccSuccess) return report("ltccGetUniqueId", r, NULL, -1);

  pids = (pid_t*)calloc((size_t)nranks, sizeof(pid_t));
  if (!pids) return 1;
  for (rank = 0; rank < nranks; ++rank) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      failures++;
      break;
    }
    if (pid == 0) _exit(run_rank(id, nranks, rank, (size_t)count_arg));
    pids[rank] = pid;
  }
  for (rank = 0; rank < nranks; ++rank) {
    int status = 0;
    if (pids[rank] <= 0) continue;
    if (waitpid(pids[rank], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "rank %d failed\n", rank);
      failures++;
    }
  }
  free(pids);
  if (failures) {
    fprintf(stderr, "FAILED: %d rank(s)\n", failures);
    return 1;
  }
  printf("all %d ranks OK\n", nranks);
  return 0;
}
