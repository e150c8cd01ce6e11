/* ts-render.h - how the app's widgets are drawn: its one style sheet
 * (resources/style.css, the only place the app's CSS lives), and a widget
 * rendered off screen by its window's own renderer (GL or Cairo): the
 * app's screenshot and the widget tests' pictures and pixel checks use
 * this one path. */
#ifndef TS_RENDER_H
#define TS_RENDER_H

#include <gtk/gtk.h>

/* Adds resources/style.css to the default display once (later calls do
 * nothing; without a display, nothing).  Every widget with a style of its
 * own calls it in its init, so the widget tests see what the app shows. */
void ts_style_ensure(void);

/* The widget at its allocated size; NULL when it is not realized or draws
 * nothing.  transfer: full. */
GdkTexture *ts_widget_render(GtkWidget *w);

/* The same, written to `path` as a PNG through a temporary file and a
 * rename, so an existing file is never half-written.  The error names the
 * file. */
gboolean ts_widget_save_png(GtkWidget *w, const char *path, GError **error);

#endif
