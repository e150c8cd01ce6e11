/* ts-rules-editor.c - see ts-rules-editor.h.
 *
 * Invariants: e->rules is the string of the current rows when they are
 * valid, NULL otherwise (then e->error says why); e->emitted_* hold what
 * the window last heard ("changed") or set, so a set_layers echoing the
 * editor's own output changes nothing and emits nothing.  Programmatic
 * changes of the controls run with e->updating > 0 and never emit.
 * The rule grammar is explain/lrp.h's; nothing here needs a graph.
 */
#include "app/ts-rules-editor.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "explain/lrp.h"

/* The rule drop-down's items: the grammar's word, a label, the default
 * parameters shown when the rule is picked, and a hint for the entry. */
static const struct {
    const char *word, *label, *params, *hint;
} kinds[] = {
    { "epsilon", N_("epsilon"), "0.01", N_("E, e.g. 0.01") },
    { "lrp0", N_("LRP-0"), NULL, NULL },
    { "alphabeta", N_("alpha-beta"), "2,1", N_("alpha,beta[,bias], alpha - beta = 1") },
    { "flat", N_("flat"), NULL, NULL },
    { "wsquare", N_("w-square"), NULL, NULL },
    { "zbox", N_("z-box"), NULL, NULL },
};
#define N_KINDS ((guint)(sizeof kinds / sizeof kinds[0]))

typedef struct row {
    char *name;
    gboolean is_conv, is_first;
    GtkDropDown *rule;
    GtkEntry *params;
    GtkLabel *label;
} row;

struct _TsRulesEditor {
    GtkWidget parent;
    GtkWidget *box;                 /* the only direct child */
    GtkDropDown *preset, *target;
    GtkStringList *target_list;
    GtkWidget *grid_holder, *grid;
    GtkLabel *error_label, *preview;

    GArray *rows;                   /* row */
    char **targets;                 /* the target values after "predicted", NULL-terminated, or NULL */
    int updating;
    char *rules, *error, *target_str;
    char *emitted_rules, *emitted_target;
};

G_DEFINE_FINAL_TYPE(TsRulesEditor, ts_rules_editor, GTK_TYPE_WIDGET)

enum { SIG_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void recompute(TsRulesEditor *e, gboolean by_user);

/* ---- rules <-> rows ---- */

static gboolean rule_eq(const ts_lrp_rule *a, const ts_lrp_rule *b)
{
    if (a->kind != b->kind) return FALSE;
    switch (a->kind) {
    case TS_LRP_EPSILON: return a->eps == b->eps;
    case TS_LRP_ALPHABETA: return a->alpha == b->alpha && a->beta == b->beta && a->with_bias == b->with_bias;
    default: return TRUE;
    }
}

static const char *preset_name(TsRulesEditor *e)
{
    const char *p = ts_lrp_preset_name((int)gtk_drop_down_get_selected(e->preset));
    return p ? p : "adience";
}

/* The rule text of a row ("epsilon:0.25"); g_free it. */
static char *row_text(const row *r)
{
    guint k = gtk_drop_down_get_selected(r->rule);
    if (k >= N_KINDS) k = 0;
    const char *p = gtk_editable_get_text(GTK_EDITABLE(r->params));
    while (*p == ' ') p++;
    if (!kinds[k].params || !*p) return g_strdup(kinds[k].word);
    return g_strdup_printf("%s:%s", kinds[k].word, p);
}

/* Shows `rule` in a row: the drop-down item and the parameters. */
static void row_show_rule(TsRulesEditor *e, row *r, const ts_lrp_rule *rule)
{
    char buf[64];
    ts_lrp_rule_str(rule, buf, sizeof buf);
    char *colon = strchr(buf, ':');
    if (colon) *colon++ = '\0';
    e->updating++;
    for (guint k = 0; k < N_KINDS; k++)
        if (!strcmp(kinds[k].word, buf)) gtk_drop_down_set_selected(r->rule, k);
    gtk_editable_set_text(GTK_EDITABLE(r->params), colon ? colon : "");
    gtk_widget_set_sensitive(GTK_WIDGET(r->params), colon != NULL);
    guint k = gtk_drop_down_get_selected(r->rule);
    gtk_entry_set_placeholder_text(r->params, k < N_KINDS && kinds[k].hint ? _(kinds[k].hint) : NULL);
    e->updating--;
}

static void row_clear(gpointer p)
{
    row *r = p;
    g_free(r->name);
}

/* ---- reactions ---- */

static void rule_picked(GObject *dd, GParamSpec *ps, gpointer user)
{
    TsRulesEditor *e = user;
    if (e->updating) return;
    /* a new rule starts from its default parameters */
    for (guint i = 0; i < e->rows->len; i++) {
        row *r = &g_array_index(e->rows, row, i);
        if ((GObject *)r->rule != dd) continue;
        guint k = gtk_drop_down_get_selected(r->rule);
        e->updating++;
        gtk_editable_set_text(GTK_EDITABLE(r->params), k < N_KINDS && kinds[k].params ? kinds[k].params : "");
        gtk_widget_set_sensitive(GTK_WIDGET(r->params), k < N_KINDS && kinds[k].params != NULL);
        gtk_entry_set_placeholder_text(r->params, k < N_KINDS && kinds[k].hint ? _(kinds[k].hint) : NULL);
        e->updating--;
    }
    recompute(e, TRUE);
}

static void params_edited(GtkEditable *ed, gpointer user)
{
    TsRulesEditor *e = user;
    if (!e->updating) recompute(e, TRUE);
}

static void reset_to_preset(TsRulesEditor *e)
{
    ts_lrp_rule rule;
    for (guint i = 0; i < e->rows->len; i++) {
        row *r = &g_array_index(e->rows, row, i);
        if (ts_lrp_preset_rule(preset_name(e), r->is_conv, r->is_first, &rule)) row_show_rule(e, r, &rule);
    }
}

static void preset_picked(GObject *dd, GParamSpec *ps, gpointer user)
{
    TsRulesEditor *e = user;
    if (e->updating) return;
    reset_to_preset(e);
    recompute(e, TRUE);
}

static void target_picked(GObject *dd, GParamSpec *ps, gpointer user)
{
    TsRulesEditor *e = user;
    if (!e->updating) recompute(e, TRUE);
}

static const char *current_target(TsRulesEditor *e)
{
    guint t = gtk_drop_down_get_selected(e->target);
    guint n = e->targets ? g_strv_length(e->targets) : 0;
    return t >= 1 && t <= n ? e->targets[t - 1] : "";
}

/* Checks every row, builds the rule string, shows the error or the string,
 * and (for a user's edit) emits "changed" when something new is valid. */
static void recompute(TsRulesEditor *e, gboolean by_user)
{
    g_clear_pointer(&e->rules, g_free);
    g_clear_pointer(&e->error, g_free);
    GString *spec = g_string_new(NULL);
    g_string_append_printf(spec, "preset=%s", preset_name(e));
    for (guint i = 0; i < e->rows->len; i++) {
        row *r = &g_array_index(e->rows, row, i);
        char *text = row_text(r);
        ts_lrp_rule rule, preset;
        gboolean bad = FALSE, over = FALSE;
        guint k = gtk_drop_down_get_selected(r->rule);
        if (k < N_KINDS && kinds[k].params && !strchr(text, ':')) {
            /* an emptied entry is a value being typed, not "the default" */
            bad = TRUE;
            if (!e->error) e->error = g_strdup_printf(_("%s: enter the parameters of %s"), r->name, kinds[k].word);
        } else if (ts_lrp_rule_parse(text, &rule) != TS_OK) {
            bad = TRUE;
            /* TRANSLATORS: "conv3: <the grammar's message>" */
            if (!e->error) {
                /* the grammar quotes "rule string item 1 '...': "; the row already says where */
                const char *msg = ts_last_error(), *cut = strstr(msg, "': ");
                if (g_str_has_prefix(msg, "rule string item") && cut) msg = cut + 3;
                e->error = g_strdup_printf(_("%s: %s"), r->name, msg);
            }
        } else if (rule.kind == TS_LRP_ZBOX && !r->is_first) {
            bad = TRUE;
            if (!e->error)
                e->error = g_strdup_printf(_("%s: z-box applies only to the layer fed by the input image"), r->name);
        } else if (!ts_lrp_preset_rule(preset_name(e), r->is_conv, r->is_first, &preset) || !rule_eq(&rule, &preset)) {
            char canon[64]; /* the grammar's own spelling: "0.250" and "0.25" are one rule */
            g_string_append_printf(spec, ";%s=%s", r->name, ts_lrp_rule_str(&rule, canon, sizeof canon));
            over = TRUE;
        }
        if (bad) gtk_widget_add_css_class(GTK_WIDGET(r->params), "error");
        else gtk_widget_remove_css_class(GTK_WIDGET(r->params), "error");
        /* overridden rows show their name in bold */
        if (over) gtk_widget_add_css_class(GTK_WIDGET(r->label), "heading");
        else gtk_widget_remove_css_class(GTK_WIDGET(r->label), "heading");
        g_free(text);
    }
    if (!e->error && ts_lrp_rules_check(spec->str) != TS_OK) e->error = g_strdup(ts_last_error());
    if (!e->error) e->rules = g_string_free(spec, FALSE);
    else g_string_free(spec, TRUE);
    g_free(e->target_str);
    e->target_str = g_strdup(current_target(e));

    gtk_label_set_text(e->error_label, e->error ? e->error : "");
    gtk_widget_set_visible(GTK_WIDGET(e->error_label), e->error != NULL);
    gtk_label_set_text(e->preview, e->rules ? e->rules : "");
    if (!e->rules) return;
    gboolean news = g_strcmp0(e->rules, e->emitted_rules) || g_strcmp0(e->target_str, e->emitted_target);
    g_free(e->emitted_rules);
    g_free(e->emitted_target);
    e->emitted_rules = g_strdup(e->rules);
    e->emitted_target = g_strdup(e->target_str);
    if (by_user && news) g_signal_emit(e, signals[SIG_CHANGED], 0, e->rules, e->target_str);
}

/* ---- building rows ---- */

static GtkStringList *kind_list(void)
{
    GtkStringList *l = gtk_string_list_new(NULL);
    for (guint k = 0; k < N_KINDS; k++) gtk_string_list_append(l, _(kinds[k].label));
    return l;
}

static void build_rows(TsRulesEditor *e, char **names)
{
    if (e->grid) gtk_box_remove(GTK_BOX(e->grid_holder), e->grid);
    g_array_set_size(e->rows, 0);
    e->grid = gtk_grid_new();
    GtkGrid *g = GTK_GRID(e->grid);
    gtk_grid_set_row_spacing(g, 4);
    gtk_grid_set_column_spacing(g, 8);
    const char *heads[] = { N_("Layer"), N_("Rule"), N_("Parameters") };
    for (int c = 0; c < 3; c++) {
        GtkWidget *h = gtk_label_new(_(heads[c]));
        gtk_label_set_xalign(GTK_LABEL(h), 0);
        gtk_widget_add_css_class(h, "dim-label");
        gtk_grid_attach(g, h, c, 0, 1, 1);
    }
    for (int i = 0; names && names[i]; i++) {
        row r = { 0 };
        r.name = g_strdup(names[i]);
        r.is_conv = !g_str_has_prefix(names[i], "fc");
        r.is_first = i == 0;
        r.label = GTK_LABEL(gtk_label_new(names[i]));
        gtk_label_set_xalign(r.label, 0);
        GtkStringList *kl = kind_list();
        r.rule = GTK_DROP_DOWN(gtk_drop_down_new(G_LIST_MODEL(kl), NULL));
        r.params = GTK_ENTRY(gtk_entry_new());
        gtk_editable_set_width_chars(GTK_EDITABLE(r.params), 10);
        gtk_widget_set_hexpand(GTK_WIDGET(r.params), TRUE);
        char *what = g_strdup_printf(_("LRP rule of %s"), names[i]);
        gtk_accessible_update_property(GTK_ACCESSIBLE(r.rule), GTK_ACCESSIBLE_PROPERTY_LABEL, what, -1);
        g_free(what);
        what = g_strdup_printf(_("Rule parameters of %s"), names[i]);
        gtk_accessible_update_property(GTK_ACCESSIBLE(r.params), GTK_ACCESSIBLE_PROPERTY_LABEL, what, -1);
        g_free(what);
        gtk_grid_attach(g, GTK_WIDGET(r.label), 0, i + 1, 1, 1);
        gtk_grid_attach(g, GTK_WIDGET(r.rule), 1, i + 1, 1, 1);
        gtk_grid_attach(g, GTK_WIDGET(r.params), 2, i + 1, 1, 1);
        g_signal_connect(r.rule, "notify::selected", G_CALLBACK(rule_picked), e);
        g_signal_connect(r.params, "changed", G_CALLBACK(params_edited), e);
        g_array_append_val(e->rows, r);
    }
    gtk_box_append(GTK_BOX(e->grid_holder), e->grid);
}

/* The target list: item 0 (the predicted class, labelled `predicted`
 * when given), then `values` shown as `labels` (NULL: the values). */
static void set_targets(TsRulesEditor *e, const char *predicted, const char *const *labels, const char *const *values)
{
    char *keep = g_strdup(current_target(e));
    g_strfreev(e->targets);
    e->targets = g_strdupv((char **)values);
    e->updating++;
    guint n_old = g_list_model_get_n_items(G_LIST_MODEL(e->target_list));
    const char *first[] = { predicted ? predicted : _("predicted class"), NULL };
    gtk_string_list_splice(e->target_list, 0, 1, first);
    gtk_string_list_splice(e->target_list, 1, n_old - 1, labels ? labels : (const char *const *)e->targets);
    if (!ts_rules_editor_set_target(e, keep)) gtk_drop_down_set_selected(e->target, 0);
    e->updating--;
    g_free(keep);
}

/* ---- public ---- */

void ts_rules_editor_set_layers(TsRulesEditor *e, const char *applied, const char *const *class_names)
{
    g_return_if_fail(TS_IS_RULES_EDITOR(e));
    /* "name=rule;..." -> names[] and rules[] */
    char **items = g_strsplit(applied ? applied : "", ";", -1);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free), *texts = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; items[i]; i++) {
        char *eq = strchr(items[i], '=');
        if (!eq) continue;
        g_ptr_array_add(names, g_strstrip(g_strndup(items[i], (gsize)(eq - items[i]))));
        g_ptr_array_add(texts, g_strstrip(g_strdup(eq + 1)));
    }
    g_strfreev(items);
    g_ptr_array_add(names, NULL);

    gboolean same = names->len - 1 == e->rows->len;
    for (guint i = 0; same && i < e->rows->len; i++)
        same = !strcmp(g_array_index(e->rows, row, i).name, g_ptr_array_index(names, i));
    if (!same) build_rows(e, (char **)names->pdata);
    for (guint i = 0; i < e->rows->len; i++) {
        row *r = &g_array_index(e->rows, row, i);
        ts_lrp_rule applied_rule, shown;
        if (ts_lrp_rule_parse(g_ptr_array_index(texts, i), &applied_rule) != TS_OK) continue;
        /* a row that already says the same keeps the user's text */
        char *text = same ? row_text(r) : NULL;
        gboolean keep = text && ts_lrp_rule_parse(text, &shown) == TS_OK && rule_eq(&shown, &applied_rule);
        g_free(text);
        if (!keep) row_show_rule(e, r, &applied_rule);
    }
    g_ptr_array_unref(names);
    g_ptr_array_unref(texts);

    if (class_names) set_targets(e, NULL, NULL, class_names);
    recompute(e, FALSE);
}

gboolean ts_rules_editor_set_preset(TsRulesEditor *e, const char *preset)
{
    g_return_val_if_fail(TS_IS_RULES_EDITOR(e), FALSE);
    for (int i = 0; ts_lrp_preset_name(i); i++)
        if (preset && !strcmp(preset, ts_lrp_preset_name(i))) {
            e->updating++;
            gtk_drop_down_set_selected(e->preset, (guint)i);
            reset_to_preset(e);
            e->updating--;
            recompute(e, FALSE);
            return TRUE;
        }
    return FALSE;
}

void ts_rules_editor_set_targets(TsRulesEditor *e, const char *const *labels, const char *const *values)
{
    g_return_if_fail(TS_IS_RULES_EDITOR(e));
    if (!values || !values[0]) {
        const char *none[] = { NULL };
        set_targets(e, NULL, NULL, none);
        return;
    }
    /* item 0 of the session's lists is the predicted class */
    set_targets(e, labels ? labels[0] : NULL, labels ? labels + 1 : NULL, values + 1);
    if (e->updating == 0) recompute(e, FALSE);
}

gboolean ts_rules_editor_set_target(TsRulesEditor *e, const char *target)
{
    g_return_val_if_fail(TS_IS_RULES_EDITOR(e), FALSE);
    guint pick = G_MAXUINT;
    if (!target || !*target || !strcmp(target, "predicted")) pick = 0;
    for (guint i = 0; pick == G_MAXUINT && e->targets && e->targets[i]; i++)
        if (!strcmp(e->targets[i], target)) pick = i + 1;
    if (pick == G_MAXUINT) return FALSE;
    e->updating++;
    gtk_drop_down_set_selected(e->target, pick);
    e->updating--;
    if (e->updating == 0) recompute(e, FALSE);
    return TRUE;
}

const char *ts_rules_editor_get_rules(TsRulesEditor *e) { return e->rules; }
const char *ts_rules_editor_get_target(TsRulesEditor *e) { return e->target_str ? e->target_str : ""; }
const char *ts_rules_editor_get_error(TsRulesEditor *e) { return e->error; }
GtkDropDown *ts_rules_editor_get_preset_dropdown(TsRulesEditor *e) { return e->preset; }
GtkDropDown *ts_rules_editor_get_target_dropdown(TsRulesEditor *e) { return e->target; }

static row *find_row(TsRulesEditor *e, const char *layer)
{
    for (guint i = 0; layer && i < e->rows->len; i++)
        if (!strcmp(g_array_index(e->rows, row, i).name, layer)) return &g_array_index(e->rows, row, i);
    return NULL;
}

GtkDropDown *ts_rules_editor_get_rule_dropdown(TsRulesEditor *e, const char *layer)
{
    row *r = find_row(e, layer);
    return r ? r->rule : NULL;
}

GtkEditable *ts_rules_editor_get_param_entry(TsRulesEditor *e, const char *layer)
{
    row *r = find_row(e, layer);
    return r ? GTK_EDITABLE(r->params) : NULL;
}

/* ---- GObject ---- */

static void ts_rules_editor_dispose(GObject *o)
{
    TsRulesEditor *e = TS_RULES_EDITOR(o);
    g_clear_pointer(&e->box, gtk_widget_unparent);
    G_OBJECT_CLASS(ts_rules_editor_parent_class)->dispose(o);
}

static void ts_rules_editor_finalize(GObject *o)
{
    TsRulesEditor *e = TS_RULES_EDITOR(o);
    g_array_unref(e->rows);
    g_strfreev(e->targets);
    g_free(e->rules);
    g_free(e->error);
    g_free(e->target_str);
    g_free(e->emitted_rules);
    g_free(e->emitted_target);
    G_OBJECT_CLASS(ts_rules_editor_parent_class)->finalize(o);
}

static void ts_rules_editor_class_init(TsRulesEditorClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    oc->dispose = ts_rules_editor_dispose;
    oc->finalize = ts_rules_editor_finalize;
    gtk_widget_class_set_layout_manager_type(wc, GTK_TYPE_BIN_LAYOUT);
    gtk_widget_class_set_css_name(wc, "tsruleseditor");
    gtk_widget_class_set_accessible_role(wc, GTK_ACCESSIBLE_ROLE_GROUP);
    signals[SIG_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                        G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static GtkWidget *labelled(const char *text, GtkWidget *w)
{
    GtkWidget *b = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 8);
    GtkWidget *l = gtk_label_new_with_mnemonic(text);
    gtk_label_set_mnemonic_widget(GTK_LABEL(l), w);
    gtk_label_set_xalign(GTK_LABEL(l), 0);
    gtk_widget_set_size_request(l, 64, -1);
    gtk_box_append(GTK_BOX(b), l);
    gtk_widget_set_hexpand(w, TRUE);
    gtk_box_append(GTK_BOX(b), w);
    return b;
}

static void ts_rules_editor_init(TsRulesEditor *e)
{
    e->rows = g_array_new(FALSE, TRUE, sizeof(row));
    g_array_set_clear_func(e->rows, row_clear);
    e->box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8);
    gtk_widget_set_margin_start(e->box, 8);
    gtk_widget_set_margin_end(e->box, 8);
    gtk_widget_set_margin_top(e->box, 8);
    gtk_widget_set_margin_bottom(e->box, 8);
    gtk_widget_set_parent(e->box, GTK_WIDGET(e));

    GtkStringList *presets = gtk_string_list_new(NULL);
    for (int i = 0; ts_lrp_preset_name(i); i++) gtk_string_list_append(presets, ts_lrp_preset_name(i));
    e->preset = GTK_DROP_DOWN(gtk_drop_down_new(G_LIST_MODEL(presets), NULL));
    gtk_widget_set_tooltip_text(GTK_WIDGET(e->preset),
                                _("adience: alpha-beta 2,1 on conv, epsilon 0.01 on fc (the Adience paper); "
                                  "adience-a1b0: alpha-beta 1,0 on conv; epsilon: epsilon 0.01 everywhere; "
                                  "lrp0: epsilon 0 everywhere; composite: z-box on the first layer, "
                                  "alpha-beta 1,0 on conv, epsilon 0.01 on fc"));
    gtk_box_append(GTK_BOX(e->box), labelled(_("_Preset"), GTK_WIDGET(e->preset)));

    e->target_list = gtk_string_list_new((const char *const[]){ _("predicted class"), NULL });
    e->target = GTK_DROP_DOWN(gtk_drop_down_new(G_LIST_MODEL(e->target_list), NULL));
    gtk_widget_set_tooltip_text(GTK_WIDGET(e->target), _("The class whose evidence the heatmap shows"));
    gtk_box_append(GTK_BOX(e->box), labelled(_("_Target"), GTK_WIDGET(e->target)));

    e->grid_holder = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_box_append(GTK_BOX(e->box), e->grid_holder);

    e->error_label = GTK_LABEL(gtk_label_new(NULL));
    gtk_label_set_xalign(e->error_label, 0);
    gtk_label_set_wrap(e->error_label, TRUE);
    gtk_label_set_max_width_chars(e->error_label, 48);
    gtk_widget_add_css_class(GTK_WIDGET(e->error_label), "error");
    gtk_widget_set_visible(GTK_WIDGET(e->error_label), FALSE);
    gtk_accessible_update_property(GTK_ACCESSIBLE(e->error_label), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   _("Rule error"), -1);
    gtk_box_append(GTK_BOX(e->box), GTK_WIDGET(e->error_label));

    e->preview = GTK_LABEL(gtk_label_new(NULL));
    gtk_label_set_xalign(e->preview, 0);
    gtk_label_set_wrap(e->preview, TRUE);
    gtk_label_set_wrap_mode(e->preview, PANGO_WRAP_CHAR);
    gtk_label_set_max_width_chars(e->preview, 48);
    gtk_label_set_selectable(e->preview, TRUE);
    gtk_widget_add_css_class(GTK_WIDGET(e->preview), "monospace");
    gtk_widget_add_css_class(GTK_WIDGET(e->preview), "dim-label");
    gtk_widget_set_tooltip_text(GTK_WIDGET(e->preview), _("The rule string these choices make"));
    gtk_box_append(GTK_BOX(e->box), GTK_WIDGET(e->preview));

    g_signal_connect(e->preset, "notify::selected", G_CALLBACK(preset_picked), e);
    g_signal_connect(e->target, "notify::selected", G_CALLBACK(target_picked), e);
    build_rows(e, NULL);
    recompute(e, FALSE);
}

GtkWidget *ts_rules_editor_new(void) { return g_object_new(TS_TYPE_RULES_EDITOR, NULL); }
