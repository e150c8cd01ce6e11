/* ts-gl-view.h - placeholder; being written (issue 7). */
#ifndef TS_GL_VIEW_H
#define TS_GL_VIEW_H

#include <gtk/gtk.h>

#endif
