/* ts-run-row.c - see ts-run-row.h.  Layout in ui/ts-run-row.ui; here only
 * the bindings and the buttons' handlers. */
#include "app/ts-run-row.h"

struct _TsRunRow {
    GtkListBoxRow parent;
    GtkLabel *title, *subtitle;
    GtkProgressBar *bar;
    GtkWidget *open_button, *open_a, *open_b, *resume_button, *stop_button, *cancel_button, *remove_button;
    TsTrainQueue *queue;
    TsTrainRun *run;
};

G_DEFINE_FINAL_TYPE(TsRunRow, ts_run_row, GTK_TYPE_LIST_BOX_ROW)

enum { SIG_OPEN_MODEL, N_SIGNALS };
static guint signals[N_SIGNALS];

static void on_cancel(TsRunRow *row) { ts_train_run_cancel(row->run); }
static void on_stop(TsRunRow *row) { ts_train_run_stop_after_epoch(row->run, 0); }
static void on_resume(TsRunRow *row) { ts_train_run_resume(row->run); }
static void on_remove(TsRunRow *row) { ts_train_queue_remove(row->queue, row->run); }

static void open_slot(TsRunRow *row, int slot)
{
    gtk_menu_button_popdown(GTK_MENU_BUTTON(row->open_button));
    g_signal_emit(row, signals[SIG_OPEN_MODEL], 0, ts_train_run_get_settings(row->run)->out, slot);
}

static void on_open_a(TsRunRow *row) { open_slot(row, 0); }
static void on_open_b(TsRunRow *row) { open_slot(row, 1); }

static gboolean invert(GBinding *b, const GValue *from, GValue *to, gpointer user)
{
    (void)b, (void)user;
    g_value_set_boolean(to, !g_value_get_boolean(from));
    return TRUE;
}

/* A failed run's state line is red (style.css: .ts-error). */
static gboolean error_classes(GBinding *b, const GValue *from, GValue *to, gpointer user)
{
    (void)b, (void)user;
    const char *v[] = { "dim-label", "caption", g_value_get_boolean(from) ? "ts-error" : NULL, NULL };
    g_value_set_boxed(to, v);
    return TRUE;
}

TsTrainRun *ts_run_row_get_run(TsRunRow *row) { return row->run; }

GtkWidget *ts_run_row_new(TsTrainQueue *q, TsTrainRun *r)
{
    TsRunRow *row = g_object_new(TS_TYPE_RUN_ROW, NULL);
    row->queue = g_object_ref(q);
    row->run = g_object_ref(r);
    const GBindingFlags sync = G_BINDING_SYNC_CREATE;
    g_object_bind_property(r, "title", row->title, "label", sync);
    g_object_bind_property(r, "status", row->subtitle, "label", sync);
    g_object_bind_property(r, "status", row->subtitle, "tooltip-text", sync);
    g_object_bind_property_full(r, "failed", row->subtitle, "css-classes", sync, error_classes, NULL, NULL, NULL);
    g_object_bind_property(r, "fraction", row->bar, "fraction", sync);
    g_object_bind_property(r, "show-progress", row->bar, "visible", sync);
    g_object_bind_property(r, "active", row->cancel_button, "visible", sync); /* a queued run is removed instead */
    g_object_bind_property(r, "active", row->stop_button, "visible", sync);
    g_object_bind_property(r, "can-stop", row->stop_button, "sensitive", sync);
    g_object_bind_property(r, "stopped", row->resume_button, "visible", sync);
    g_object_bind_property(r, "can-open", row->open_button, "visible", sync);
    g_object_bind_property_full(r, "active", row->remove_button, "visible", sync, invert, NULL, NULL, NULL);
    gtk_accessible_update_property(GTK_ACCESSIBLE(row), GTK_ACCESSIBLE_PROPERTY_LABEL, ts_train_run_get_title(r), -1);
    return GTK_WIDGET(row);
}

static void dispose(GObject *o)
{
    TsRunRow *row = TS_RUN_ROW(o);
    gtk_widget_dispose_template(GTK_WIDGET(row), TS_TYPE_RUN_ROW);
    g_clear_object(&row->run); /* its bindings went with the widgets */
    g_clear_object(&row->queue);
    G_OBJECT_CLASS(ts_run_row_parent_class)->dispose(o);
}

static void ts_run_row_class_init(TsRunRowClass *k)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(k);
    G_OBJECT_CLASS(k)->dispose = dispose;
    signals[SIG_OPEN_MODEL] = g_signal_new("open-model", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT);
    gtk_widget_class_set_template_from_resource(wc, "/org/traitscope/Traitscope/ts-run-row.ui");
#define BIND(x) gtk_widget_class_bind_template_child(wc, TsRunRow, x)
    BIND(title);
    BIND(subtitle);
    BIND(bar);
    BIND(open_button);
    BIND(open_a);
    BIND(open_b);
    BIND(resume_button);
    BIND(stop_button);
    BIND(cancel_button);
    BIND(remove_button);
#undef BIND
}

static void ts_run_row_init(TsRunRow *row)
{
    gtk_widget_init_template(GTK_WIDGET(row));
    g_signal_connect_swapped(row->cancel_button, "clicked", G_CALLBACK(on_cancel), row);
    g_signal_connect_swapped(row->stop_button, "clicked", G_CALLBACK(on_stop), row);
    g_signal_connect_swapped(row->resume_button, "clicked", G_CALLBACK(on_resume), row);
    g_signal_connect_swapped(row->remove_button, "clicked", G_CALLBACK(on_remove), row);
    g_signal_connect_swapped(row->open_a, "clicked", G_CALLBACK(on_open_a), row);
    g_signal_connect_swapped(row->open_b, "clicked", G_CALLBACK(on_open_b), row);
}
