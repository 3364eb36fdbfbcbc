/* mpi_coll — the Open MPI peer of ltcc-perf for bench/compare.
 *
 *   mpirun -np N mpi_coll [-t allreduce|allgather|alltoall|sendrecv] [-b MIN] [-e MAX] [-f F]
 *                         [-n ITERS] [-w WARMUP] [-c 0|1]
 *
 * Measures exactly what ltcc-perf measures, so the columns compare: float32,
 * sum, out-of-place; per size a barrier, ITERS back-to-back blocking calls,
 * the average time per call, the maximum over ranks; algbw = size / time,
 * busbw = algbw x 2(n-1)/n (all-reduce) or (n-1)/n (all-gather), as in
 * nccl-tests. For all-gather, size is the gathered (output) size. With -c 1
 * every result is checked against the exact expected value (small integers
 * in float32 are exact) and #wrong counts the elements that differ.
 * Prints one CSV row per size on rank 0:
 *   size,count,type,redop,root,time_us,algbw,busbw,wrong
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t parse_size(const char* s) {
  char* end = NULL;
  double v = strtod(s, &end);
  if (end == s || v < 0) {
    fprintf(stderr, "mpi_coll: bad size '%s'\n", s);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  switch (*end) {
    case 'K': case 'k': v *= 1024; break;
    case 'M': case 'm': v *= 1024 * 1024; break;
    case 'G': case 'g': v *= 1024.0 * 1024 * 1024; break;
    default: break;
  }
  return (uint64_t)v;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, n = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);

  /* 0 allreduce, 1 allgather, 2 alltoall (MPI_Alltoall: block p to rank
   * p), 3 sendrecv (MPI_Sendrecv: to rank + 1, from rank - 1), as ltcc-perf. */
  int mode = 0, iters = 20, warmup = 5, check = 1;
  static const char* const kNames[] = {"allreduce", "allgather", "alltoall", "sendrecv"};
  uint64_t minb = 1 << 20, maxb = 64 << 20, factor = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char* k = argv[i];
    const char* v = argv[i + 1];
    if (!strcmp(k, "-t")) {
      mode = -1;
      for (int m = 0; m < 4; ++m)
        if (!strcmp(v, kNames[m])) mode = m;
      if (mode < 0) {
        if (rank == 0) fprintf(stderr, "mpi_coll: -t %s: want allreduce, allgather, alltoall, sendrecv\n", v);
        MPI_Abort(MPI_COMM_WORLD, 2);
      }
    }
    else if (!strcmp(k, "-b")) minb = parse_size(v);
    else if (!strcmp(k, "-e")) maxb = parse_size(v);
    else if (!strcmp(k, "-f")) factor = strtoull(v, NULL, 10);
    else if (!strcmp(k, "-n")) iters = atoi(v);
    else if (!strcmp(k, "-w")) warmup = atoi(v);
    else if (!strcmp(k, "-c")) check = atoi(v);
    else {
      if (rank == 0) fprintf(stderr, "mpi_coll: unknown option '%s'\n", k);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }
  if (factor < 2 || iters < 1 || warmup < 0) {
    if (rank == 0) fprintf(stderr, "mpi_coll: want -f >= 2, -n >= 1, -w >= 0\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }

  /* Buffers for the largest size; all-gather sends size/n per rank. */
  size_t max_count = maxb / sizeof(float);
  float* send = malloc((max_count + 1) * sizeof(float));
  float* recv = malloc((max_count + 1) * sizeof(float));
  if (!send || !recv) {
    fprintf(stderr, "mpi_coll: rank %d: out of memory for %zu floats\n", rank, max_count);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (rank == 0) {
    printf("# mpi_coll %s, %d ranks, float sum, iters %d warmup %d check %d\n",
           kNames[mode], n, iters, warmup, check);
    printf("size,count,type,redop,root,time_us,algbw,busbw,wrong\n");
  }
  for (uint64_t bytes = minb; bytes <= maxb; bytes *= factor) {
    const int allgather = mode == 1, alltoall = mode == 2, sendrecv = mode == 3;
    size_t count = bytes / sizeof(float);            /* output elements */
    size_t per = allgather || alltoall ? count / (size_t)n : count; /* per rank (per block) */
    if (allgather || alltoall) count = per * (size_t)n;
    const size_t filled = alltoall ? count : per;
    for (size_t i = 0; i < filled; ++i) send[i] = (float)((rank + 1) * 10 + (int)(i % 7));
    double t = 0;
    for (int it = -warmup; it < iters; ++it) {
      if (it == 0) {
        MPI_Barrier(MPI_COMM_WORLD);
        t = MPI_Wtime();
      }
      if (allgather)
        MPI_Allgather(send, (int)per, MPI_FLOAT, recv, (int)per, MPI_FLOAT, MPI_COMM_WORLD);
      else if (alltoall)
        MPI_Alltoall(send, (int)per, MPI_FLOAT, recv, (int)per, MPI_FLOAT, MPI_COMM_WORLD);
      else if (sendrecv)
        MPI_Sendrecv(send, (int)count, MPI_FLOAT, (rank + 1) % n, 7, recv, (int)count, MPI_FLOAT,
                     (rank + n - 1) % n, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      else
        MPI_Allreduce(send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    double us = (MPI_Wtime() - t) * 1e6 / iters, us_max = 0;
    MPI_Allreduce(&us, &us_max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    long long wrong = 0, wrong_sum = 0;
    if (check) {
      for (size_t i = 0; i < count; ++i) {
        float want;
        if (allgather) {
          size_t r = i / per, j = i % per;
          want = (float)((int)(r + 1) * 10 + (int)(j % 7));
        } else if (alltoall) {  /* block p: rank p's elements rank * per + j */
          size_t p = i / per, j = i % per;
          want = (float)((int)(p + 1) * 10 + (int)(((size_t)rank * per + j) % 7));
        } else if (sendrecv) {
          want = (float)(((rank + n - 1) % n + 1) * 10 + (int)(i % 7));
        } else {
          want = (float)(n * (n + 1) / 2 * 10 + n * (int)(i % 7));
        }
        wrong += recv[i] != want;
      }
    }
    MPI_Reduce(&wrong, &wrong_sum, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
      double algbw = us_max > 0 ? (double)(count * sizeof(float)) / (us_max * 1e-6) / 1e9 : 0;
      double f = allgather || alltoall ? (double)(n - 1) / n : sendrecv ? 1.0 : 2.0 * (n - 1) / n;
      printf("%llu,%zu,float,%s,-1,%.2f,%.4f,%.4f,%lld\n", (unsigned long long)(count * sizeof(float)),
             count, mode == 0 ? "sum" : "none", us_max, algbw, algbw * f, check ? wrong_sum : -1);
      fflush(stdout);
    }
    if (bytes > maxb / factor) break;
  }
  free(send);
  free(recv);
  MPI_Finalize();
  return 0;
}
