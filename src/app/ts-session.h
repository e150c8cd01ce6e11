/* ts-session.h - the explorer's state: loaded models, the open images and
 * the inspection of the current face, computed in a GTask worker thread;
 * and composed figures (several faces x several panels) exported by the
 * same worker.
 *
 * Widgets never call the engine: they ask the session (ts_session_request,
 * ts_session_pick_face, ts_session_export_async) and draw what it
 * publishes.  Only the worker touches the models and the inspector, and
 * only one job (an inspection or an export) runs at a time: jobs wait in
 * a queue and run in the order they were asked for; inspections waiting
 * next to each other merge, so only the newest of them runs.  The main
 * thread reads the published result, which owns copies of everything it
 * shows.
 */
#ifndef TS_SESSION_H
#define TS_SESSION_H

#include <gio/gio.h>
#include <glib-object.h>

#include "explain/inspect.h"
#include "figure/figure.h"

G_BEGIN_DECLS

#define TS_TYPE_SESSION (ts_session_get_type())
G_DECLARE_FINAL_TYPE(TsSession, ts_session, TS, SESSION, GObject)

TsSession *ts_session_new(void);

/* What to compute.  NULL model paths keep the loaded models; "" unloads.
 * A NULL image keeps the current one (and computes nothing when there is
 * none).
 *
 * Face choice in a photo of several faces: with pick_face FALSE (what a
 * zero-initialised request has) the session keeps the face chosen for the
 * current image, and a new image starts with the largest face; with
 * pick_face TRUE it inspects face `face` (an index into result->faces,
 * -1 = the largest). */
typedef struct TsRequest {
    char *image;                   /* photo path */
    char *model[TS_INSPECT_MODELS];
    ts_landmark_method method;
    char *rules, *target;
    gboolean pick_face;
    int face;
    ts_detector_kind detector;     /* set by the session (ts_session_set_detector); callers leave it */
} TsRequest;

/* transfer: none (copied). */
void ts_session_request(TsSession *s, const TsRequest *req);

/* The face detector of every later inspection and export (face/detector.h;
 * TS_DETECTOR_SSD until set; the explorer's --detector). */
void ts_session_set_detector(TsSession *s, ts_detector_kind kind);

/* Inspects face `face` (index into ts_session_get_result()->faces; -1 =
 * the largest) of the current image with the models and settings of the
 * last request; the models are not loaded again.  What the photo panel's
 * click does:
 *   int k = ts_figure_photo_face_at(r, width, height, x, y);
 *   if (k >= 0) ts_session_pick_face(session, k); */
void ts_session_pick_face(TsSession *s, int face);
/* The same from a click at (x, y) in a photo panel of size w x h: hit-tests
 * the current result (ts_figure_photo_face_at) and picks the face found.
 * Returns its index, or -1 (nothing asked) when no face is there or the
 * face is the one already shown. */
int ts_session_pick_face_at(TsSession *s, double w, double h, double x, double y);
/* The face asked for the current image (-1 = the largest); the result's
 * `face` is the one inspected. */
int ts_session_get_face(TsSession *s);

/* Where the detector, the localizer, the models and LRP run (--device;
 * default the CPU): applied by the worker before the next job, the GPU
 * when asked for (cuda) or present (auto), else the CPU with one line on
 * stderr saying why.  The result's `device` names it (the status line). */
void ts_session_set_device(TsSession *s, ts_device device);

/* transfer: none.  The current inspection (NULL before the first), valid
 * until the next "result-changed". */
const ts_inspect *ts_session_get_result(TsSession *s);
/* transfer: none.  Class names of model i (NULL if none loaded). */
const char *const *ts_session_get_class_names(TsSession *s, int i);
/* transfer: none.  "baseline"/"LACNN"/file name of model i, or NULL. */
const char *ts_session_get_model_name(TsSession *s, int i);
const char *ts_session_get_model_path(TsSession *s, int i);
const char *ts_session_get_model_hash(TsSession *s, int i);
const char *ts_session_get_image(TsSession *s);
/* TRUE when model i is loaded and has one sigmoid output per trait. */
gboolean ts_session_is_multilabel(TsSession *s, int i);

/* The LRP targets the loaded models offer (the window's target control and
 * the rules editor list them): shown labels and the values TsRequest.target
 * takes, NULL-terminated, the same length; item 0 is "" (the predicted
 * class; of the first trait for a multi-label model).  With a multi-label
 * model: each trait's predicted class ("TRAIT") and its classes
 * ("TRAIT=CLASS"), the traits of A then those B adds; else the class names
 * of A, then those B adds.  One value serves both models (explain/lrp.h's
 * ts_lrp_target_for_model reads TRAIT and TRAIT=CLASS for a one-trait
 * model too); a model that lacks the trait says so in its panel.  Valid
 * until "models-changed".  transfer: none. */
const char *const *ts_session_get_target_labels(TsSession *s);
const char *const *ts_session_get_target_values(TsSession *s);
gboolean ts_session_get_busy(TsSession *s);

/* ---- composed figures ----
 *
 * Writes a figure of n_images rows x n_panels columns to out_path (.png,
 * .svg or .pdf by its extension; dpi: the PNG's resolution, 30..1200) and
 * its JSON sidecar to out_path + ".json" (figure.h's ts_figure_sidecar_json:
 * images, faces and boxes, models' paths, SHA-256 and classes, the LRP
 * rules as applied, the settings).  Each image is inspected in the worker
 * with the models loaded when the job runs and the settings of the last
 * request (landmark method, rules, target); the current image gets the
 * face chosen for it, the others their largest face.  images NULL or
 * n_images 0: the current image only.
 *
 * opts: copied; its toggles (points, indices, contours) and translate are
 * used, model and class names come from the loaded models, the crosshair
 * and the dark theme are never drawn.  Both files are written atomically:
 * on any failure an existing figure and sidecar stay as they were, and the
 * error names the file (or the image) and the problem.
 * "export-progress" (done, total) is emitted on the main thread as rows
 * are inspected.  Cancelling gives G_IO_ERROR_CANCELLED.  transfer: none
 * (everything is copied). */
void ts_session_export_async(TsSession *s, const char *const *images, int n_images, const ts_panel *panels,
                             int n_panels, const ts_draw_opts *opts, double dpi, const char *out_path,
                             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean ts_session_export_finish(TsSession *s, GAsyncResult *result, GError **error);

/* Properties: "busy" (gboolean: a job is running), "status" (string:
 * times and device), "error" (string, "" when the last request
 * succeeded).
 * Signals: "models-changed" (a request loaded or unloaded models: names,
 * classes and targets are new; emitted before its "result-changed"),
 * "result-changed" (after a request finished),
 * "export-progress" (int done, int total: rows inspected so far). */

G_END_DECLS

#endif
