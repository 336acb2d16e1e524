/* swarm.h — SwarmX: data-parallel training over MPI. Every rank is a
** "system" computing its own micro-batches (train/train.h wf_dp_hooks);
** the weight store and the optimizer live on rank 0, which receives the
** gradients, updates, and broadcasts the weights back.
**
** Reduction (fixed order, so results never depend on MPI's choices): a
** chain per block in rank order. Rank 0 sends its gradient block to rank
** 1, rank r adds its own (g = received + mine, wf_grad_add) and passes the
** sum on, the last rank sends the total back to rank 0. Blocks follow each
** other down the chain, so rank r+1 adds block b while rank r adds b+1.
** With one micro-batch per rank the sum is the one a single process forms
** with --accum (number of ranks): the same bits (tests/swarm).
**
** Overlap: with MPI_THREAD_SERIALIZED the hooks' posted forms exist: a
** communication thread runs posted broadcasts and chains in order (waiting
** on MPI with short sleeps, not spinning) while the caller computes; the
** blocking hooks first wait for everything posted, so one thread at a time
** is inside MPI and every rank issues its operations in program order.
**
** Faults: MPI errors return (MPI_ERRORS_RETURN) and become wf_status; the
** CLI then ends the whole job with MPI_Abort. A rank that dies is reported
** by mpirun ("process rank N ... exited on signal 9"), which stops the
** others; the last checkpoint, written only by rank 0 and atomically, stays
** loadable, and --resume takes any rank count with the same global batch. */
#ifndef WF_SWARM_H
#define WF_SWARM_H

#include "train/train.h"

typedef struct wf_swarm wf_swarm;

/* 1 when this process was started by mpirun/mpiexec (OpenMPI, PMIx or
** MPICH environment); a plain `wafer train` then never touches MPI. */
int wf_swarm_launched(void);
/* MPI_Init, the communicator, and hooks for wf_train_opts.dp. */
wf_status wf_swarm_init(int *argc, char ***argv, wf_swarm **out, wf_err *err);
void wf_swarm_hooks(wf_swarm *s, wf_dp_hooks *h);
int wf_swarm_rank(const wf_swarm *s);
int wf_swarm_size(const wf_swarm *s);
/* Rank 0's x[0..n) becomes the element-wise sum over the ranks (MPI's
** order: exact only where each element has one non-zero term, as in
** wf_eval_loss_part); the others' x are left as they were. */
wf_status wf_swarm_sum_to_root(wf_swarm *s, double *x, size_t n, wf_err *err);
/* Ends the whole job at once with this exit code (every rank). */
void wf_swarm_abort(wf_swarm *s, int code);
/* Waits for every rank, then MPI_Finalize and free; NULL is a no-op. */
void wf_swarm_finalize(wf_swarm *s);

#endif
