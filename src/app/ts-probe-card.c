/* ts-probe-card.c - see ts-probe-card.h.  Layout in ui/ts-probe-card.ui. */
#include "app/ts-probe-card.h"

#include <glib/gi18n.h>

struct _TsProbeCard {
    GtkWidget parent;
    GtkDrawingArea *area;
    GtkLabel *caption, *truth;
    cairo_surface_t *face, *heat; /* refs of the shown probe's pictures */
};

G_DEFINE_FINAL_TYPE(TsProbeCard, ts_probe_card, GTK_TYPE_WIDGET)

static void set_surface(cairo_surface_t **field, cairo_surface_t *s)
{
    if (s) cairo_surface_reference(s);
    if (*field) cairo_surface_destroy(*field);
    *field = s;
}

void ts_probe_card_show(TsProbeCard *c, int index, const TsTrainProbe *v, const char *pending)
{
    set_surface(&c->face, v ? v->face : NULL);
    set_surface(&c->heat, v ? v->heat : NULL);
    char *truth = v && v->truth ? g_strdup_printf(_("Label: %s"), v->truth) : g_strdup("");
    const char *caption = v && v->caption ? v->caption : pending ? pending : "";
    gtk_label_set_text(c->truth, truth);
    gtk_label_set_text(c->caption, caption);
    char *acc = g_strdup_printf(_("Probe face %d: %s %s"), index + 1, truth, caption);
    gtk_accessible_update_property(GTK_ACCESSIBLE(c->area), GTK_ACCESSIBLE_PROPERTY_LABEL, acc, -1);
    g_free(acc);
    g_free(truth);
    gtk_widget_queue_draw(GTK_WIDGET(c->area));
}

/* The face and its heatmap side by side; heatmaps pixel for pixel
 * (figure.h's rule). */
static void draw(GtkDrawingArea *area, cairo_t *cr, int W, int H, gpointer data)
{
    (void)area;
    TsProbeCard *c = data;
    double gap = 6, side = MIN((W - gap) / 2.0, (double)H);
    double x0 = (W - 2 * side - gap) / 2, y0 = (H - side) / 2;
    cairo_surface_t *pics[2] = { c->face, c->heat };
    for (int i = 0; i < 2; i++) {
        double x = x0 + i * (side + gap);
        cairo_save(cr);
        cairo_rectangle(cr, x, y0, side, side);
        cairo_clip(cr);
        if (pics[i]) {
            double sw = cairo_image_surface_get_width(pics[i]), sh = cairo_image_surface_get_height(pics[i]);
            cairo_translate(cr, x, y0);
            cairo_scale(cr, side / sw, side / sh);
            cairo_set_source_surface(cr, pics[i], 0, 0);
            cairo_pattern_set_filter(cairo_get_source(cr), i ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
            cairo_paint(cr);
        } else {
            cairo_set_source_rgba(cr, 0.5, 0.5, 0.5, 0.15);
            cairo_paint(cr);
        }
        cairo_restore(cr);
    }
}

GtkWidget *ts_probe_card_new(void) { return g_object_new(TS_TYPE_PROBE_CARD, NULL); }

static void dispose(GObject *o)
{
    TsProbeCard *c = TS_PROBE_CARD(o);
    set_surface(&c->face, NULL);
    set_surface(&c->heat, NULL);
    gtk_widget_dispose_template(GTK_WIDGET(c), TS_TYPE_PROBE_CARD);
    G_OBJECT_CLASS(ts_probe_card_parent_class)->dispose(o);
}

static void ts_probe_card_class_init(TsProbeCardClass *k)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(k);
    G_OBJECT_CLASS(k)->dispose = dispose;
    gtk_widget_class_set_template_from_resource(wc, "/org/traitscope/Traitscope/ts-probe-card.ui");
    gtk_widget_class_bind_template_child(wc, TsProbeCard, area);
    gtk_widget_class_bind_template_child(wc, TsProbeCard, caption);
    gtk_widget_class_bind_template_child(wc, TsProbeCard, truth);
    gtk_widget_class_set_layout_manager_type(wc, GTK_TYPE_BOX_LAYOUT);
    gtk_widget_class_set_css_name(wc, "tsprobecard");
}

static void ts_probe_card_init(TsProbeCard *c)
{
    gtk_widget_init_template(GTK_WIDGET(c));
    GtkLayoutManager *lm = gtk_widget_get_layout_manager(GTK_WIDGET(c));
    gtk_orientable_set_orientation(GTK_ORIENTABLE(lm), GTK_ORIENTATION_VERTICAL);
    gtk_box_layout_set_spacing(GTK_BOX_LAYOUT(lm), 2);
    gtk_drawing_area_set_draw_func(c->area, draw, c, NULL);
}
