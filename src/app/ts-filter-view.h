/* ts-filter-view.h - placeholder; being written (issue 7). */
#ifndef TS_FILTER_VIEW_H
#define TS_FILTER_VIEW_H

#include <gtk/gtk.h>

#endif
