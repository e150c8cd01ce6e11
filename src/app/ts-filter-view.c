/* ts-filter-view.c - placeholder; being written (issue 7). */
#include "ts-filter-view.h"

/* keeps the translation unit non-empty until the widget lands */
typedef int ts_filter_view_placeholder;
