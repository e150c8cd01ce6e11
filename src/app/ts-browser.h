/* ts-browser.h - the face browser: the left column of the main window
 * (issue 7, "Main window").
 *
 * Lists the faces of a source - image files and folders, or a dataset spec
 * (celeba:DIR, utkface:DIR, adience:DIR, csv:FILE, folder:DIR or a bare
 * folder; data/dataset.h) - as rows with a thumbnail, the file name, the
 * dataset's labels and, once models are set, each model's prediction
 * (class and probability, marked right or wrong against the label when the
 * head's trait is a dataset trait).  Filters: a trait value and the
 * agreement of model A (baseline) and model B (LACNN).
 *
 * The browser is a view over two model objects it owns: TsFaceList
 * (ts-face-list.h: the source read in a GTask, the items, the thumbnails)
 * and TsPredictor (ts-predictor.h: both models over every face, in a worker
 * thread, with the library's face sets and ts_eval_predict).  The trait
 * chosen in the trait filter is the predictor's focus: a multi-label
 * model's row shows, and is scored on, that trait (else the first trait of
 * the model that the dataset labels); choosing another trait re-scores the
 * rows without running the models again.
 *
 * Signals:
 *   "face-activated" (const char *path): the user selected a face (click,
 *       keyboard, ts_browser_select_next/prev); the window inspects it.
 *   "error" (const char *message): a source, a model or one image could not
 *       be read; the message names it.  The last one is also the "error"
 *       property and is shown in the browser's own error line.
 *   "predictions-done": every listed face has been predicted (or failed).
 * Properties (read-only, notify): "busy" (a source or predictions are being
 *   worked on), "progress" (0..1 of the predictions), "error" (string).
 */
#ifndef TS_BROWSER_H
#define TS_BROWSER_H

#include <gtk/gtk.h>

#include "backend/backend.h"
#include "app/ts-face-list.h"
#include "app/ts-predictor.h"

G_BEGIN_DECLS

#define TS_TYPE_BROWSER (ts_browser_get_type())
G_DECLARE_FINAL_TYPE(TsBrowser, ts_browser, TS, BROWSER, GtkWidget)

/* Agreement filter of model A (baseline) and model B (LACNN). */
typedef enum TsAgreement {
    TS_AGREE_ALL = 0,      /* no filter */
    TS_AGREE_A_WRONG_B_RIGHT,
    TS_AGREE_A_RIGHT_B_WRONG,
    TS_AGREE_BOTH_WRONG,
} TsAgreement;

/* transfer: floating. */
GtkWidget *ts_browser_new(void);

/* Lists image files and the images of folders (sorted by name, not
 * recursive), in the order given.  Replaces the current source; no
 * traits.  A path that is neither an image nor a folder of images is
 * reported through "error" and the rest are listed. */
void ts_browser_open_paths(TsBrowser *b, const char *const *paths, int n);
/* Lists a dataset (data/dataset.h spec); limit > 0 keeps its first `limit`
 * rows.  A spec that fails to load is reported through "error" naming it;
 * rows the loader skipped are reported as its warnings. */
void ts_browser_open_spec(TsBrowser *b, const char *spec, int limit);

/* Model files (any format ts_model_load_any reads; NULL or "" for none) to
 * predict every listed face with.  Model A is the baseline, model B the
 * LACNN model of the agreement filter. */
void ts_browser_set_models(TsBrowser *b, const char *model_a, const char *model_b);

/* Where the prediction jobs started from now on run (--device; default
 * the CPU): each opens its own backend context (backend.h). */
void ts_browser_set_device(TsBrowser *b, ts_device device);

/* Filters.  trait NULL shows every face; value NULL every face, with
 * `trait` in focus; otherwise only faces labelled `value` for dataset trait
 * `trait`.  Returns FALSE when the trait or value is not one of the
 * source's.  The dropdowns follow. */
gboolean ts_browser_set_trait_filter(TsBrowser *b, const char *trait, const char *value);
void ts_browser_set_agreement_filter(TsBrowser *b, TsAgreement a);

/* Every listed face and the faces the filters let through (items are
 * TsFaceItem, ts-face-item.h).  transfer: none. */
GListModel *ts_browser_get_items(TsBrowser *b);
GListModel *ts_browser_get_filtered(TsBrowser *b);

/* Traits of the current source (0 for image files): name and classes.
 * transfer: none (valid until the source changes). */
int ts_browser_get_n_traits(TsBrowser *b);
const char *ts_browser_get_trait_name(TsBrowser *b, int t);
int ts_browser_get_trait_n_classes(TsBrowser *b, int t);
const char *ts_browser_get_trait_class(TsBrowser *b, int t, int c);
/* Class names of the head model m (0 = A, 1 = B) shows (ts-predictor.h)
 * once loaded, else NULL.  transfer: none. */
const char *const *ts_browser_get_model_classes(TsBrowser *b, int m);

/* The selection over the filtered faces (a GtkMultiSelection), e.g. for a
 * "select all" action.  transfer: none. */
GtkSelectionModel *ts_browser_get_selection(TsBrowser *b);
/* Paths of the selected faces in list order, NULL-terminated (empty when
 * nothing is selected).  transfer: full (g_strfreev). */
char **ts_browser_get_selected_paths(TsBrowser *b);
/* Selects (only) the next / previous face of the filtered list, scrolls to
 * it and emits "face-activated" (Page Down / Page Up).  FALSE at the end. */
gboolean ts_browser_select_next(TsBrowser *b);
gboolean ts_browser_select_prev(TsBrowser *b);

/* The model objects the browser shows.  transfer: none. */
TsFaceList *ts_browser_get_face_list(TsBrowser *b);
TsPredictor *ts_browser_get_predictor(TsBrowser *b);

gboolean ts_browser_is_busy(TsBrowser *b);
/* transfer: none; NULL when no error. */
const char *ts_browser_get_error(TsBrowser *b);

G_END_DECLS

#endif
