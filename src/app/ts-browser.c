/* ts-browser.c - placeholder; being written (issue 7). */
#include "ts-browser.h"

/* keeps the translation unit non-empty until the widget lands */
typedef int ts_browser_placeholder;
