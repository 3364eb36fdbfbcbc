/*
 * ltcc — loss-tolerant collective communication: the C API.
 *
 * Shaped like NCCL's (nccl.h) for host memory: a unique id from one rank,
 * ltccCommInitRank on every rank, collectives, ltccCommDestroy. Differences
 * a NCCL user should know:
 *  - Buffers are host memory. There are no streams: each collective takes an
 *    optional request out-parameter. NULL means "block until done"; a non-NULL
 *    pointer makes the call asynchronous and returns a request to complete
 *    with ltccWait or ltccTest (which free it).
 *  - Calls on one communicator from one thread run in the order they were
 *    issued (like a stream). Several communicators may be used concurrently
 *    from different threads.
 *  - Every call validates its arguments and returns a result code; nothing
 *    aborts the process. ltccGetLastError(comm) gives a sentence that names
 *    the rank, the peer, the operation and the number that went wrong.
 *  - A rank that dies or goes silent turns into ltccRemoteError or
 *    ltccTimeout on every other rank within the configured timeout
 *    (LTCC_TIMEOUT, or ltccConfig_t.timeoutSeconds), naming it.
 *
 * Thread safety: every function may be called from any thread. A
 * communicator's operations are executed in the order their calls returned.
 */
#ifndef LTCC_LTCC_H_
#define LTCC_LTCC_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LTCC_MAJOR 0
#define LTCC_MINOR 1
#define LTCC_PATCH 0
#define LTCC_VERSION_CODE (LTCC_MAJOR * 10000 + LTCC_MINOR * 100 + LTCC_PATCH)

/* ---- result codes (numbered as NCCL's) ---------------------------------- */
typedef enum {
  ltccSuccess = 0,
  ltccUnhandledCudaError = 1, /* never returned: host memory only */
  ltccSystemError = 2,        /* an OS call failed */
  ltccInternalError = 3,      /* a bug in ltcc */
  ltccInvalidArgument = 4,    /* a bad pointer, count, type, op, rank... */
  ltccInvalidUsage = 5,       /* calls in the wrong order, use after destroy */
  ltccRemoteError = 6,        /* a peer died, went silent or failed */
  ltccInProgress = 7,         /* asynchronous operation not finished */
  ltccTimeout = 8,            /* a deadline passed (init, a silent peer) */
  ltccNumResults = 9
} ltccResult_t;

/* ---- data types and reduction ops (numbered as NCCL's) ------------------ */
typedef enum {
  ltccInt8 = 0, ltccChar = 0,
  ltccUint8 = 1,
  ltccInt32 = 2, ltccInt = 2,
  ltccUint32 = 3,
  ltccInt64 = 4,
  ltccUint64 = 5,
  ltccFloat16 = 6, ltccHalf = 6,
  ltccFloat32 = 7, ltccFloat = 7,
  ltccFloat64 = 8, ltccDouble = 8,
  ltccBfloat16 = 9,
  ltccNumTypes = 10
} ltccDataType_t;

typedef enum {
  ltccSum = 0,
  ltccProd = 1,
  ltccMax = 2,
  ltccMin = 3,
  ltccAvg = 4, /* sum, then divided by the number of ranks (integer types: truncating) */
  ltccBand = 5, /* bitwise and, or, xor (MPI_BAND...): integer types only */
  ltccBor = 6,
  ltccBxor = 7,
  ltccNumOps = 8
} ltccRedOp_t;

/* ---- opaque handles ------------------------------------------------------ */
#define LTCC_UNIQUE_ID_BYTES 128
/* Created by ltccGetUniqueId on one rank and passed to all others (by MPI,
 * a file, the framework's store...). Carries the rendezvous address and a
 * random session key: peers that do not present the key are refused. */
typedef struct { char internal[LTCC_UNIQUE_ID_BYTES]; } ltccUniqueId;

typedef struct ltccComm* ltccComm_t;
typedef struct ltccRequest* ltccRequest_t;

/* ---- configuration ------------------------------------------------------- */
/* Per-communicator overrides of the LTCC_* environment. Initialise with
 * LTCC_CONFIG_INITIALIZER; fields left at their "undefined" value take the
 * environment's (or the built-in default). */
typedef enum { ltccRetxUndef = -1, ltccRetxSelectiveRepeat = 0, ltccRetxGoBackN = 1 } ltccRetx_t;
typedef enum { ltccCcUndef = -1, ltccCcSwift = 0, ltccCcAimd = 1, ltccCcFixed = 2 } ltccCc_t;

typedef struct {
  size_t size;             /* sizeof(ltccConfig_t), set by the initializer */
  unsigned int magic;      /* set by the initializer */
  unsigned int version;    /* LTCC_VERSION_CODE, set by the initializer */
  const char* transport;   /* "auto", "ldt" ("udp"), "ucx"; NULL: LTCC_TRANSPORT */
  int retx;                /* ltccRetx_t; ltccRetxUndef: LTCC_RETX */
  int cc;                  /* ltccCc_t; ltccCcUndef: LTCC_CC */
  double timeoutSeconds;   /* peer silence / init timeout; <= 0: LTCC_TIMEOUT */
  int mtu;                 /* link MTU in bytes; 0: LTCC_MTU (0 = the interface's) */
  const char* ifname;      /* data interface; NULL: LTCC_IFNAME */
  int blocking;            /* reserved for ltcc's NCCL-style non-blocking init; must be 1 */
} ltccConfig_t;

#define LTCC_CONFIG_MAGIC 0x4C54434Bu
#define LTCC_CONFIG_INITIALIZER \
  { sizeof(ltccConfig_t), LTCC_CONFIG_MAGIC, LTCC_VERSION_CODE, NULL, ltccRetxUndef, \
    ltccCcUndef, 0.0, 0, NULL, 1 }

/* ---- statistics ------------------------------------------------------------ */
typedef struct {
  int peer;                        /* rank this entry describes */
  uint64_t packetsSent;            /* DATA packets, first transmissions */
  uint64_t bytesSent;              /* payload bytes, first transmissions */
  uint64_t packetsRetransmitted;
  uint64_t packetsLost;            /* declared lost (RACK, NACK, timeout) */
  uint64_t spuriousRetransmissions;/* duplicates the peer reported */
  uint64_t timeouts;               /* retransmission timeouts fired */
  uint64_t tailProbes;
  uint64_t packetsReceived;        /* DATA packets accepted from the peer */
  uint64_t bytesReceived;
  uint64_t duplicatesReceived;
  double srttUs;                   /* smoothed RTT to the peer */
  double minRttUs;
  double p99RttUs;
  uint64_t cwndBytes;              /* congestion window now */
  uint64_t bytesReceivedInPlace;   /* of bytesReceived: the kernel put them straight into the
                                      receive buffer (no copy: LTCC_RX_IN_PLACE) */
  uint64_t parityPacketsSent;      /* FEC parity packets sent to the peer (LTCC_FEC) */
  uint64_t packetsRecovered;       /* of packetsReceived: rebuilt from the peer's parity,
                                      without a retransmission */
  double sendBusyUs;               /* time with data to the peer queued or unacknowledged
                                      (ended spells); bytesSent / it is the link's goodput
                                      while it had work. 0 over UCX */
} ltccPeerStats_t;

typedef struct {
  size_t size;                     /* set to sizeof(ltccStats_t) by the caller */
  int rank;
  int nranks;
  uint64_t collectives;            /* collectives completed */
  uint64_t invalidDatagrams;       /* malformed, truncated, corrupt, foreign: dropped */
  uint64_t foreignDatagrams;       /* well-formed but from another session */
  uint64_t unexpectedBytesPeak;    /* most data held for receives not yet posted */
  /* Added in 0.x with the shared-memory collectives; a caller built against
   * the earlier struct (size ending before it) gets everything above. */
  uint64_t sharedMemoryCollectives;/* of collectives: done through shared memory, every rank
                                      on this host (LTCC_SHM), not the transport */
} ltccStats_t;

/* ---- version and errors -------------------------------------------------- */
ltccResult_t ltccGetVersion(int* version);
const char* ltccGetErrorString(ltccResult_t result);
/* The last error's sentence: for a communicator, its last failure; for NULL,
 * the calling thread's last failure. Never NULL; "" when there is none. */
const char* ltccGetLastError(ltccComm_t comm);

/* ---- communicators -------------------------------------------------------- */
ltccResult_t ltccGetUniqueId(ltccUniqueId* uniqueId);
ltccResult_t ltccCommInitRank(ltccComm_t* comm, int nranks, ltccUniqueId commId, int rank);
ltccResult_t ltccCommInitRankConfig(ltccComm_t* comm, int nranks, ltccUniqueId commId, int rank,
                                    const ltccConfig_t* config);
/* Rank, size and rendezvous from the launcher's environment: torchrun
 * (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), Open MPI (OMPI_COMM_WORLD_*),
 * PMI (PMI_RANK, PMI_SIZE), Slurm (SLURM_PROCID, SLURM_NTASKS). LTCC_ROOT
 * (host:port, or file:PATH for ranks sharing a file system) names the
 * rendezvous; see README "Launching". config may be NULL. */
ltccResult_t ltccCommInitFromEnv(ltccComm_t* comm, const ltccConfig_t* config);
/* Waits (bounded) for the other ranks to finish with the communicator, then
 * frees it. Operations queued but not started complete with
 * ltccInvalidUsage; the one running gets the timeout to finish, then fails.
 * When it cut anything short destroy tells the peers (they would wait for
 * it) and returns ltccInvalidUsage (or ltccTimeout) with a sentence saying
 * what; the communicator is freed either way. Calls still running on other
 * threads keep it alive until they return (then fail). */
ltccResult_t ltccCommDestroy(ltccComm_t comm);
/* Fails every pending operation at once, tells the peers, frees it. Always
 * returns promptly. Safe from any thread while others are blocked in calls
 * on the communicator (a watchdog): they return an error; the memory is
 * freed when the last of them has returned. A handle is never reused: after
 * destroy or abort it is refused (ltccInvalidUsage), also once its memory
 * belongs to a new communicator. A fork()ed child cannot use its parent's
 * communicators (refused, never hung); it may create its own. */
ltccResult_t ltccCommAbort(ltccComm_t comm);
ltccResult_t ltccCommCount(const ltccComm_t comm, int* count);
ltccResult_t ltccCommUserRank(const ltccComm_t comm, int* rank);
/* ltccSuccess, or the error that broke the communicator (a dead peer...). */
ltccResult_t ltccCommGetAsyncError(ltccComm_t comm, ltccResult_t* asyncError);
/* Counters. peers may be NULL; else it has room for npeers entries, filled
 * by rank (entry i describes rank i; the own rank's entry is zero). */
ltccResult_t ltccCommGetStats(ltccComm_t comm, ltccStats_t* stats, ltccPeerStats_t* peers,
                              int npeers);

/* ---- collectives ------------------------------------------------------------
 * request == NULL: the call returns when the operation is complete.
 * request != NULL: the call returns once the operation is queued; complete
 * it with ltccWait or ltccTest. Buffers must stay valid until then. On any
 * error *request is set to NULL.
 * In-place forms as NCCL's: AllReduce/Broadcast sendbuff == recvbuff;
 * AllGather sendbuff == recvbuff + rank * sendcount elements;
 * ReduceScatter recvbuff == sendbuff + rank * recvcount elements. */
ltccResult_t ltccAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                           ltccDataType_t datatype, ltccRedOp_t op, ltccComm_t comm,
                           ltccRequest_t* request);
ltccResult_t ltccAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                           ltccDataType_t datatype, ltccComm_t comm, ltccRequest_t* request);
ltccResult_t ltccReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                               ltccDataType_t datatype, ltccRedOp_t op, ltccComm_t comm,
                               ltccRequest_t* request);
ltccResult_t ltccBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                           ltccDataType_t datatype, int root, ltccComm_t comm,
                           ltccRequest_t* request);
ltccResult_t ltccBarrier(ltccComm_t comm, ltccRequest_t* request);

/* Rooted collectives (NCCL's argument order). recvbuff of Reduce and Gather,
 * and sendbuff of Scatter, are read only on the root (may be NULL
 * elsewhere). In place: Reduce sendbuff == recvbuff; Gather (root) sendbuff
 * == recvbuff + root * count elements; Scatter (root) recvbuff == sendbuff +
 * root * count elements. Reduce is bitwise the same on every run (a fixed
 * order along the ring toward the root). */
ltccResult_t ltccReduce(const void* sendbuff, void* recvbuff, size_t count,
                        ltccDataType_t datatype, ltccRedOp_t op, int root, ltccComm_t comm,
                        ltccRequest_t* request);
/* Every rank's count elements into the root's recvbuff, in rank order. */
ltccResult_t ltccGather(const void* sendbuff, void* recvbuff, size_t count,
                        ltccDataType_t datatype, int root, ltccComm_t comm,
                        ltccRequest_t* request);
/* Block p (count elements) of the root's sendbuff to rank p's recvbuff. */
ltccResult_t ltccScatter(const void* sendbuff, void* recvbuff, size_t count,
                         ltccDataType_t datatype, int root, ltccComm_t comm,
                         ltccRequest_t* request);
/* Block p (count elements) of sendbuff to rank p, block p of recvbuff from
 * rank p. In place: sendbuff == recvbuff (any other overlap is refused). */
ltccResult_t ltccAllToAll(const void* sendbuff, void* recvbuff, size_t count,
                          ltccDataType_t datatype, ltccComm_t comm, ltccRequest_t* request);
/* MPI_Alltoallv's shape: nranks counts and displacements (elements) each
 * way; rank p's sendcounts[q] must equal rank q's recvcounts[p] (else both
 * fail, naming the other rank). Zero-length blocks are fine. In place:
 * sendbuff == recvbuff (the send side is copied aside first). */
ltccResult_t ltccAllToAllv(const void* sendbuff, const size_t sendcounts[],
                           const size_t sdispls[], void* recvbuff, const size_t recvcounts[],
                           const size_t rdispls[], ltccDataType_t datatype, ltccComm_t comm,
                           ltccRequest_t* request);

/* ---- point-to-point ----------------------------------------------------------
 * A peer's messages match receives in the order both were called, per tag
 * (Send/Recv use tag 0; tags 0 .. 2^24 - 1), as MPI's do; the count and
 * type must agree (a receive of another length fails, naming both). They are
 * queued in order with the communicator's collectives but never hold the
 * queue: thousands may be in flight, in both directions, and a receive may
 * be called long after its send. A blocking Send may wait until the peer
 * calls the matching Recv (as MPI_Send): pair blocking calls that could wait
 * for each other in a group, or use requests. The peer is another rank (a
 * send to oneself is refused: copy the buffer). */
ltccResult_t ltccSend(const void* sendbuff, size_t count, ltccDataType_t datatype, int peer,
                      ltccComm_t comm, ltccRequest_t* request);
ltccResult_t ltccRecv(void* recvbuff, size_t count, ltccDataType_t datatype, int peer,
                      ltccComm_t comm, ltccRequest_t* request);
ltccResult_t ltccSendTag(const void* sendbuff, size_t count, ltccDataType_t datatype, int peer,
                         int tag, ltccComm_t comm, ltccRequest_t* request);
ltccResult_t ltccRecvTag(void* recvbuff, size_t count, ltccDataType_t datatype, int peer, int tag,
                         ltccComm_t comm, ltccRequest_t* request);

/* Groups (NCCL's): calls between ltccGroupStart and ltccGroupEnd on this
 * thread are checked at once and held; the outermost ltccGroupEnd queues
 * them all, in call order, then returns when the ones called without a
 * request are complete (their first error, if any). Groups nest. A request
 * of a held call cannot be waited or tested before its group ends
 * (ltccInvalidUsage). */
ltccResult_t ltccGroupStart(void);
ltccResult_t ltccGroupEnd(void);

/* Blocks until the request completes, frees it, returns its result. */
ltccResult_t ltccWait(ltccRequest_t request);
/* *done = 0 while pending (returns ltccSuccess). Once complete: *done = 1,
 * the request is freed and its result returned. */
ltccResult_t ltccTest(ltccRequest_t request, int* done);

/* Size in bytes of one element (0 for an invalid type). */
size_t ltccTypeSize(ltccDataType_t datatype);

#ifdef __cplusplus
}
#endif

#endif /* LTCC_LTCC_H_ */
