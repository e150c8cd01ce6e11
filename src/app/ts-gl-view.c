/* ts-gl-view.c - placeholder; being written (issue 7). */
#include "ts-gl-view.h"

/* keeps the translation unit non-empty until the widget lands */
typedef int ts_gl_view_placeholder;
