/* ts-rules-editor.c - placeholder; being written (issue 7). */
#include "ts-rules-editor.h"

/* keeps the translation unit non-empty until the widget lands */
typedef int ts_rules_editor_placeholder;
