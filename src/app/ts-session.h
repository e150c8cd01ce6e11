/* ts-session.h - the explorer's state: loaded models, the open images and
 * the inspection of the current face, computed in a GTask worker thread.
 *
 * Widgets never call the engine: they ask the session (ts_session_request)
 * and draw what it publishes.  Only the worker touches the models and the
 * inspector; the main thread reads the published result, which owns copies
 * of everything it shows.  A request made while the worker is busy waits,
 * and only the newest waiting one runs.
 */
#ifndef TS_SESSION_H
#define TS_SESSION_H

#include <glib-object.h>

#include "explain/inspect.h"

G_BEGIN_DECLS

#define TS_TYPE_SESSION (ts_session_get_type())
G_DECLARE_FINAL_TYPE(TsSession, ts_session, TS, SESSION, GObject)

TsSession *ts_session_new(void);

/* What to compute.  NULL model paths keep the loaded models; "" unloads. */
typedef struct TsRequest {
    char *image;                   /* photo path */
    char *model[TS_INSPECT_MODELS];
    ts_landmark_method method;
    char *rules, *target;
} TsRequest;

/* transfer: none (copied). */
void ts_session_request(TsSession *s, const TsRequest *req);

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
gboolean ts_session_get_busy(TsSession *s);

/* Properties: "busy" (gboolean), "status" (string: times and device),
 * "error" (string, "" when the last request succeeded).
 * Signals: "result-changed" (after a request finished). */

G_END_DECLS

#endif
