/* ts-export-dialog.c - placeholder; being written (issue 7). */
#include "ts-export-dialog.h"

typedef int ts_export_dialog_placeholder;
