/* ts-train-page.h - placeholder; being written (issue 7). */
#ifndef TS_TRAIN_PAGE_H
#define TS_TRAIN_PAGE_H

#include <gtk/gtk.h>

#endif
