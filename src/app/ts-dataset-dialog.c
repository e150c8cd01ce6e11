/* ts-dataset-dialog.c - see ts-dataset-dialog.h. */
#include "app/ts-dataset-dialog.h"

struct _TsDatasetDialog {
    GtkWindow parent;
    GtkEntry *spec;
    GtkSpinButton *limit;
    GtkButton *open;
};

G_DEFINE_FINAL_TYPE(TsDatasetDialog, ts_dataset_dialog, GTK_TYPE_WINDOW)

enum { SIG_OPEN, N_SIGNALS };
static guint signals[N_SIGNALS];

static void on_open(TsDatasetDialog *d)
{
    const char *spec = gtk_editable_get_text(GTK_EDITABLE(d->spec));
    if (spec[0]) g_signal_emit(d, signals[SIG_OPEN], 0, spec, gtk_spin_button_get_value_as_int(d->limit));
    gtk_window_destroy(GTK_WINDOW(d));
}

TsDatasetDialog *ts_dataset_dialog_new(GtkWindow *parent, const char *spec)
{
    TsDatasetDialog *d = g_object_new(TS_TYPE_DATASET_DIALOG, "transient-for", parent, NULL);
    if (spec) gtk_editable_set_text(GTK_EDITABLE(d->spec), spec);
    return d;
}

static void dispose(GObject *o)
{
    gtk_widget_dispose_template(GTK_WIDGET(o), TS_TYPE_DATASET_DIALOG);
    G_OBJECT_CLASS(ts_dataset_dialog_parent_class)->dispose(o);
}

static void ts_dataset_dialog_class_init(TsDatasetDialogClass *k)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(k);
    G_OBJECT_CLASS(k)->dispose = dispose;
    signals[SIG_OPEN] = g_signal_new("open", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                     G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT);
    gtk_widget_class_set_template_from_resource(wc, "/org/traitscope/Traitscope/ts-dataset-dialog.ui");
    gtk_widget_class_bind_template_child(wc, TsDatasetDialog, spec);
    gtk_widget_class_bind_template_child(wc, TsDatasetDialog, limit);
    gtk_widget_class_bind_template_child(wc, TsDatasetDialog, open);
}

static void ts_dataset_dialog_init(TsDatasetDialog *d)
{
    gtk_widget_init_template(GTK_WIDGET(d));
    g_signal_connect_swapped(d->open, "clicked", G_CALLBACK(on_open), d);
    g_signal_connect_swapped(d->spec, "activate", G_CALLBACK(gtk_widget_activate), d->open);
}
