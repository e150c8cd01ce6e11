/* ts-train-run.h - one training run of the training page's queue (a model
 * object, no widget): its settings, its state, its curves and its probe
 * faces, and the worker thread that trains it.
 *
 * States (TsTrainRunState): queued -> preparing (data, landmarks, probe
 * faces) -> training (epochs, evaluation) -> done | cancelled | failed;
 * a cancelled or failed run may be queued again (ts_train_run_resume) and
 * continues from its last checkpoint (OUT.state) when there is one.
 *
 * Threads: ts_train_run_start runs ts_train_run (train/job.h) in a GTask,
 * or, for a run over several processes, follows mpirun there.
 * The worker never touches the run's published state: it posts progress
 * records and the probe faces it picked into the run's mailbox (under a
 * mutex) and schedules one idle callback that drains it on the main thread,
 * so a burst of steps costs one update.  cancel and stop-after-epoch are
 * atomics the worker polls every step.  Everything else here is main-thread
 * state; properties notify and signals are emitted on the main thread.
 *
 * Probes: the worker picks the probe faces (the first rows of the data,
 * classes taken in turn) before training.  It does not inspect them: at
 * the end of each epoch the run emits "epoch-done", and whoever owns the
 * run (TsTrainQueue) inspects the checkpoint on them in a thread of its
 * own and hands the heatmaps back (ts_train_run_add_probes).  A run that
 * has waiting probe work reports its end (state, "finished") only after
 * that work has come back, so its last epoch's probes are always shown.
 *
 * Curves: per step, the batch loss and accuracy are recovered from the
 * running epoch means job.c reports (k*m_k - (k-1)*m_{k-1}) and smoothed
 * with an exponential moving average; per epoch, the epoch means and the
 * test accuracy (eval_each_epoch) are plotted as dots.
 *
 * Properties (read-only, notify): "state" (int, TsTrainRunState), "title"
 *   ("#2  gender · LACNN · alexnet · 150 px"), "status" (the one-line state
 *   shown in its row), "fraction" (0..1 done), "active" (preparing or
 *   training), "stopped" (cancelled or failed), "can-stop" (a stop after
 *   this epoch may still be asked), "can-open" (a model was written and the
 *   run is not active), "show-progress" (its bar is worth showing),
 *   "failed".
 * Signals: "state-changed"; "curves-changed"; "probes-changed";
 *   "epoch-done" (int epoch: a checkpoint was written); "finished" (the
 *   worker ended and the run is done, cancelled or failed).
 */
#ifndef TS_TRAIN_RUN_H
#define TS_TRAIN_RUN_H

#include <gtk/gtk.h>

#include "face/image.h"
#include "train/job.h"

G_BEGIN_DECLS

typedef enum {
    TS_TRAIN_RUN_QUEUED = 0,
    TS_TRAIN_RUN_PREPARING,  /* loading data, landmarks, probes */
    TS_TRAIN_RUN_TRAINING,   /* an epoch is running (or evaluating) */
    TS_TRAIN_RUN_DONE,
    TS_TRAIN_RUN_CANCELLED,
    TS_TRAIN_RUN_FAILED,
} TsTrainRunState;

/* "queued", "preparing", "training", "done", "cancelled", "failed". */
const char *ts_train_run_state_name(TsTrainRunState s);

#define TS_TRAIN_PROBES 4

/* A probe face as shown: the face, its heatmap (RGB24 surfaces, NULL until
 * known), the label's class name and "Epoch 2 · male 87 %". */
typedef struct TsTrainProbe {
    cairo_surface_t *face, *heat;
    char *truth, *caption;
} TsTrainProbe;

/* A probe result for one epoch, as the inspecting thread hands it over. */
typedef struct TsTrainProbeResult {
    int epoch, n;
    struct {
        ts_image heat;        /* RGB8, empty on failure */
        char pred[96];        /* what the heatmap explains and its probability */
        float prob;
        char error[256];
    } item[TS_TRAIN_PROBES];
} TsTrainProbeResult;
void ts_train_probe_result_free(TsTrainProbeResult *r);

/* The curves of a run: (x, y) pairs. */
typedef enum {
    TS_TRAIN_CURVE_LOSS_STEP = 0, /* smoothed per step, x in epochs */
    TS_TRAIN_CURVE_LOSS_EPOCH,
    TS_TRAIN_CURVE_ACC_STEP,
    TS_TRAIN_CURVE_ACC_EPOCH,
    TS_TRAIN_CURVE_TEST_EPOCH,
    TS_TRAIN_N_CURVES
} TsTrainCurve;

#define TS_TYPE_TRAIN_RUN (ts_train_run_get_type())
G_DECLARE_FINAL_TYPE(TsTrainRun, ts_train_run, TS, TRAIN_RUN, GObject)

/* A queued run with these settings (every string copied; eval_each_epoch
 * forced on, for the test-accuracy curve), trained in its worker thread
 * (ranks 1) or by `ranks` processes (ts-train-ranks.h: mpirun, followed
 * from the worker thread).  transfer: full. */
TsTrainRun *ts_train_run_new(const ts_train_settings *s, int id, int ranks);

/* ---- what it shows (main thread) ---- */
int ts_train_run_get_id(TsTrainRun *r);
int ts_train_run_get_ranks(TsTrainRun *r);
TsTrainRunState ts_train_run_get_state(TsTrainRun *r);
/* transfer: none. */
const ts_train_settings *ts_train_run_get_settings(TsTrainRun *r);
const ts_train_progress *ts_train_run_get_progress(TsTrainRun *r);
const char *ts_train_run_get_title(TsTrainRun *r);
const char *ts_train_run_get_status(TsTrainRun *r);
/* Why it failed, NULL otherwise.  transfer: none. */
const char *ts_train_run_get_error(TsTrainRun *r);
double ts_train_run_get_fraction(TsTrainRun *r);
int ts_train_run_get_epochs_done(TsTrainRun *r);
/* Last evaluated test accuracy, < 0 none yet. */
float ts_train_run_get_test_accuracy(TsTrainRun *r);
gboolean ts_train_run_is_active(TsTrainRun *r);
/* (x, y) pairs of a curve.  transfer: none. */
const double *ts_train_run_get_curve(TsTrainRun *r, TsTrainCurve c, int *n_points);
int ts_train_run_get_n_probes(TsTrainRun *r);
const TsTrainProbe *ts_train_run_get_probe(TsTrainRun *r, int k);
int ts_train_run_get_n_probe_updates(TsTrainRun *r);

/* ---- what it is asked (main thread) ---- */

/* Starts a queued run (the queue calls it): "preparing" at once, its
 * worker from the main loop's next turn, so a stop asked in this turn is
 * known when it starts. */
void ts_train_run_start(TsTrainRun *r);
/* A queued run becomes cancelled at once, a running one stops at its next
 * step.  FALSE when it is neither. */
gboolean ts_train_run_cancel(TsTrainRun *r);
/* Lets the run finish its current epoch (its checkpoint and probes), then
 * cancels it; epoch > 0 stops it once that many epochs are done.  FALSE
 * when it is done, failed or cancelled. */
gboolean ts_train_run_stop_after_epoch(TsTrainRun *r, int epoch);
/* A cancelled or failed run queued again ("state-changed" follows).
 * FALSE otherwise. */
gboolean ts_train_run_resume(TsTrainRun *r);
/* Tells a running worker to stop and waits until it has returned (the
 * owner going away: a training thread must not outlive the libraries it
 * runs on).  Nothing it posts afterwards is applied. */
void ts_train_run_abort_and_wait(TsTrainRun *r);

/* The probe faces the worker picked (NULL before): images and labels.
 * transfer: none. */
const ts_image *ts_train_run_get_probe_images(TsTrainRun *r, int *n, const char *const **truths);
/* Hands an epoch's probe result over (taken), or NULL when the probe work
 * could not be done; each "epoch-done" is answered by exactly one call. */
void ts_train_run_add_probes(TsTrainRun *r, TsTrainProbeResult *res);

G_END_DECLS

#endif
