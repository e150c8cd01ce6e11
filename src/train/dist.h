/* dist.h - data-parallel training over several processes (ranks): the
 * process group that mpirun or srun started, and the collectives a
 * training run needs (issue 17).
 *
 * Engines, as llm.c and PyTorch DDP use them; no protocol of our own:
 *   - MPI between ranks (Open MPI, or any MPICH-ABI library: MPICH, Intel
 *     MPI, MVAPICH, Cray MPICH) for the small collectives (status votes,
 *     per-step figures, predictions) and for the gradients of graphs whose
 *     parameters live on the host;
 *   - NCCL for the gradients of graphs on a GPU (one GPU per rank), set up
 *     over MPI (rank 0's ncclUniqueId is broadcast).
 * Both libraries are loaded at run time (dlopen), never linked: the same
 * binary runs alone where neither is installed, and nothing changes then.
 *
 * Who is a rank: ts_dist_init() reads the launcher's environment
 * (OMPI_COMM_WORLD_SIZE/_RANK from Open MPI's mpirun, PMI_SIZE/PMI_RANK
 * from MPICH's Hydra, SLURM_STEP_NUM_TASKS/SLURM_PROCID from srun).  One
 * process (no launcher, or a launcher with one task) is a group of size 1:
 * no library is loaded and every collective below is a no-op.  With N > 1
 * tasks the MPI library must load (TS_MPI_LIB names it; otherwise
 * libmpi.so.40 (Open MPI), libmpi.so.12 (MPICH ABI), libmpi.so are tried):
 * if it does not, ts_dist_init fails rather than letting N copies race on
 * the same files.  TS_DIST=off makes every process a group of one (N
 * independent runs, for those who want exactly that).
 *
 * GPUs: with several ranks on a node, ts_dist_init sets TS_CUDA_DEVICE (the
 * CUDA backend's device choice) to the node-local rank modulo the devices
 * the rank can see, unless TS_CUDA_DEVICE is already set; with one visible
 * device per rank (srun --gpus-per-task=1) that device is used.
 *
 * Gradient reduction (ts_dist_grads_reduce): rank r's gradient is the mean
 * over its n_r samples of the global batch of B; the global mean is
 * sum_r (n_r / B) g_r.  Each rank scales by its n_r / B (NCCL: a
 * pre-multiplied sum, ncclRedOpCreatePreMulSum), then the sum is
 * all-reduced in place.  With equal shards and N a power of two the scale
 * is exact, and N ranks differ from one process only by the order of the
 * float additions.
 *
 * Agreement: every collective below is called by every rank in the same
 * order.  A rank that failed still takes part in the next vote
 * (ts_dist_agree), so that all ranks stop together instead of waiting for
 * each other forever.
 *
 * Threads: call everything from one thread (the one that ran
 * ts_dist_init, or at least one at a time: MPI is initialised with
 * MPI_THREAD_SERIALIZED).  The state is process-wide.
 */
#ifndef TS_DIST_H
#define TS_DIST_H

#include <stdbool.h>
#include <stddef.h>

#include "nn/graph.h"

typedef enum ts_dist_op {
    TS_DIST_SUM = 0,
    TS_DIST_MAX,
} ts_dist_op;

/* Joins the process group the launcher started (see above).  Idempotent.
 * note (may be NULL) receives one line about what was found ("" alone).
 * TS_ERR_UNSUPPORTED when N > 1 tasks were launched but no MPI library
 * loads; TS_ERR_DEVICE when MPI fails to initialise. */
ts_status ts_dist_init(char *note, size_t note_len);

/* Leaves the group (MPI_Finalize).  Safe to call when alone or twice. */
void ts_dist_finalize(void);

/* Ends every rank of the job with `code` (MPI_Abort): for a front end
 * whose rank cannot go on while the others may be waiting in a collective.
 * Alone it returns, and the caller exits as it would. */
void ts_dist_abort(int code);

int ts_dist_rank(void);       /* 0 .. size-1; 0 alone */
int ts_dist_size(void);       /* >= 1 */
int ts_dist_local_size(void); /* ranks on this node; 1 alone */
/* "none", or the library: "Open MPI v4.1.4, ..." (its first line). */
const char *ts_dist_library(void);

/* This rank's part of a global batch of B samples: samples [*offset,
 * *offset + *count).  The first B % size ranks take one more. */
void ts_dist_shard(int B, int *offset, int *count);

/* Threads the CPU backend should use on this rank: the node's cores shared
 * among its ranks; 0 (= leave as is) when alone. */
int ts_dist_cpu_threads(void);

/* The vote: every rank passes its own status; returns TS_OK when all were
 * TS_OK, else this rank's own failure, else the first failed rank's status
 * with a message naming that rank (its own message is in its output).
 * Once a vote has failed, every rank unwinds: later calls return `st`
 * without a collective (a rank that fails before a vote meets the others'
 * next vote, whichever it is, and all leave together).  Alone: returns
 * `st` unchanged. */
ts_status ts_dist_agree(ts_status st);
/* True when the failed vote failed because of another rank only. */
bool ts_dist_peer_failed(void);
/* True once a vote has failed: every rank knows, none waits.  A front end
 * whose run failed without a failed vote must ts_dist_abort. */
bool ts_dist_vote_failed(void);

/* In-place all-reduce of host arrays.  Alone: no-op. */
ts_status ts_dist_allreduce_f64(double *v, int n, ts_dist_op op);
ts_status ts_dist_allreduce_f32(float *v, size_t n);  /* sum */
/* batchnorm's running statistics (graph.h) made the mean over the ranks
 * on every rank: each rank normalised its own share of the batch, so each
 * moved its own (PyTorch's DDP, without SyncBatchNorm, keeps rank 0's).
 * Called by every rank after each epoch, before validation and the
 * checkpoint.  The batch statistics of training stay per rank: N ranks
 * with batchnorm layers do not train exactly the model one process
 * trains.  Alone, or without batchnorm layers: nothing. */
ts_status ts_dist_average_batchnorm(ts_graph *g);
/* Rank `root`'s bytes to every rank. */
ts_status ts_dist_bcast(void *buf, size_t bytes, int root);

/* Prepares the gradient reduction of graph g (finalized, on its backend):
 * NCCL when g's gradients live on a GPU and every rank has NCCL (>= 2.11);
 * MPI otherwise (through host staging when they live on a GPU).  `scale`
 * is this rank's n_r / B.  Call once after the graph has reached its
 * backend, on every rank; a later call replaces the earlier set-up.
 * Alone: does nothing. */
ts_status ts_dist_grads_attach(ts_graph *g, float scale);
/* Sums the scaled gradients of every rank into g->grads on every rank. */
ts_status ts_dist_grads_reduce(ts_graph *g);
/* "none" (alone), "mpi", "mpi-staged" (GPU gradients through the host) or
 * "nccl": what ts_dist_grads_attach chose. */
const char *ts_dist_allreduce_name(void);
/* Releases what ts_dist_grads_attach set up (the NCCL communicator). */
void ts_dist_grads_detach(void);

#endif
