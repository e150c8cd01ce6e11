/* ts-panel.c - see ts-panel.h. */
#include "app/ts-panel.h"

#include <glib/gi18n.h>

struct _TsPanelWidget {
    GtkWidget parent;
    TsSession *session;      /* strong */
    ts_panel kind;
    const ts_draw_opts *opts;
};

G_DEFINE_FINAL_TYPE(TsPanelWidget, ts_panel_widget, GTK_TYPE_WIDGET)

enum { SIG_HOVER, SIG_PRESSED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void snapshot(GtkWidget *w, GtkSnapshot *snap)
{
    TsPanelWidget *p = TS_PANEL_WIDGET(w);
    int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
    cairo_t *cr = gtk_snapshot_append_cairo(snap, &GRAPHENE_RECT_INIT(0, 0, width, height));
    cairo_set_source_rgb(cr, 0.165, 0.17, 0.18);
    cairo_paint(cr);
    const ts_inspect *r = ts_session_get_result(p->session);
    if (r) {
        ts_draw_opts o = *p->opts;
        for (int i = 0; i < TS_INSPECT_MODELS; i++) {
            o.class_names[i] = ts_session_get_class_names(p->session, i);
            if (ts_session_get_model_name(p->session, i)) o.model_name[i] = ts_session_get_model_name(p->session, i);
        }
        ts_figure_draw_panel(cr, r, p->kind, width, height, &o);
    } else {
        cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
        cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, 13);
        cairo_move_to(cr, 12, 24);
        cairo_show_text(cr, gettext(ts_panel_title(p->kind)));
    }
    cairo_destroy(cr);
}

static void motion(GtkEventControllerMotion *c, double x, double y, gpointer user)
{
    TsPanelWidget *p = user;
    const ts_inspect *r = ts_session_get_result(p->session);
    double cx, cy;
    if (r && ts_figure_panel_to_crop(r, p->kind, gtk_widget_get_width(GTK_WIDGET(p)),
                                     gtk_widget_get_height(GTK_WIDGET(p)), x, y, &cx, &cy))
        g_signal_emit(p, signals[SIG_HOVER], 0, cx, cy);
    else g_signal_emit(p, signals[SIG_HOVER], 0, -1.0, -1.0);
}

static void leave(GtkEventControllerMotion *c, gpointer user)
{
    g_signal_emit(user, signals[SIG_HOVER], 0, -1.0, -1.0);
}

static void pressed(GtkGestureClick *g, int n_press, double x, double y, gpointer user)
{
    g_signal_emit(user, signals[SIG_PRESSED], 0, n_press, x, y);
}

static void result_changed(TsSession *s, gpointer user) { gtk_widget_queue_draw(GTK_WIDGET(user)); }

static void measure(GtkWidget *w, GtkOrientation o, int for_size, int *min, int *nat, int *min_base, int *nat_base)
{
    *min = 180;
    *nat = 300;
    *min_base = *nat_base = -1;
}

static void dispose(GObject *obj)
{
    TsPanelWidget *p = TS_PANEL_WIDGET(obj);
    if (p->session) g_signal_handlers_disconnect_by_data(p->session, p);
    g_clear_object(&p->session);
    G_OBJECT_CLASS(ts_panel_widget_parent_class)->dispose(obj);
}

static void ts_panel_widget_class_init(TsPanelWidgetClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = dispose;
    wc->snapshot = snapshot;
    wc->measure = measure;
    gtk_widget_class_set_css_name(wc, "tspanel");
    gtk_widget_class_set_accessible_role(wc, GTK_ACCESSIBLE_ROLE_IMG);
    signals[SIG_HOVER] = g_signal_new("hover", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                      G_TYPE_NONE, 2, G_TYPE_DOUBLE, G_TYPE_DOUBLE);
    signals[SIG_PRESSED] = g_signal_new("pressed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                        NULL, G_TYPE_NONE, 3, G_TYPE_INT, G_TYPE_DOUBLE, G_TYPE_DOUBLE);
}

static void ts_panel_widget_init(TsPanelWidget *p)
{
    GtkEventController *m = gtk_event_controller_motion_new();
    g_signal_connect(m, "motion", G_CALLBACK(motion), p);
    g_signal_connect(m, "leave", G_CALLBACK(leave), p);
    gtk_widget_add_controller(GTK_WIDGET(p), m);
    GtkGesture *click = gtk_gesture_click_new();
    g_signal_connect(click, "pressed", G_CALLBACK(pressed), p);
    gtk_widget_add_controller(GTK_WIDGET(p), GTK_EVENT_CONTROLLER(click));
    gtk_widget_add_css_class(GTK_WIDGET(p), "ts-panel");
    gtk_widget_set_hexpand(GTK_WIDGET(p), TRUE);
    gtk_widget_set_vexpand(GTK_WIDGET(p), TRUE);
}

GtkWidget *ts_panel_widget_new(TsSession *session, ts_panel kind, const ts_draw_opts *opts)
{
    TsPanelWidget *p = g_object_new(TS_TYPE_PANEL, NULL);
    p->session = g_object_ref(session);
    p->kind = kind;
    p->opts = opts;
    g_signal_connect(session, "result-changed", G_CALLBACK(result_changed), p);
    gtk_accessible_update_property(GTK_ACCESSIBLE(p), GTK_ACCESSIBLE_PROPERTY_LABEL, gettext(ts_panel_title(kind)), -1);
    return GTK_WIDGET(p);
}

ts_panel ts_panel_widget_get_kind(TsPanelWidget *p) { return p->kind; }
