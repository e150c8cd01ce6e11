/* ts-train-page.h - the explorer's training page (issue 7, "Training
 * page"): configure a run, queue it, watch it train, open the result.
 *
 * The page shows, left to right: the settings of a new run (data spec,
 * trait, variant, architecture, input size, epochs, learning rate, batch,
 * augmentation, device, row limit, output model path: the fields of
 * train/job.h's ts_train_settings); the queue of runs with their state;
 * the live curves of the selected run (training loss, training accuracy
 * and test accuracy per epoch) with its progress (phase, epoch, step,
 * images/s, ETA); and a row of probe faces (the first rows of the run's
 * data, classes taken in turn) with the LRP heatmap of the checkpoint
 * written after every epoch, labelled with the epoch that checkpoint holds
 * and the prediction.
 *
 * The page is a view over model objects it owns: a TsTrainQueue
 * (ts-train-queue.h: the runs, one training at a time in its own worker
 * thread, the probe heatmaps inspected after each epoch off the training
 * thread) whose runs are TsTrainRun objects (ts-train-run.h: settings,
 * state, curves, probes; trained in the app or by several processes,
 * ts-train-ranks.h), and a TsDataPreview (ts-data-preview.h: the
 * traits and class counts of the data spec, read in a GTask) behind the
 * form's trait list.  Rows (TsRunRow) and the selected run's title,
 * progress line and bar are bound to the run's properties; the curves and
 * probe cards (TsProbeCard) follow its signals.  Layout: ts-train-page.ui.
 * Cancel stops a run at its next step (the last completed epoch's
 * checkpoint stays valid); Resume queues a cancelled or failed run again
 * with settings.resume (from OUT.state) so it continues where it stopped;
 * Remove drops a run that is not running.  No call on the main thread
 * blocks on the engine.
 *
 * Errors (a data spec that does not parse, a trait the data lacks, an
 * output folder that cannot be written, a failure inside the run) end the
 * run in TS_TRAIN_RUN_FAILED with the message shown in its row; a form
 * that cannot make a run says why under the Queue button.
 *
 * Signals:
 *   "open-model" (const char *path, int slot): the user asked to open a
 *     finished (or cancelled, with a checkpoint) run's model in the
 *     explorer as model A (slot 0) or B (slot 1).
 *   "run-changed" (int index): run `index` changed state (queued,
 *     started, finished...); not emitted for progress within a state.
 */
#ifndef TS_TRAIN_PAGE_H
#define TS_TRAIN_PAGE_H

#include <gtk/gtk.h>

#include "train/job.h"
#include "app/ts-train-queue.h"

G_BEGIN_DECLS

#define TS_TYPE_TRAIN_PAGE (ts_train_page_get_type())
G_DECLARE_FINAL_TYPE(TsTrainPage, ts_train_page, TS, TRAIN_PAGE, GtkWidget)

/* What a run shows, for tests and the window.  Strings are borrowed from
 * the page (valid until the run changes or is removed). */
typedef struct TsTrainRunInfo {
    TsTrainRunState state;
    int epoch, epochs;        /* current (1-based) epoch and total */
    int epochs_done;          /* epochs whose checkpoint was written */
    float test_accuracy;      /* last evaluated, < 0 none yet */
    int n_loss_points;        /* per-step points of the loss curve */
    int n_epoch_points;       /* per-epoch points (loss and training accuracy) */
    int n_test_points;        /* per-epoch test accuracy points */
    int n_probe_updates;      /* epochs whose probe heatmaps reached the page */
    int n_probes;             /* probe faces of the run */
    int ranks;                /* processes training it (1: in the app) */
    const char *out;          /* model path */
    const char *error;        /* why it failed, NULL otherwise */
    const char *status;       /* the progress line shown ("epoch 2/5 ..."); transfer: none */
} TsTrainRunInfo;

/* A page with the paper's defaults in the form and an empty queue.
 * transfer: floating. */
GtkWidget *ts_train_page_new(void);

/* Queues a run with these settings (every string is copied; settings.out
 * is required).  eval_each_epoch is forced on (the test-accuracy curve).
 * Returns the run's index in the list (0-based, in queue order); it starts
 * at once when nothing else is training. */
int ts_train_page_queue(TsTrainPage *p, const ts_train_settings *s);
/* The same with `ranks` processes (issue 17): ranks > 1 trains the model
 * with `mpirun -np ranks traitscope-cli train` (docs/cluster.md) and follows
 * its progress; the form offers it where mpirun is on the PATH.  The CLI
 * is TS_CLI, else the one beside the app (or in its build tree), else the
 * one on the PATH. */
int ts_train_page_queue_ranks(TsTrainPage *p, const ts_train_settings *s, int ranks);

/* The number of runs in the list, and one run's info; FALSE for a bad
 * index. */
int ts_train_page_get_n_runs(TsTrainPage *p);
gboolean ts_train_page_get_run_info(TsTrainPage *p, int index, TsTrainRunInfo *out);

/* Cancels a run: a queued one becomes cancelled at once, a running one
 * at its next step.  FALSE when it is neither queued nor running. */
gboolean ts_train_page_cancel(TsTrainPage *p, int index);
/* Lets a run finish its current epoch (and that epoch's checkpoint and
 * probes), then cancels it; epoch > 0 instead stops it once that many
 * epochs are done.  FALSE when the run is done, failed or cancelled. */
gboolean ts_train_page_stop_after_epoch(TsTrainPage *p, int index, int epoch);
/* Queues a cancelled or failed run again; it continues from its last
 * checkpoint (OUT.state) when there is one.  FALSE otherwise. */
gboolean ts_train_page_resume(TsTrainPage *p, int index);
/* Removes a run that is not running (its files stay).  Indices after it
 * shift down by one.  FALSE for a running run or a bad index. */
gboolean ts_train_page_remove(TsTrainPage *p, int index);

/* Selects the run whose curves and probes are shown (the running run is
 * selected when it starts, unless the user picked another). */
void ts_train_page_select(TsTrainPage *p, int index);

/* The queue the page shows.  transfer: none. */
TsTrainQueue *ts_train_page_get_queue(TsTrainPage *p);

/* Fills the form's data field (e.g. from the window's last opened
 * dataset) and reloads its preview.  spec is copied. */
void ts_train_page_set_data(TsTrainPage *p, const char *spec);
/* The device choice shown (the app's --device at start). */
void ts_train_page_set_device(TsTrainPage *p, ts_device device);

G_END_DECLS

#endif
