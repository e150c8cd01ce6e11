/* test-rules-editor.c - TsRulesEditor under Xvfb, against the real engine:
 * the bundled LACNN (and baseline) inspected on face-api's sample1.jpg.
 *
 *  - set_layers from the rules as applied lists every linear layer, fills
 *    the target list with the model's targets, emits nothing, and gives
 *    back "preset=adience" (the rows equal the default preset);
 *  - conv2 set to epsilon through its drop-down and to 0.25 through its
 *    entry: "changed" carries a rule string that ts_lrp_rules_parse accepts
 *    on the model's graph with epsilon 0.25 on conv2 and the preset's rule
 *    elsewhere; run through the inspector, the rules as applied contain
 *    "conv2=epsilon:0.25"; feeding those back through set_layers changes
 *    nothing and emits nothing;
 *  - invalid parameters (-1, letters, alpha - beta != 1, z-box on conv2)
 *    show an inline error, make get_rules NULL and emit nothing; a valid
 *    value afterwards emits again;
 *  - picking the target "male" emits it and the inspector explains class 1;
 *    picking the preset "epsilon" resets every row;
 * With TS_SCREENSHOT_DIR set, writes rules-editor.png (with an error shown)
 * and rules-editor-ok.png.  Skips (77) without a display, the models, the
 * sample or the landmark model.
 */
#include <gtk/gtk.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/ts-rules-editor.h"
#include "app/ts-render.h"
#include "explain/inspect.h"

static int failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);            \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

static int n_changed;
static char *last_rules, *last_target;

static void on_changed(TsRulesEditor *e, const char *rules, const char *target, gpointer user)
{
    n_changed++;
    g_free(last_rules);
    g_free(last_target);
    last_rules = g_strdup(rules);
    last_target = g_strdup(target);
}

static void pump(int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    while (g_get_monotonic_time() < end) {
        while (g_main_context_iteration(NULL, FALSE)) {}
        g_usleep(2000);
    }
}

static void save_png(GtkWidget *w, const char *name)
{
    const char *dir = g_getenv("TS_SCREENSHOT_DIR");
    if (!dir) return;
    char *path = g_build_filename(dir, name, NULL);
    if (ts_widget_save_png(w, path, NULL)) printf("wrote %s\n", path);
    g_free(path);
}

/* Runs the LACNN alone with rules/target; returns the rules as applied
 * (g_free) or NULL, with stats' class in *a. */
static char *inspect_with(ts_inspector *in, const ts_image *photo, ts_model *m, const char *rules, const char *target,
                          int *a)
{
    ts_model *models[TS_INSPECT_MODELS] = { NULL, m };
    ts_inspect_opts o = { .face = -1, .rules = rules, .target = target };
    ts_inspect r;
    if (ts_inspector_run(in, photo, models, &o, &r) != TS_OK) return NULL;
    char *applied = r.model[1].error[0] ? NULL : g_strdup(r.model[1].rules);
    CHECK(!r.model[1].error[0], "inspect with '%s': %s", rules, r.model[1].error);
    if (a) *a = r.model[1].stats.a;
    ts_inspect_clear(&r);
    return applied;
}

static void expect_error(TsRulesEditor *e, GtkEditable *entry, const char *text, const char *word)
{
    int before = n_changed;
    gtk_editable_set_text(entry, text);
    const char *err = ts_rules_editor_get_error(e);
    CHECK(err && (!word || strstr(err, word)), "'%s': error '%s' should mention '%s'", text, err ? err : "(none)",
          word ? word : "");
    CHECK(ts_rules_editor_get_rules(e) == NULL, "'%s': rules while invalid", text);
    CHECK(n_changed == before, "'%s': emitted while invalid", text);
    CHECK(gtk_widget_has_css_class(GTK_WIDGET(entry), "error"), "'%s': entry not marked", text);
}

int main(void)
{
    if (!gtk_init_check()) {
        printf("SKIP: no display\n");
        return 77;
    }
    const char *root = g_getenv("TS_SOURCE_ROOT");
    if (!root) root = ".";
    char *lp = g_build_filename(root, "resources", "models", "lacnn.safetensors", NULL);
    char *ip = g_build_filename(root, "node_modules", "@vladmandic", "face-api", "demo", "sample1.jpg", NULL);
    ts_model *model = NULL;
    ts_image photo = { 0 };
    if (ts_model_load(lp, &model) != TS_OK || ts_image_load(ip, &photo) != TS_OK) {
        printf("SKIP: %s\n", ts_last_error());
        return 77;
    }
    ts_inspector *in = ts_inspector_new();
    char *applied = inspect_with(in, &photo, model, NULL, NULL, NULL);
    if (!applied) {
        printf("SKIP: inspector: %s\n", ts_last_error());
        return 77;
    }
    printf("applied: %s\n", applied);
    /* The LRP targets the app offers for the model (ts-session.c): a class
     * name of a softmax net; TRAIT=CLASS of a multi-label one (the bundled
     * nets predict seven traits). */
    ts_model_head heads[TS_MODEL_MAX_HEADS];
    int n_heads = ts_model_heads(model, heads, TS_MODEL_MAX_HEADS);
    GPtrArray *tv = g_ptr_array_new();
    for (int k = 0; k < n_heads; k++)
        for (int c = 0; c < heads[k].n_classes; c++)
            g_ptr_array_add(tv, heads[k].sigmoid ? g_strdup_printf("%s=%s", heads[k].trait, heads[k].classes[c])
                                                 : g_strdup(model->meta.classes[c]));
    int n_targets = (int)tv->len;
    g_ptr_array_add(tv, NULL);
    char **classes = (char **)g_ptr_array_free(tv, FALSE);
    const gboolean multi = n_heads > 0 && heads[0].sigmoid;
    const char *male_value = multi ? "gender=male" : "male", *female_value = multi ? "gender=female" : "female";

    GtkWidget *win = gtk_window_new();
    GtkWidget *w = ts_rules_editor_new();
    TsRulesEditor *e = TS_RULES_EDITOR(w);
    gtk_window_set_child(GTK_WINDOW(win), w);
    g_signal_connect(e, "changed", G_CALLBACK(on_changed), NULL);
    gtk_window_present(GTK_WINDOW(win));

    ts_rules_editor_set_layers(e, applied, (const char *const *)classes);
    CHECK(n_changed == 0, "set_layers emitted");
    CHECK(!g_strcmp0(ts_rules_editor_get_rules(e), "preset=adience"), "rules after set_layers: %s",
          ts_rules_editor_get_rules(e));
    CHECK(!strcmp(ts_rules_editor_get_target(e), ""), "target predicted");
    const char *layers[] = { "conv1", "conv2", "conv3", "fc6", "fc7" };
    for (int i = 0; i < 5; i++)
        CHECK(ts_rules_editor_get_rule_dropdown(e, layers[i]) && ts_rules_editor_get_param_entry(e, layers[i]),
              "row %s missing", layers[i]);
    GListModel *targets = gtk_drop_down_get_model(ts_rules_editor_get_target_dropdown(e));
    CHECK(g_list_model_get_n_items(targets) == (guint)n_targets + 1, "target items");

    /* conv2 -> epsilon (drop-down item 0), then 0.25 in its entry */
    GtkDropDown *dd = ts_rules_editor_get_rule_dropdown(e, "conv2");
    GtkEditable *entry = ts_rules_editor_get_param_entry(e, "conv2");
    gtk_drop_down_set_selected(dd, 0);
    CHECK(n_changed == 1 && last_rules && strstr(last_rules, "conv2=epsilon:0.01"), "pick epsilon: %d '%s'", n_changed,
          last_rules);
    gtk_editable_set_text(entry, "0.25");
    CHECK(n_changed == 2 && !g_strcmp0(last_rules, "preset=adience;conv2=epsilon:0.25") && !g_strcmp0(last_target, ""),
          "edit 0.25: %d '%s'", n_changed, last_rules);
    const char *rules = ts_rules_editor_get_rules(e);
    CHECK(!g_strcmp0(rules, last_rules), "get_rules %s", rules);

    ts_lrp_rules parsed;
    CHECK(ts_lrp_rules_parse(model->graph, rules, &parsed) == TS_OK, "parse on the graph: %s", ts_last_error());
    int c2 = ts_graph_index(model->graph, "conv2"), c3 = ts_graph_index(model->graph, "conv3");
    CHECK(parsed.rule[c2].kind == TS_LRP_EPSILON && parsed.rule[c2].eps == 0.25f, "conv2 rule");
    CHECK(parsed.rule[c3].kind == TS_LRP_ALPHABETA && parsed.rule[c3].alpha == 2, "conv3 keeps the preset");
    ts_lrp_rules_clear(&parsed);

    char *applied2 = inspect_with(in, &photo, model, rules, last_target, NULL);
    CHECK(applied2 && strstr(applied2, "conv2=epsilon:0.25") && strstr(applied2, "conv3=alphabeta:2,1"),
          "applied: %s", applied2);
    int before = n_changed;
    ts_rules_editor_set_layers(e, applied2, (const char *const *)classes);
    CHECK(n_changed == before && !g_strcmp0(ts_rules_editor_get_rules(e), "preset=adience;conv2=epsilon:0.25"),
          "echo of the applied rules: %d '%s'", n_changed, ts_rules_editor_get_rules(e));
    CHECK(!strcmp(gtk_editable_get_text(entry), "0.25"), "entry text kept: %s", gtk_editable_get_text(entry));

    /* invalid parameters: inline error, nothing emitted */
    expect_error(e, entry, "-1", ">= 0");
    pump(200);
    save_png(win, "rules-editor.png");
    expect_error(e, entry, "abc", "conv2");
    gtk_drop_down_set_selected(dd, 2); /* alpha-beta, "2,1" */
    CHECK(ts_rules_editor_get_error(e) == NULL && strstr(last_rules, "preset=adience") && !strstr(last_rules, "conv2"),
          "alpha-beta 2,1 is the preset's: '%s' (%s)", last_rules, ts_rules_editor_get_error(e));
    expect_error(e, entry, "3,1", "alpha - beta");
    gtk_drop_down_set_selected(dd, 5); /* z-box */
    CHECK(ts_rules_editor_get_error(e) && strstr(ts_rules_editor_get_error(e), "z-box"), "zbox on conv2: %s",
          ts_rules_editor_get_error(e));
    before = n_changed;
    gtk_drop_down_set_selected(dd, 0);
    gtk_editable_set_text(entry, "0.5");
    CHECK(n_changed > before && !g_strcmp0(last_rules, "preset=adience;conv2=epsilon:0.5"), "valid again: '%s'",
          last_rules);
    gtk_drop_down_set_selected(ts_rules_editor_get_rule_dropdown(e, "conv1"), 5);
    CHECK(!ts_rules_editor_get_error(e) && strstr(last_rules, "conv1=zbox"), "zbox on conv1: '%s' %s", last_rules,
          ts_rules_editor_get_error(e));

    /* target: "male" (item 2) */
    int male = -1;
    for (int i = 0; i < n_targets; i++)
        if (!strcmp(classes[i], male_value)) male = i;
    CHECK(male >= 0, "no target '%s'", male_value);
    /* the output LRP starts from: the class of a softmax net, the gender
     * head's logit (signed) of a multi-label one */
    int male_output = male;
    for (int k = 0; multi && k < n_heads; k++)
        if (!strcmp(heads[k].trait, "gender")) male_output = heads[k].output;
    before = n_changed;
    gtk_drop_down_set_selected(ts_rules_editor_get_target_dropdown(e), (guint)male + 1);
    CHECK(n_changed == before + 1 && !g_strcmp0(last_target, male_value), "target: '%s'", last_target);
    int a = -1;
    char *applied3 = inspect_with(in, &photo, model, last_rules, last_target, &a);
    CHECK(applied3 && a == male_output && strstr(applied3, "conv1=zbox"), "explained class %d, applied %s", a, applied3);

    /* preset: epsilon (item 2) resets every row */
    gtk_drop_down_set_selected(ts_rules_editor_get_preset_dropdown(e), 2);
    CHECK(!g_strcmp0(last_rules, "preset=epsilon") && !g_strcmp0(last_target, male_value), "preset epsilon: '%s'",
          last_rules);
    CHECK(!strcmp(gtk_editable_get_text(entry), "0.01") &&
              gtk_drop_down_get_selected(ts_rules_editor_get_rule_dropdown(e, "conv1")) == 0,
          "rows reset");
    CHECK(ts_rules_editor_set_preset(e, "adience") && !ts_rules_editor_set_preset(e, "nope"), "set_preset");
    CHECK(ts_rules_editor_set_target(e, female_value) && !ts_rules_editor_set_target(e, "robot"), "set_target");
    gtk_editable_set_text(ts_rules_editor_get_param_entry(e, "fc6"), "0.1");
    pump(200);
    save_png(win, "rules-editor-ok.png");

    gtk_window_destroy(GTK_WINDOW(win));
    pump(100);
    g_free(applied);
    g_free(applied2);
    g_free(applied3);
    g_strfreev(classes);
    g_free(last_rules);
    g_free(last_target);
    ts_inspector_free(in);
    ts_image_clear(&photo);
    ts_model_free(model);
    g_free(lp);
    g_free(ip);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("rules-editor: all checks passed\n");
    return failures ? 1 : 0;
}
