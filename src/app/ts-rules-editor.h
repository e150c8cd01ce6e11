/* ts-rules-editor.h - placeholder; being written (issue 7). */
#ifndef TS_RULES_EDITOR_H
#define TS_RULES_EDITOR_H

#include <gtk/gtk.h>

#endif
