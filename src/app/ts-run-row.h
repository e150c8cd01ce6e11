/* ts-run-row.h - one row of the training page's run list: a view of a
 * TsTrainRun (title, state line, progress bar, buttons), every part bound
 * to the run's properties; its buttons ask the run (cancel, stop after the
 * epoch, resume) or the queue (remove), or emit "open-model".
 *
 * Signals: "open-model" (const char *path, int slot): "Open as Model A"
 *   (slot 0) or "B" (slot 1) in the row's menu.
 */
#ifndef TS_RUN_ROW_H
#define TS_RUN_ROW_H

#include <gtk/gtk.h>

#include "app/ts-train-queue.h"

G_BEGIN_DECLS

#define TS_TYPE_RUN_ROW (ts_run_row_get_type())
G_DECLARE_FINAL_TYPE(TsRunRow, ts_run_row, TS, RUN_ROW, GtkListBoxRow)

/* A row for run r of queue q (both referenced).  transfer: floating. */
GtkWidget *ts_run_row_new(TsTrainQueue *q, TsTrainRun *r);
/* transfer: none. */
TsTrainRun *ts_run_row_get_run(TsRunRow *row);

G_END_DECLS

#endif
