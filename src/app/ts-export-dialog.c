/* ts-export-dialog.c - see ts-export-dialog.h.  Template:
 * ui/ts-export-dialog.ui.
 *
 * Invariants: the format drop-down and the path's extension agree (each
 * follows the other); while an export runs (d->cancel != NULL) the
 * settings are insensitive and the dialog holds a reference on itself,
 * dropped by the export's callback, so it outlives its own close. */
#include "app/ts-export-dialog.h"

#include <glib/gi18n.h>
#include <string.h>

struct _TsExportDialog {
    GtkWindow parent;
    GtkGrid *panel_grid;
    GtkCheckButton *current_check, *selected_check;
    GtkDropDown *format_dropdown;
    GtkSpinButton *dpi_spin;
    GtkButton *file_button, *cancel_button, *export_button;
    GtkLabel *file_label, *status_label;
    GtkSpinner *spinner;

    TsSession *session;
    GtkCheckButton *panel_checks[TS_PANEL_COUNT];
    char **selected;        /* NULL-terminated, may be empty */
    ts_draw_opts opts;
    char *path;
    GCancellable *cancel;   /* non-NULL while an export runs */
    gboolean close_when_done;
    gboolean disposed;      /* template children are gone */
    gulong progress_id;
};

G_DEFINE_FINAL_TYPE(TsExportDialog, ts_export_dialog, GTK_TYPE_WINDOW)

enum { SIG_EXPORTED, SIG_EXPORT_FAILED, N_SIGNALS };
static guint signals[N_SIGNALS];

static const char *const format_ext[] = { "png", "svg", "pdf" };

/* Figure order: the photo first (where the face is), then the panels in
 * the order of the window. */
static const ts_panel figure_order[TS_PANEL_COUNT] = {
    TS_PANEL_PHOTO, TS_PANEL_FACE,  TS_PANEL_AMAP,     TS_PANEL_ACT_A, TS_PANEL_ACT_B,
    TS_PANEL_LRP_A, TS_PANEL_LRP_B, TS_PANEL_LRP_DIFF, TS_PANEL_PRED,  TS_PANEL_TABLE,
};

static int format_of(const char *path)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!dot || (slash && dot < slash)) return -1;
    for (int i = 0; i < 3; i++)
        if (!g_ascii_strcasecmp(dot + 1, format_ext[i])) return i;
    return -1;
}

static void set_message(TsExportDialog *d, const char *text, gboolean error)
{
    char *valid = g_utf8_make_valid(text ? text : "", -1); /* messages name files */
    gtk_label_set_text(d->status_label, valid);
    g_free(valid);
    if (error) gtk_widget_add_css_class(GTK_WIDGET(d->status_label), "ts-error");
    else gtk_widget_remove_css_class(GTK_WIDGET(d->status_label), "ts-error");
}

static void update_sensitivity(TsExportDialog *d)
{
    gboolean idle = d->cancel == NULL;
    int fmt = (int)gtk_drop_down_get_selected(d->format_dropdown);
    gtk_widget_set_sensitive(GTK_WIDGET(d->panel_grid), idle);
    gtk_widget_set_sensitive(GTK_WIDGET(d->current_check), idle);
    gtk_widget_set_sensitive(GTK_WIDGET(d->selected_check), idle && d->selected && d->selected[0]);
    gtk_widget_set_sensitive(GTK_WIDGET(d->format_dropdown), idle);
    gtk_widget_set_sensitive(GTK_WIDGET(d->dpi_spin), idle && fmt == 0);
    gtk_widget_set_sensitive(GTK_WIDGET(d->file_button), idle);
    int n = 0;
    for (int k = 0; k < TS_PANEL_COUNT; k++) n += gtk_check_button_get_active(d->panel_checks[k]);
    gtk_widget_set_sensitive(GTK_WIDGET(d->export_button), idle && n > 0 && d->path && d->path[0]);
    gtk_spinner_set_spinning(d->spinner, !idle);
}

static void show_path(TsExportDialog *d)
{
    char *base = d->path ? g_filename_display_basename(d->path) : NULL;
    char *shown = d->path ? g_filename_display_name(d->path) : NULL;
    gtk_label_set_text(d->file_label, base ? base : _("(choose a file)"));
    gtk_widget_set_tooltip_text(GTK_WIDGET(d->file_label), shown);
    g_free(base);
    g_free(shown);
}

/* ---- the path and the format follow each other ---- */

static void format_changed(GtkDropDown *dd, GParamSpec *pspec, TsExportDialog *d)
{
    int fmt = (int)gtk_drop_down_get_selected(dd);
    if (fmt >= 0 && fmt < 3 && d->path && format_of(d->path) != fmt) {
        int old = format_of(d->path);
        char *stem = old >= 0 ? g_strndup(d->path, strlen(d->path) - strlen(format_ext[old]) - 1) : g_strdup(d->path);
        g_free(d->path);
        d->path = g_strdup_printf("%s.%s", stem, format_ext[fmt]);
        g_free(stem);
        show_path(d);
    }
    update_sensitivity(d);
}

void ts_export_dialog_set_path(TsExportDialog *d, const char *path)
{
    g_free(d->path);
    d->path = g_strdup(path);
    int fmt = format_of(path);
    if (fmt >= 0 && (guint)fmt != gtk_drop_down_get_selected(d->format_dropdown))
        gtk_drop_down_set_selected(d->format_dropdown, (guint)fmt);
    else if (fmt < 0 && path && path[0]) format_changed(d->format_dropdown, NULL, d); /* add the extension */
    show_path(d);
    update_sensitivity(d);
}

const char *ts_export_dialog_get_path(TsExportDialog *d) { return d->path; }

void ts_export_dialog_set_dpi(TsExportDialog *d, double dpi) { gtk_spin_button_set_value(d->dpi_spin, dpi); }
double ts_export_dialog_get_dpi(TsExportDialog *d) { return gtk_spin_button_get_value(d->dpi_spin); }

void ts_export_dialog_set_panels(TsExportDialog *d, const ts_panel *panels, int n)
{
    for (int k = 0; k < TS_PANEL_COUNT; k++) {
        gboolean on = panels == NULL || n <= 0;
        for (int i = 0; i < n && panels; i++) on |= panels[i] == (ts_panel)k;
        gtk_check_button_set_active(d->panel_checks[k], on);
    }
    update_sensitivity(d);
}

int ts_export_dialog_get_panels(TsExportDialog *d, ts_panel *out)
{
    int n = 0;
    for (int i = 0; i < TS_PANEL_COUNT; i++)
        if (gtk_check_button_get_active(d->panel_checks[figure_order[i]])) out[n++] = figure_order[i];
    return n;
}

void ts_export_dialog_set_use_selected(TsExportDialog *d, gboolean use_selected)
{
    if (use_selected && d->selected && d->selected[0]) gtk_check_button_set_active(d->selected_check, TRUE);
    else gtk_check_button_set_active(d->current_check, TRUE);
}

const char *ts_export_dialog_get_message(TsExportDialog *d) { return gtk_label_get_text(d->status_label); }

/* ---- the file chooser ---- */

static void chooser_response(GtkNativeDialog *nd, int response, gpointer user)
{
    TsExportDialog *d = user;
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *f = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(nd));
        char *path = f ? g_file_get_path(f) : NULL;
        if (path) ts_export_dialog_set_path(d, path);
        g_free(path);
        if (f) g_object_unref(f);
    }
    gtk_native_dialog_destroy(nd);
    g_object_unref(nd);
    g_object_unref(d);
}

static void file_clicked(GtkButton *b, TsExportDialog *d)
{
    GtkFileChooserNative *nd = gtk_file_chooser_native_new(_("Export Figure"), GTK_WINDOW(d),
                                                           GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"), _("_Cancel"));
    GtkFileFilter *f = gtk_file_filter_new();
    gtk_file_filter_set_name(f, _("Figures (PNG, SVG, PDF)"));
    for (int i = 0; i < 3; i++) gtk_file_filter_add_suffix(f, format_ext[i]);
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(nd), f);
    g_object_unref(f);
    if (d->path) {
        char *dir = g_path_get_dirname(d->path), *base = g_path_get_basename(d->path);
        GFile *fd = g_file_new_for_path(dir);
        gtk_file_chooser_set_current_folder(GTK_FILE_CHOOSER(nd), fd, NULL);
        gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(nd), base);
        g_object_unref(fd);
        g_free(dir);
        g_free(base);
    }
    g_signal_connect(nd, "response", G_CALLBACK(chooser_response), g_object_ref(d));
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(nd));
}

/* ---- exporting ---- */

static void export_progress(TsSession *s, int done, int total, TsExportDialog *d)
{
    if (!d->cancel || d->disposed) return;
    char *text = done < total ? g_strdup_printf(_("Inspecting face %d of %d…"), done + 1, total)
                              : g_strdup(_("Writing the figure…"));
    set_message(d, text, FALSE);
    g_free(text);
}

static void export_done(GObject *src, GAsyncResult *res, gpointer user)
{
    TsExportDialog *d = user;
    GError *err = NULL;
    gboolean ok = ts_session_export_finish(TS_SESSION(src), res, &err);
    g_clear_object(&d->cancel);
    if (d->disposed) {
        /* destroyed with its parent while the worker ran: nothing to show */
    } else if (ok) {
        g_signal_emit(d, signals[SIG_EXPORTED], 0, d->path);
        gtk_window_destroy(GTK_WINDOW(d));
    } else if (d->close_when_done) {
        if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_signal_emit(d, signals[SIG_EXPORT_FAILED], 0, err->message);
        gtk_window_destroy(GTK_WINDOW(d));
    } else {
        if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            set_message(d, _("Cancelled; no file was written."), FALSE);
        } else {
            set_message(d, err->message, TRUE);
            g_signal_emit(d, signals[SIG_EXPORT_FAILED], 0, err->message);
        }
        update_sensitivity(d);
    }
    g_clear_error(&err);
    g_object_unref(d);
}

void ts_export_dialog_export(TsExportDialog *d)
{
    if (d->cancel) return;
    ts_panel panels[TS_PANEL_COUNT];
    int n = ts_export_dialog_get_panels(d, panels);
    if (n == 0) {
        set_message(d, _("Choose at least one panel."), TRUE);
        return;
    }
    if (!d->path || !d->path[0]) {
        set_message(d, _("Choose a file to save the figure to."), TRUE);
        return;
    }
    if (format_of(d->path) < 0) format_changed(d->format_dropdown, NULL, d);
    gboolean use_selected = gtk_check_button_get_active(d->selected_check) && d->selected && d->selected[0];
    const char *const *images = use_selected ? (const char *const *)d->selected : NULL;
    int n_images = use_selected ? (int)g_strv_length(d->selected) : 0;
    d->cancel = g_cancellable_new();
    set_message(d, _("Exporting…"), FALSE);
    update_sensitivity(d);
    ts_session_export_async(d->session, images, n_images, panels, n, &d->opts, gtk_spin_button_get_value(d->dpi_spin),
                            d->path, d->cancel, export_done, g_object_ref(d));
}

static void export_clicked(GtkButton *b, TsExportDialog *d) { ts_export_dialog_export(d); }

static void cancel_clicked(GtkButton *b, TsExportDialog *d)
{
    if (d->cancel) {
        /* stop the export; the dialog closes when the worker has let go */
        d->close_when_done = TRUE;
        g_cancellable_cancel(d->cancel);
    } else {
        gtk_window_destroy(GTK_WINDOW(d));
    }
}

static gboolean close_request(GtkWindow *w)
{
    TsExportDialog *d = TS_EXPORT_DIALOG(w);
    if (d->cancel) {
        d->close_when_done = TRUE;
        g_cancellable_cancel(d->cancel);
        return TRUE; /* closed by export_done */
    }
    return FALSE;
}

/* Escape: as the close button (cancels a running export first) */
static gboolean escape_pressed(GtkWidget *w, GVariant *args, gpointer user)
{
    gtk_window_close(GTK_WINDOW(w));
    return TRUE;
}

static void panel_toggled(GtkCheckButton *b, TsExportDialog *d) { update_sensitivity(d); }

/* ---- life cycle ---- */

static void dispose(GObject *obj)
{
    TsExportDialog *d = TS_EXPORT_DIALOG(obj);
    d->disposed = TRUE;
    if (d->cancel) g_cancellable_cancel(d->cancel);
    if (d->session && d->progress_id) g_signal_handler_disconnect(d->session, d->progress_id);
    d->progress_id = 0;
    g_clear_object(&d->session);
    gtk_widget_dispose_template(GTK_WIDGET(d), TS_TYPE_EXPORT_DIALOG);
    G_OBJECT_CLASS(ts_export_dialog_parent_class)->dispose(obj);
}

static void finalize(GObject *obj)
{
    TsExportDialog *d = TS_EXPORT_DIALOG(obj);
    g_strfreev(d->selected);
    g_free(d->path);
    g_clear_object(&d->cancel);
    G_OBJECT_CLASS(ts_export_dialog_parent_class)->finalize(obj);
}

static void ts_export_dialog_class_init(TsExportDialogClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = dispose;
    G_OBJECT_CLASS(klass)->finalize = finalize;
    GTK_WINDOW_CLASS(klass)->close_request = close_request;
    gtk_widget_class_set_template_from_resource(wc, "/org/traitscope/Traitscope/ts-export-dialog.ui");
    gtk_widget_class_bind_template_child(wc, TsExportDialog, panel_grid);
    gtk_widget_class_bind_template_child(wc, TsExportDialog, current_check);
    gtk_widget_class_bind_template_child(wc, TsExportDialog, selected_check);
    gtk_widget_class_bind_template_child(wc, TsExportDialog, format_dropdown);
    gtk_widget_class_bind_template_child(wc, TsExportDialog, dpi_spin);
    gtk_widget_class_bind_template_child(wc, TsExportDialog, file_button);
    gtk_widget_class_bind_template_child(wc, TsExportDialog, file_label);
    gtk_widget_class_bind_template_child(wc, TsExportDialog, status_label);
    gtk_widget_class_bind_template_child(wc, TsExportDialog, spinner);
    gtk_widget_class_bind_template_child(wc, TsExportDialog, cancel_button);
    gtk_widget_class_bind_template_child(wc, TsExportDialog, export_button);
    gtk_widget_class_add_binding(wc, GDK_KEY_Escape, 0, escape_pressed, NULL);
    signals[SIG_EXPORTED] = g_signal_new("exported", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 1, G_TYPE_STRING);
    signals[SIG_EXPORT_FAILED] = g_signal_new("export-failed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                              NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void ts_export_dialog_init(TsExportDialog *d)
{
    gtk_widget_init_template(GTK_WIDGET(d));
    ts_draw_opts_init(&d->opts);
    /* one check button per panel, two columns, in figure order */
    for (int i = 0; i < TS_PANEL_COUNT; i++) {
        ts_panel k = figure_order[i];
        GtkWidget *c = gtk_check_button_new_with_label(gettext(ts_panel_title(k)));
        gtk_widget_set_tooltip_text(c, ts_panel_name(k));
        d->panel_checks[k] = GTK_CHECK_BUTTON(c);
        g_signal_connect(c, "toggled", G_CALLBACK(panel_toggled), d);
        gtk_grid_attach(d->panel_grid, c, i % 2, i / 2, 1, 1);
    }
    g_signal_connect(d->format_dropdown, "notify::selected", G_CALLBACK(format_changed), d);
    g_signal_connect(d->file_button, "clicked", G_CALLBACK(file_clicked), d);
    g_signal_connect(d->export_button, "clicked", G_CALLBACK(export_clicked), d);
    g_signal_connect(d->cancel_button, "clicked", G_CALLBACK(cancel_clicked), d);
    gtk_window_set_default_widget(GTK_WINDOW(d), GTK_WIDGET(d->export_button));
}

TsExportDialog *ts_export_dialog_new(GtkWindow *parent, TsSession *session, const ts_panel *shown, int n_shown,
                                     const char *const *selected, const ts_draw_opts *opts)
{
    TsExportDialog *d = g_object_new(TS_TYPE_EXPORT_DIALOG, NULL);
    if (parent) gtk_window_set_transient_for(GTK_WINDOW(d), parent);
    gtk_window_set_modal(GTK_WINDOW(d), TRUE);
    gtk_window_set_destroy_with_parent(GTK_WINDOW(d), TRUE);
    d->session = g_object_ref(session);
    d->progress_id = g_signal_connect(session, "export-progress", G_CALLBACK(export_progress), d);
    d->selected = g_strdupv((char **)selected);
    if (!d->selected) d->selected = g_new0(char *, 1);
    if (opts) d->opts = *opts;
    guint n_sel = g_strv_length(d->selected);
    char *label = g_strdup_printf(ngettext("_Selected faces (%u)", "_Selected faces (%u)", n_sel), n_sel);
    gtk_check_button_set_label(d->selected_check, label);
    g_free(label);
    if (n_sel > 1) gtk_check_button_set_active(d->selected_check, TRUE);
    ts_export_dialog_set_panels(d, shown, n_shown);
    /* a first name in the Pictures folder (or home); the user picks another */
    const char *dir = g_get_user_special_dir(G_USER_DIRECTORY_PICTURES);
    if (!dir || !g_file_test(dir, G_FILE_TEST_IS_DIR)) dir = g_get_home_dir();
    char *path = g_build_filename(dir, "figure.pdf", NULL);
    ts_export_dialog_set_path(d, path);
    g_free(path);
    update_sensitivity(d);
    return d;
}
