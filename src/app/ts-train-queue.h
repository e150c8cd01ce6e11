/* ts-train-queue.h - the training page's queue of runs (a model object, no
 * widget): a GListModel of TsTrainRun in queue order.
 *
 * One run trains at a time; the next queued run starts when it ends (or
 * when a cancelled one is resumed and nothing else trains).  After each
 * epoch of a run the queue inspects the checkpoint just written on the
 * run's probe faces (explain/inspect.h's ts_inspector_run, one GTask at a
 * time, with an inspector the queue owns: its dlib model is 95 MB, loaded
 * once) and hands the heatmaps (explain/colormap.h's diverging map) back
 * to the run.  Nothing of this runs in the training thread.  The caption's
 * epoch is the one the checkpoint itself records (its training metadata's
 * epochs_done): with model selection the file holds the best epoch so far.
 *
 * Disposing the queue stops the running run at its next step and waits for
 * its thread and for the probe thread: the queue goes away when the window
 * closes, often just before the process exits.
 *
 * Signals: "run-changed" (int index): run `index` changed state (queued,
 *   started, finished...), not emitted for progress within a state.
 */
#ifndef TS_TRAIN_QUEUE_H
#define TS_TRAIN_QUEUE_H

#include <gio/gio.h>

#include "app/ts-train-run.h"

G_BEGIN_DECLS

#define TS_TYPE_TRAIN_QUEUE (ts_train_queue_get_type())
G_DECLARE_FINAL_TYPE(TsTrainQueue, ts_train_queue, TS, TRAIN_QUEUE, GObject)

/* transfer: full. */
TsTrainQueue *ts_train_queue_new(void);

/* Appends a run with these settings (copied), trained by `ranks`
 * processes (1: in the app; ts-train-run.h), and starts it when nothing
 * else trains.  transfer: none (the queue holds it). */
TsTrainRun *ts_train_queue_add(TsTrainQueue *q, const ts_train_settings *s, int ranks);
/* The run at `index` (NULL for a bad index), its index (-1 when not
 * listed), the run with a worker (or NULL).  transfer: none. */
TsTrainRun *ts_train_queue_get_run(TsTrainQueue *q, int index);
int ts_train_queue_index_of(TsTrainQueue *q, TsTrainRun *r);
TsTrainRun *ts_train_queue_get_running(TsTrainQueue *q);
/* Removes a run that is not running (its files stay).  FALSE for the
 * running run or one not listed. */
gboolean ts_train_queue_remove(TsTrainQueue *q, TsTrainRun *r);
/* TRUE when a run that is queued or running writes `out`. */
gboolean ts_train_queue_writes(TsTrainQueue *q, const char *out);

G_END_DECLS

#endif
