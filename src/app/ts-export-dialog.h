/* ts-export-dialog.h - placeholder; being written (issue 7). */
#ifndef TS_EXPORT_DIALOG_H
#define TS_EXPORT_DIALOG_H

#include <gtk/gtk.h>

#endif
