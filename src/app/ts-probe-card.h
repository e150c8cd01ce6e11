/* ts-probe-card.h - a probe face of a training run on the training page:
 * the face and its LRP heatmap side by side, the caption ("Epoch 2 · male
 * 87 %") and the label.  Shows what ts_probe_card_show is given; a copy of
 * nothing: the pictures stay the run's (TsTrainRun keeps them while it
 * lives; the page shows the probes of the run it holds). */
#ifndef TS_PROBE_CARD_H
#define TS_PROBE_CARD_H

#include <gtk/gtk.h>

#include "app/ts-train-run.h"

G_BEGIN_DECLS

#define TS_TYPE_PROBE_CARD (ts_probe_card_get_type())
G_DECLARE_FINAL_TYPE(TsProbeCard, ts_probe_card, TS, PROBE_CARD, GtkWidget)

/* transfer: floating. */
GtkWidget *ts_probe_card_new(void);
/* Probe `index` (0-based, for the accessible name); probe NULL shows an
 * empty card with `pending` as its caption. */
void ts_probe_card_show(TsProbeCard *c, int index, const TsTrainProbe *probe, const char *pending);

G_END_DECLS

#endif
