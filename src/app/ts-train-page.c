/* ts-train-page.c - see ts-train-page.h.
 *
 * What lives here: the form (its settings, the suggested output name, the
 * file choosers), the list of runs bound to the queue, and the view of the
 * selected run.  The runs, their threads and the data preview are model
 * objects (TsTrainQueue, TsTrainRun, TsDataPreview); the page holds the
 * selected run (a reference) and the bindings and handlers that show it,
 * and drops them when another run is selected.
 */
#include "app/ts-train-page.h"

#include <glib/gi18n.h>
#include <string.h>

#include "app/ts-curve.h"
#include "app/ts-data-preview.h"
#include "app/ts-probe-card.h"
#include "app/ts-render.h"
#include "app/ts-run-row.h"

struct _TsTrainPage {
    GtkWidget parent;

    /* template */
    GtkWidget *root;
    GtkEntry *data_entry, *arch_entry, *out_entry;
    GtkButton *data_button, *arch_button, *out_button, *queue_button;
    GtkLabel *data_info, *form_error, *run_title, *progress_label, *probe_hint;
    GtkDropDown *trait_dropdown, *variant_dropdown, *arch_dropdown, *device_dropdown;
    GtkWidget *arch_file_box;
    GtkSpinButton *size_spin, *epochs_spin, *lr_spin, *batch_spin, *limit_spin, *ranks_spin;
    GtkSwitch *augment_switch;
    GtkListBox *run_list;
    GtkProgressBar *progress_bar;
    GtkBox *curve_box, *probe_box;
    TsCurve *loss_curve, *acc_curve;
    TsProbeCard *probe_0, *probe_1, *probe_2, *probe_3;

    /* models */
    TsTrainQueue *queue;
    TsDataPreview *preview;

    /* the selected run and what shows it */
    TsTrainRun *selected;  /* ref */
    GPtrArray *sel_bindings;
    int series[TS_TRAIN_N_CURVES];
    gboolean follow;       /* select a run when it starts */
    int updating;          /* programmatic list selection or output text */
    gboolean out_edited;   /* the user typed an output path */
    char *chosen_trait;    /* the trait the user picked in the form */
};

G_DEFINE_FINAL_TYPE(TsTrainPage, ts_train_page, GTK_TYPE_WIDGET)

enum { SIG_OPEN_MODEL, SIG_RUN_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static const char *const arch_builtin[] = { "alexnet", "caffenet", "adiencenet", "vgg16", "googlenet" };
#define N_ARCH_BUILTIN 5

static void select_run(TsTrainPage *p, TsTrainRun *r);

/* ---- the selected run ---- */

static TsProbeCard *probe_card(TsTrainPage *p, int k)
{
    TsProbeCard *c[TS_TRAIN_PROBES] = { p->probe_0, p->probe_1, p->probe_2, p->probe_3 };
    return c[k];
}

static void update_curves(TsTrainPage *p)
{
    TsTrainRun *r = p->selected;
    if (!r) {
        ts_curve_clear(p->loss_curve);
        ts_curve_clear(p->acc_curve);
        return;
    }
    int epochs = ts_train_run_get_settings(r)->epochs;
    ts_curve_set_x_range(p->loss_curve, 0, epochs);
    ts_curve_set_x_range(p->acc_curve, 0, epochs);
    for (int c = 0; c < TS_TRAIN_N_CURVES; c++) {
        int n;
        const double *xy = ts_train_run_get_curve(r, (TsTrainCurve)c, &n);
        gboolean loss = c == TS_TRAIN_CURVE_LOSS_STEP || c == TS_TRAIN_CURVE_LOSS_EPOCH;
        ts_curve_set_points(loss ? p->loss_curve : p->acc_curve, p->series[c], xy, n);
    }
}

static void update_probes(TsTrainPage *p)
{
    TsTrainRun *r = p->selected;
    int n = r ? ts_train_run_get_n_probes(r) : 0;
    for (int k = 0; k < TS_TRAIN_PROBES; k++) {
        gtk_widget_set_visible(GTK_WIDGET(probe_card(p, k)), k < n || !r);
        ts_probe_card_show(probe_card(p, k), k, r ? ts_train_run_get_probe(r, k) : NULL,
                           r ? _("After the first epoch") : "");
    }
    if (r && n == 0 && ts_train_run_get_state(r) == TS_TRAIN_RUN_QUEUED)
        gtk_label_set_text(p->probe_hint, _("The probe faces are chosen when the run starts."));
    else
        gtk_label_set_text(p->probe_hint, _("The first faces of the data, each with the LRP relevance of the "
                                            "checkpoint after every epoch: red speaks for the predicted class, "
                                            "blue against it."));
}

static void unbind_selected(TsTrainPage *p)
{
    for (guint i = 0; i < p->sel_bindings->len; i++) g_binding_unbind(p->sel_bindings->pdata[i]);
    g_ptr_array_set_size(p->sel_bindings, 0);
    if (p->selected) g_signal_handlers_disconnect_by_data(p->selected, p);
    g_clear_object(&p->selected);
}

static void select_run(TsTrainPage *p, TsTrainRun *r)
{
    unbind_selected(p);
    p->selected = r ? g_object_ref(r) : NULL;
    int i = r ? ts_train_queue_index_of(p->queue, r) : -1;
    p->updating++;
    gtk_list_box_select_row(p->run_list, i >= 0 ? gtk_list_box_get_row_at_index(p->run_list, i) : NULL);
    p->updating--;
    if (r) {
        const GBindingFlags sync = G_BINDING_SYNC_CREATE;
        g_ptr_array_add(p->sel_bindings, g_object_ref(g_object_bind_property(r, "title", p->run_title, "label", sync)));
        g_ptr_array_add(p->sel_bindings,
                        g_object_ref(g_object_bind_property(r, "status", p->progress_label, "label", sync)));
        g_ptr_array_add(p->sel_bindings,
                        g_object_ref(g_object_bind_property(r, "fraction", p->progress_bar, "fraction", sync)));
        g_signal_connect_swapped(r, "curves-changed", G_CALLBACK(update_curves), p);
        g_signal_connect_swapped(r, "probes-changed", G_CALLBACK(update_probes), p);
        g_signal_connect_swapped(r, "state-changed", G_CALLBACK(update_probes), p);
    } else {
        gtk_label_set_text(p->run_title, _("No run selected"));
        gtk_label_set_text(p->progress_label, _("Queue a run with the form on the left; its curves and probe "
                                                "faces appear here while it trains."));
        gtk_progress_bar_set_fraction(p->progress_bar, 0);
    }
    update_curves(p);
    update_probes(p);
}

/* ---- the run list, bound to the queue ---- */

static void row_open_model(TsRunRow *row, const char *path, int slot, TsTrainPage *p)
{
    (void)row;
    g_signal_emit(p, signals[SIG_OPEN_MODEL], 0, path, slot);
}

static GtkWidget *make_row(gpointer item, gpointer data)
{
    TsTrainPage *p = data;
    GtkWidget *row = ts_run_row_new(p->queue, TS_TRAIN_RUN(item));
    g_signal_connect(row, "open-model", G_CALLBACK(row_open_model), p);
    return row;
}

static void on_row_selected(GtkListBox *box, GtkListBoxRow *row, gpointer data)
{
    (void)box;
    TsTrainPage *p = data;
    if (p->updating || !row) return;
    TsTrainRun *r = ts_run_row_get_run(TS_RUN_ROW(row));
    if (r == p->selected) return;
    /* picking the running run (again) follows the queue; any other stays */
    p->follow = r == ts_train_queue_get_running(p->queue);
    select_run(p, r);
}

static void on_run_changed(TsTrainQueue *q, int index, TsTrainPage *p)
{
    TsTrainRun *r = ts_train_queue_get_run(q, index);
    /* a run that starts is shown, unless the user looks at another */
    if (r && ts_train_run_get_state(r) == TS_TRAIN_RUN_PREPARING && r == ts_train_queue_get_running(q) &&
        r != p->selected && (p->follow || !p->selected))
        select_run(p, r);
    g_signal_emit(p, signals[SIG_RUN_CHANGED], 0, index);
}

/* The selected run was removed: show the running one, else its neighbour. */
static void on_runs_changed(GListModel *m, guint pos, guint removed, guint added, TsTrainPage *p)
{
    (void)added;
    if (!removed || !p->selected || ts_train_queue_index_of(p->queue, p->selected) >= 0) return;
    guint n = g_list_model_get_n_items(m);
    TsTrainRun *next = ts_train_queue_get_running(p->queue);
    if (!next && n > 0) next = ts_train_queue_get_run(p->queue, (int)MIN(pos, n - 1));
    select_run(p, next);
}

/* ---- public: runs ---- */

TsTrainQueue *ts_train_page_get_queue(TsTrainPage *p) { return p->queue; }

int ts_train_page_queue(TsTrainPage *p, const ts_train_settings *s) { return ts_train_page_queue_ranks(p, s, 1); }

int ts_train_page_queue_ranks(TsTrainPage *p, const ts_train_settings *s, int ranks)
{
    g_return_val_if_fail(TS_IS_TRAIN_PAGE(p) && s && ranks >= 1, -1);
    TsTrainRun *r = ts_train_queue_add(p->queue, s, ranks);
    if (!p->selected) select_run(p, r);
    return ts_train_queue_index_of(p->queue, r);
}

int ts_train_page_get_n_runs(TsTrainPage *p)
{
    g_return_val_if_fail(TS_IS_TRAIN_PAGE(p), 0);
    return (int)g_list_model_get_n_items(G_LIST_MODEL(p->queue));
}

gboolean ts_train_page_get_run_info(TsTrainPage *p, int index, TsTrainRunInfo *out)
{
    g_return_val_if_fail(TS_IS_TRAIN_PAGE(p) && out, FALSE);
    TsTrainRun *r = ts_train_queue_get_run(p->queue, index);
    if (!r) return FALSE;
    memset(out, 0, sizeof *out);
    out->state = ts_train_run_get_state(r);
    out->epoch = ts_train_run_get_progress(r)->epoch;
    out->epochs = ts_train_run_get_settings(r)->epochs;
    out->epochs_done = ts_train_run_get_epochs_done(r);
    out->test_accuracy = ts_train_run_get_test_accuracy(r);
    ts_train_run_get_curve(r, TS_TRAIN_CURVE_LOSS_STEP, &out->n_loss_points);
    ts_train_run_get_curve(r, TS_TRAIN_CURVE_LOSS_EPOCH, &out->n_epoch_points);
    ts_train_run_get_curve(r, TS_TRAIN_CURVE_TEST_EPOCH, &out->n_test_points);
    out->n_probe_updates = ts_train_run_get_n_probe_updates(r);
    out->n_probes = ts_train_run_get_n_probes(r);
    out->ranks = ts_train_run_get_ranks(r);
    out->out = ts_train_run_get_settings(r)->out;
    out->error = ts_train_run_get_error(r);
    out->status = ts_train_run_get_status(r);
    return TRUE;
}

gboolean ts_train_page_cancel(TsTrainPage *p, int index)
{
    TsTrainRun *r = ts_train_queue_get_run(p->queue, index);
    return r && ts_train_run_cancel(r);
}

gboolean ts_train_page_stop_after_epoch(TsTrainPage *p, int index, int epoch)
{
    TsTrainRun *r = ts_train_queue_get_run(p->queue, index);
    return r && ts_train_run_stop_after_epoch(r, epoch);
}

gboolean ts_train_page_resume(TsTrainPage *p, int index)
{
    TsTrainRun *r = ts_train_queue_get_run(p->queue, index);
    return r && ts_train_run_resume(r);
}

gboolean ts_train_page_remove(TsTrainPage *p, int index)
{
    TsTrainRun *r = ts_train_queue_get_run(p->queue, index);
    return r && ts_train_queue_remove(p->queue, r);
}

void ts_train_page_select(TsTrainPage *p, int index)
{
    g_return_if_fail(TS_IS_TRAIN_PAGE(p));
    TsTrainRun *r = ts_train_queue_get_run(p->queue, index);
    if (!r) return;
    p->follow = r == ts_train_queue_get_running(p->queue);
    select_run(p, r);
}

/* ---- the form ---- */

static void form_error(TsTrainPage *p, const char *msg)
{
    gtk_label_set_text(p->form_error, msg ? msg : "");
    gtk_widget_set_visible(GTK_WIDGET(p->form_error), msg && *msg);
}

static const char *selected_trait(TsTrainPage *p)
{
    GtkStringObject *o = gtk_drop_down_get_selected_item(p->trait_dropdown);
    return o ? gtk_string_object_get_string(o) : NULL;
}

/* The architecture as ts_train_settings wants it: a built-in name or a
 * file path; NULL when the file field is empty.  transfer: none. */
static const char *selected_arch(TsTrainPage *p)
{
    guint i = gtk_drop_down_get_selected(p->arch_dropdown);
    if (i < N_ARCH_BUILTIN) return arch_builtin[i];
    const char *f = gtk_editable_get_text(GTK_EDITABLE(p->arch_entry));
    return *f ? f : NULL;
}

/* Suggests ~/traitscope-runs/TRAIT-VARIANT-ARCH[-N].safetensors, a name no
 * file and no waiting run has, unless the user typed a path. */
static void suggest_out(TsTrainPage *p)
{
    if (p->out_edited) return;
    const char *trait = selected_trait(p);
    const char *arch = selected_arch(p);
    char *arch_base = g_path_get_basename(arch ? arch : "net");
    char *dot = strrchr(arch_base, '.');
    if (dot && dot != arch_base) *dot = '\0';
    const char *variant = gtk_drop_down_get_selected(p->variant_dropdown) == 1 ? "lacnn" : "baseline";
    char *dir = g_build_filename(g_get_home_dir(), "traitscope-runs", NULL);
    char *path = NULL;
    for (int n = 1; n < 1000; n++) {
        char *name = n == 1 ? g_strdup_printf("%s-%s-%s.safetensors", trait ? trait : "model", variant, arch_base)
                            : g_strdup_printf("%s-%s-%s-%d.safetensors", trait ? trait : "model", variant, arch_base, n);
        g_free(path);
        path = g_build_filename(dir, name, NULL);
        g_free(name);
        if (!g_file_test(path, G_FILE_TEST_EXISTS) && !ts_train_queue_writes(p->queue, path)) break;
    }
    p->updating++;
    gtk_editable_set_text(GTK_EDITABLE(p->out_entry), path);
    p->updating--;
    g_free(path);
    g_free(dir);
    g_free(arch_base);
}

static void on_out_changed(TsTrainPage *p)
{
    if (!p->updating) p->out_edited = TRUE;
}

/* The line under the data field: the faces and the chosen trait's class
 * counts, or why the data cannot be read. */
static void show_data_info(TsTrainPage *p)
{
    TsDataPreview *v = p->preview;
    const char *err = ts_data_preview_get_error(v);
    char *info = NULL;
    const char *spec = gtk_editable_get_text(GTK_EDITABLE(p->data_entry));
    if (ts_data_preview_is_loading(v)) info = g_strdup(_("Reading the labels…"));
    else if (err) info = g_strdup(err);
    else if (!*spec) info = g_strdup(_("celeba:DIR, utkface:DIR, adience:DIR or csv:FILE"));
    else if (g_list_model_get_n_items(ts_data_preview_get_traits(v)) == 0)
        info = g_strdup_printf(_("%d faces, but no traits to train on"), ts_data_preview_get_n_rows(v));
    else if (ts_data_preview_get_counts(v, gtk_drop_down_get_selected(p->trait_dropdown)))
        info = g_strdup_printf(_("%d faces · %s"), ts_data_preview_get_n_rows(v),
                               ts_data_preview_get_counts(v, gtk_drop_down_get_selected(p->trait_dropdown)));
    if (info) gtk_label_set_text(p->data_info, info);
    const char *on = err && !ts_data_preview_is_loading(v) ? "ts-error" : "dim-label";
    const char *off = err && !ts_data_preview_is_loading(v) ? "dim-label" : "ts-error";
    gtk_widget_add_css_class(GTK_WIDGET(p->data_info), on);
    gtk_widget_remove_css_class(GTK_WIDGET(p->data_info), off);
    g_free(info);
}

static void on_choice_changed(TsTrainPage *p)
{
    gtk_widget_set_visible(p->arch_file_box, gtk_drop_down_get_selected(p->arch_dropdown) >= N_ARCH_BUILTIN);
    /* the trait list changes under a read; only the user's picks count */
    if (!ts_data_preview_is_loading(p->preview) && selected_trait(p)) {
        g_free(p->chosen_trait);
        p->chosen_trait = g_strdup(selected_trait(p));
    }
    show_data_info(p);
    suggest_out(p);
}

/* A spec was read: keep the trait the user had, else gender, else the
 * first. */
static void on_preview_ready(TsTrainPage *p)
{
    GListModel *traits = ts_data_preview_get_traits(p->preview);
    guint n = g_list_model_get_n_items(traits), pick = 0;
    for (guint i = 0; i < n; i++) {
        GtkStringObject *o = g_list_model_get_item(traits, i);
        if (!g_strcmp0(gtk_string_object_get_string(o), p->chosen_trait ? p->chosen_trait : "gender")) pick = i;
        g_object_unref(o);
    }
    if (n) gtk_drop_down_set_selected(p->trait_dropdown, pick);
    on_choice_changed(p);
}

/* The settings of the form; FALSE with the reason in the form. */
static gboolean form_settings(TsTrainPage *p, ts_train_settings *s)
{
    ts_train_settings_default(s);
    const char *data = gtk_editable_get_text(GTK_EDITABLE(p->data_entry));
    const char *out = gtk_editable_get_text(GTK_EDITABLE(p->out_entry));
    const char *trait = selected_trait(p);
    const char *arch = selected_arch(p);
    char *msg = NULL;
    if (!*data)
        msg = g_strdup(_("Give the data: a dataset spec such as utkface:/path/to/utkface, or choose a folder."));
    else if (!trait || ts_data_preview_is_loading(p->preview))
        msg = g_strdup(_("Choose a trait: the list fills once the data has been read."));
    else if (!arch)
        msg = g_strdup(_("Give the network description file, or choose a built-in architecture."));
    else if (gtk_drop_down_get_selected(p->arch_dropdown) >= N_ARCH_BUILTIN && !g_file_test(arch, G_FILE_TEST_IS_REGULAR))
        msg = g_strdup_printf(_("The network description file %s does not exist."), arch);
    else if (!*out)
        msg = g_strdup(_("Give the model file the run writes."));
    else if (ts_train_queue_writes(p->queue, out))
        msg = g_strdup_printf(_("Another run in the queue writes %s; choose another model file."), out);
    if (msg) {
        form_error(p, msg);
        g_free(msg);
        return FALSE;
    }
    s->data = data;
    s->trait = trait;
    s->arch = arch;
    s->out = out;
    s->variant = gtk_drop_down_get_selected(p->variant_dropdown) == 1 ? TS_VARIANT_LACNN : TS_VARIANT_BASELINE;
    s->size = gtk_spin_button_get_value_as_int(p->size_spin);
    s->epochs = gtk_spin_button_get_value_as_int(p->epochs_spin);
    s->batch = gtk_spin_button_get_value_as_int(p->batch_spin);
    s->lr = (float)gtk_spin_button_get_value(p->lr_spin);
    s->limit = gtk_spin_button_get_value_as_int(p->limit_spin);
    s->augment = gtk_switch_get_active(p->augment_switch);
    guint d = gtk_drop_down_get_selected(p->device_dropdown);
    s->device = d == 1 ? TS_DEVICE_CPU : d == 2 ? TS_DEVICE_CUDA : TS_DEVICE_AUTO;
    s->eval_each_epoch = true;
    return TRUE;
}

static void on_queue(TsTrainPage *p)
{
    ts_train_settings s;
    if (!form_settings(p, &s)) return;
    form_error(p, NULL);
    /* the strings point into the form's widgets: the queue copies them */
    int ranks = gtk_widget_get_sensitive(GTK_WIDGET(p->ranks_spin)) ? gtk_spin_button_get_value_as_int(p->ranks_spin)
                                                                    : 1;
    int index = ts_train_page_queue_ranks(p, &s, ranks);
    p->follow = TRUE;
    TsTrainRun *running = ts_train_queue_get_running(p->queue);
    if (!running || ts_train_queue_index_of(p->queue, running) == index) ts_train_page_select(p, index);
    suggest_out(p); /* the next run gets a fresh name */
}

static void on_data_changed(TsTrainPage *p)
{
    /* wait for the typing to pause */
    ts_data_preview_set_spec(p->preview, gtk_editable_get_text(GTK_EDITABLE(p->data_entry)), 350);
}

static void on_data_activate(TsTrainPage *p)
{
    ts_data_preview_set_spec(p->preview, gtk_editable_get_text(GTK_EDITABLE(p->data_entry)), 0);
}

void ts_train_page_set_device(TsTrainPage *p, ts_device device)
{
    gtk_drop_down_set_selected(p->device_dropdown, device == TS_DEVICE_CPU ? 1 : device == TS_DEVICE_CUDA ? 2 : 0);
}

void ts_train_page_set_data(TsTrainPage *p, const char *spec)
{
    g_return_if_fail(TS_IS_TRAIN_PAGE(p));
    gtk_editable_set_text(GTK_EDITABLE(p->data_entry), spec ? spec : "");
    on_data_activate(p);
}

/* The row limit shows "all" for 0. */
static gboolean on_limit_output(GtkSpinButton *sb, gpointer data)
{
    (void)data;
    int v = gtk_spin_button_get_value_as_int(sb);
    char *t = v == 0 ? g_strdup(_("all")) : g_strdup_printf("%d", v);
    if (g_strcmp0(t, gtk_editable_get_text(GTK_EDITABLE(sb)))) gtk_editable_set_text(GTK_EDITABLE(sb), t);
    g_free(t);
    return TRUE;
}

static int on_limit_input(GtkSpinButton *sb, double *value, gpointer data)
{
    (void)data;
    const char *t = gtk_editable_get_text(GTK_EDITABLE(sb));
    if (!g_ascii_strcasecmp(t, _("all")) || !*t) {
        *value = 0;
        return TRUE;
    }
    char *end;
    double v = g_ascii_strtod(t, &end);
    if (*end) return GTK_INPUT_ERROR;
    *value = v;
    return TRUE;
}

/* ---- file choosers ---- */

/* A dataset spec for a chosen folder, from the files it holds. */
static char *spec_for_folder(const char *dir)
{
    static const struct {
        const char *file, *kind;
    } marks[] = { { "attributes.txt", "celeba" }, { "labels.csv", "utkface" }, { "fold_0_data.txt", "adience" },
                  { "fold_frontal_0_data.txt", "adience" } };
    for (guint i = 0; i < G_N_ELEMENTS(marks); i++) {
        char *f = g_build_filename(dir, marks[i].file, NULL);
        gboolean ok = g_file_test(f, G_FILE_TEST_IS_REGULAR);
        g_free(f);
        if (ok) return g_strdup_printf("%s:%s", marks[i].kind, dir);
    }
    /* UTKFace names (AGE_GENDER_RACE_DATE.jpg.chip.jpg) in images/ or here */
    char *img = g_build_filename(dir, "images", NULL);
    const char *look = g_file_test(img, G_FILE_TEST_IS_DIR) ? img : dir;
    GDir *d = g_dir_open(look, 0, NULL);
    gboolean utk = FALSE;
    if (d) {
        for (const char *n; !utk && (n = g_dir_read_name(d));) utk = g_str_has_suffix(n, ".chip.jpg");
        g_dir_close(d);
    }
    g_free(img);
    return g_strdup_printf("%s:%s", utk ? "utkface" : "folder", dir);
}

G_GNUC_BEGIN_IGNORE_DEPRECATIONS
typedef enum { CHOOSE_DATA, CHOOSE_ARCH, CHOOSE_OUT } ChooseWhat;

static void on_chooser_response(GtkNativeDialog *d, int response, gpointer data)
{
    TsTrainPage *p = data;
    ChooseWhat what = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(d), "what"));
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *f = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(d));
        char *path = f ? g_file_get_path(f) : NULL;
        if (path && what == CHOOSE_DATA) {
            char *spec = g_str_has_suffix(path, ".csv") && g_file_test(path, G_FILE_TEST_IS_REGULAR)
                             ? g_strdup_printf("csv:%s", path)
                             : spec_for_folder(path);
            ts_train_page_set_data(p, spec);
            g_free(spec);
        } else if (path && what == CHOOSE_ARCH) {
            gtk_editable_set_text(GTK_EDITABLE(p->arch_entry), path);
        } else if (path) {
            p->out_edited = TRUE;
            gtk_editable_set_text(GTK_EDITABLE(p->out_entry), path);
        }
        g_free(path);
        if (f) g_object_unref(f);
    }
    gtk_native_dialog_destroy(d);
    g_object_unref(d);
}

static void choose(TsTrainPage *p, ChooseWhat what)
{
    GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(p));
    GtkWindow *parent = GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL;
    static const GtkFileChooserAction action[] = { GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                                   GTK_FILE_CHOOSER_ACTION_OPEN, GTK_FILE_CHOOSER_ACTION_SAVE };
    const char *title[] = { _("Choose the Dataset Folder"), _("Choose a Network Description"),
                            _("Save the Model As") };
    GtkFileChooserNative *d = gtk_file_chooser_native_new(title[what], parent, action[what], NULL, NULL);
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(d), TRUE);
    if (what == CHOOSE_ARCH) {
        GtkFileFilter *f = gtk_file_filter_new();
        gtk_file_filter_set_name(f, _("Network descriptions (.arch, .prototxt)"));
        gtk_file_filter_add_pattern(f, "*.arch");
        gtk_file_filter_add_pattern(f, "*.prototxt");
        gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), f);
        g_object_unref(f);
    } else if (what == CHOOSE_OUT) {
        char *base = g_path_get_basename(gtk_editable_get_text(GTK_EDITABLE(p->out_entry)));
        gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(d), base);
        g_free(base);
    }
    g_object_set_data(G_OBJECT(d), "what", GINT_TO_POINTER(what));
    g_signal_connect(d, "response", G_CALLBACK(on_chooser_response), p);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}
G_GNUC_END_IGNORE_DEPRECATIONS

static void on_data_button(TsTrainPage *p) { choose(p, CHOOSE_DATA); }
static void on_arch_button(TsTrainPage *p) { choose(p, CHOOSE_ARCH); }
static void on_out_button(TsTrainPage *p) { choose(p, CHOOSE_OUT); }

/* ---- life cycle ---- */

GtkWidget *ts_train_page_new(void) { return g_object_new(TS_TYPE_TRAIN_PAGE, NULL); }

static void ts_train_page_dispose(GObject *o)
{
    TsTrainPage *p = TS_TRAIN_PAGE(o);
    if (p->sel_bindings) unbind_selected(p);
    g_clear_pointer(&p->sel_bindings, g_ptr_array_unref);
    if (p->queue) {
        g_signal_handlers_disconnect_by_data(p->queue, p);
        gtk_list_box_bind_model(p->run_list, NULL, NULL, NULL, NULL);
        /* stops the running run and waits for its thread and the probes' */
        g_object_run_dispose(G_OBJECT(p->queue));
        g_clear_object(&p->queue);
    }
    if (p->preview) g_signal_handlers_disconnect_by_data(p->preview, p);
    g_clear_object(&p->preview);
    gtk_widget_dispose_template(GTK_WIDGET(p), TS_TYPE_TRAIN_PAGE);
    G_OBJECT_CLASS(ts_train_page_parent_class)->dispose(o);
}

static void ts_train_page_finalize(GObject *o)
{
    g_free(TS_TRAIN_PAGE(o)->chosen_trait);
    G_OBJECT_CLASS(ts_train_page_parent_class)->finalize(o);
}

static void ts_train_page_class_init(TsTrainPageClass *k)
{
    GObjectClass *oc = G_OBJECT_CLASS(k);
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(k);
    oc->dispose = ts_train_page_dispose;
    oc->finalize = ts_train_page_finalize;

    signals[SIG_OPEN_MODEL] = g_signal_new("open-model", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                           NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT);
    signals[SIG_RUN_CHANGED] = g_signal_new("run-changed", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                            NULL, G_TYPE_NONE, 1, G_TYPE_INT);

    gtk_widget_class_set_template_from_resource(wc, "/org/traitscope/Traitscope/ts-train-page.ui");
#define BIND(x) gtk_widget_class_bind_template_child(wc, TsTrainPage, x)
    BIND(root);
    BIND(data_entry);
    BIND(arch_entry);
    BIND(out_entry);
    BIND(data_button);
    BIND(arch_button);
    BIND(out_button);
    BIND(queue_button);
    BIND(data_info);
    BIND(form_error);
    BIND(run_title);
    BIND(progress_label);
    BIND(probe_hint);
    BIND(trait_dropdown);
    BIND(variant_dropdown);
    BIND(arch_dropdown);
    BIND(device_dropdown);
    BIND(arch_file_box);
    BIND(size_spin);
    BIND(epochs_spin);
    BIND(lr_spin);
    BIND(batch_spin);
    BIND(limit_spin);
    BIND(ranks_spin);
    BIND(augment_switch);
    BIND(run_list);
    BIND(progress_bar);
    BIND(curve_box);
    BIND(probe_box);
    BIND(loss_curve);
    BIND(acc_curve);
    BIND(probe_0);
    BIND(probe_1);
    BIND(probe_2);
    BIND(probe_3);
#undef BIND
    gtk_widget_class_set_layout_manager_type(wc, GTK_TYPE_BIN_LAYOUT);
    gtk_widget_class_set_css_name(wc, "tstrainpage");
    gtk_widget_class_set_accessible_role(wc, GTK_ACCESSIBLE_ROLE_GROUP);
}

/* The series of the two plots (the curves of TsTrainRun, in order). */
static void setup_curves(TsTrainPage *p)
{
    ts_curve_set_title(p->loss_curve, _("Training Loss"));
    ts_curve_set_axis_labels(p->loss_curve, _("epoch"), _("cross-entropy"));
    ts_curve_set_title(p->acc_curve, _("Accuracy"));
    ts_curve_set_axis_labels(p->acc_curve, _("epoch"), _("fraction correct"));
    ts_curve_set_y_range(p->acc_curve, 0, 1);
    ts_curve_set_ignore_outliers(p->loss_curve, TRUE);
    static const struct {
        const char *name, *color;
        gboolean loss, line;
    } s[TS_TRAIN_N_CURVES] = {
        [TS_TRAIN_CURVE_LOSS_STEP] = { N_("per step, smoothed"), "#3584e4", TRUE, TRUE },
        [TS_TRAIN_CURVE_LOSS_EPOCH] = { N_("epoch mean"), "#1a5fb4", TRUE, FALSE },
        [TS_TRAIN_CURVE_ACC_STEP] = { N_("training, smoothed"), "#2ec27e", FALSE, TRUE },
        [TS_TRAIN_CURVE_ACC_EPOCH] = { N_("training"), "#26a269", FALSE, FALSE },
        [TS_TRAIN_CURVE_TEST_EPOCH] = { N_("test"), "#e66100", FALSE, FALSE },
    };
    for (int c = 0; c < TS_TRAIN_N_CURVES; c++) {
        GdkRGBA rgba;
        gdk_rgba_parse(&rgba, s[c].color);
        p->series[c] = ts_curve_add_series(s[c].loss ? p->loss_curve : p->acc_curve, _(s[c].name), &rgba,
                                           s[c].line ? TS_CURVE_LINE : TS_CURVE_MARKERS);
    }
}

static void ts_train_page_init(TsTrainPage *p)
{
    g_type_ensure(TS_TYPE_CURVE);
    g_type_ensure(TS_TYPE_PROBE_CARD);
    ts_style_ensure();
    gtk_widget_init_template(GTK_WIDGET(p));
    p->follow = TRUE;
    p->sel_bindings = g_ptr_array_new_with_free_func(g_object_unref);
    p->queue = ts_train_queue_new();
    p->preview = ts_data_preview_new();

    /* form defaults: job.h's (the LACNN paper's) */
    ts_train_settings d;
    ts_train_settings_default(&d);
    gtk_drop_down_set_model(p->trait_dropdown, ts_data_preview_get_traits(p->preview));
    gtk_spin_button_set_value(p->size_spin, d.size);
    gtk_spin_button_set_value(p->epochs_spin, d.epochs);
    gtk_spin_button_set_value(p->lr_spin, d.lr);
    gtk_spin_button_set_value(p->batch_spin, d.batch);
    gtk_spin_button_set_value(p->limit_spin, d.limit);
    gtk_switch_set_active(p->augment_switch, d.augment);
    gtk_drop_down_set_selected(p->variant_dropdown, d.variant == TS_VARIANT_LACNN ? 1 : 0);
    ts_train_page_set_device(p, d.device);
    gtk_drop_down_set_selected(p->arch_dropdown, 0);
    gtk_widget_set_visible(p->arch_file_box, FALSE);
    show_data_info(p);

    g_signal_connect_swapped(p->preview, "ready", G_CALLBACK(on_preview_ready), p);
    g_signal_connect_swapped(p->preview, "notify::loading", G_CALLBACK(show_data_info), p);
    g_signal_connect_swapped(p->data_entry, "changed", G_CALLBACK(on_data_changed), p);
    g_signal_connect_swapped(p->data_entry, "activate", G_CALLBACK(on_data_activate), p);
    g_signal_connect_swapped(p->out_entry, "changed", G_CALLBACK(on_out_changed), p);
    g_signal_connect_swapped(p->arch_entry, "changed", G_CALLBACK(suggest_out), p);
    g_signal_connect_swapped(p->trait_dropdown, "notify::selected", G_CALLBACK(on_choice_changed), p);
    g_signal_connect_swapped(p->variant_dropdown, "notify::selected", G_CALLBACK(on_choice_changed), p);
    g_signal_connect_swapped(p->arch_dropdown, "notify::selected", G_CALLBACK(on_choice_changed), p);
    g_signal_connect_swapped(p->data_button, "clicked", G_CALLBACK(on_data_button), p);
    g_signal_connect_swapped(p->arch_button, "clicked", G_CALLBACK(on_arch_button), p);
    g_signal_connect_swapped(p->out_button, "clicked", G_CALLBACK(on_out_button), p);
    g_signal_connect_swapped(p->queue_button, "clicked", G_CALLBACK(on_queue), p);
    g_signal_connect(p->limit_spin, "output", G_CALLBACK(on_limit_output), NULL);
    g_signal_connect(p->limit_spin, "input", G_CALLBACK(on_limit_input), NULL);
    gtk_spin_button_update(p->limit_spin);
    on_limit_output(p->limit_spin, NULL);
    /* Several processes: only where MPI's launcher is installed. */
    char *mpirun = g_find_program_in_path("mpirun");
    gtk_widget_set_sensitive(GTK_WIDGET(p->ranks_spin), mpirun != NULL);
    gtk_widget_set_tooltip_text(GTK_WIDGET(p->ranks_spin),
                                mpirun ? _("Processes that train this one model together, each on its share of "
                                           "every batch (mpirun); 1 trains inside the app")
                                       : _("Training with several processes needs MPI (mpirun), which is not "
                                           "installed"));
    g_free(mpirun);

    gtk_list_box_bind_model(p->run_list, G_LIST_MODEL(p->queue), make_row, p, NULL);
    g_signal_connect(p->run_list, "row-selected", G_CALLBACK(on_row_selected), p);
    g_signal_connect(p->queue, "run-changed", G_CALLBACK(on_run_changed), p);
    g_signal_connect_after(p->queue, "items-changed", G_CALLBACK(on_runs_changed), p);

    setup_curves(p);
    suggest_out(p);
    select_run(p, NULL);
}
