/* ts-train-ranks.h - a training run over several processes (issue 17):
 * `mpirun -np N traitscope-cli train --progress json` (docs/cluster.md),
 * started and followed from a run's worker thread (TsTrainRun).
 *
 * Each progress line of the CLI becomes the ts_train_progress the
 * in-process run would report (so curves, probes and "stop after" work the
 * same), the final JSON the result; cancel sends SIGINT to mpirun, which
 * passes it to the ranks, and they stop at the same step.  A "stop after
 * epoch N" known before the start is the CLI's own --stop-after (exact, as
 * in the process); asked later, the worker signals mpirun as soon as the
 * epoch's end is reported.  The CLI is TS_CLI, else the one beside the app
 * (or in its build tree), else the one on the PATH.
 */
#ifndef TS_TRAIN_RANKS_H
#define TS_TRAIN_RANKS_H

#include <glib.h>

#include "train/job.h"

/* What the run shares with the follower: its callbacks and its atomics. */
typedef struct TsRanksHooks {
    void (*on_progress)(const ts_train_progress *p, void *user);
    bool (*should_abort)(void *user);
    gint *stop_after;    /* atomic: > 0 stop when that many epochs are done; -1 after the current one */
    gint *abort;         /* atomic: cancel now */
    gint *worker_epochs; /* atomic: epochs done, as reported */
    void *user;
} TsRanksHooks;

/* Trains `s` with `ranks` processes and waits.  TS_OK with *res filled,
 * TS_CANCELLED when asked to stop, else an error with *error (transfer:
 * full) saying why (mpirun or the CLI missing, the CLI's last message). */
ts_status ts_train_ranks_run(const ts_train_settings *s, int ranks, const TsRanksHooks *h, ts_train_result *res,
                             char **error);

#endif
