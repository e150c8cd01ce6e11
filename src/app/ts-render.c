/* ts-render.c - see ts-render.h. */
#include "app/ts-render.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

void ts_style_ensure(void)
{
    static GdkDisplay *done;
    GdkDisplay *d = gdk_display_get_default();
    if (!d || d == done) return;
    done = d;
    GtkCssProvider *css = gtk_css_provider_new();
    gtk_css_provider_load_from_resource(css, "/org/traitscope/Traitscope/style.css");
    gtk_style_context_add_provider_for_display(d, GTK_STYLE_PROVIDER(css), GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
    g_object_unref(css);
}

GdkTexture *ts_widget_render(GtkWidget *w)
{
    int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
    GtkNative *native = gtk_widget_get_native(w);
    if (width <= 0 || height <= 0 || !native || !gtk_native_get_renderer(native)) return NULL;
    GdkPaintable *paintable = gtk_widget_paintable_new(w);
    GtkSnapshot *snap = gtk_snapshot_new();
    gdk_paintable_snapshot(paintable, GDK_SNAPSHOT(snap), width, height);
    GskRenderNode *node = gtk_snapshot_free_to_node(snap);
    GdkTexture *tex = NULL;
    if (node) {
        tex = gsk_renderer_render_texture(gtk_native_get_renderer(native), node,
                                          &GRAPHENE_RECT_INIT(0, 0, width, height));
        gsk_render_node_unref(node);
    }
    g_object_unref(paintable);
    return tex;
}

gboolean ts_widget_save_png(GtkWidget *w, const char *path, GError **error)
{
    GdkTexture *tex = ts_widget_render(w);
    char *tmp = g_strdup_printf("%s.tmp", path);
    gboolean ok = tex && gdk_texture_save_to_png(tex, tmp) && g_rename(tmp, path) == 0;
    if (!ok) {
        g_unlink(tmp);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: could not write the screenshot"), path);
    }
    g_free(tmp);
    g_clear_object(&tex);
    return ok;
}
