/* ts-browser.h - placeholder; being written (issue 7). */
#ifndef TS_BROWSER_H
#define TS_BROWSER_H

#include <gtk/gtk.h>

#endif
