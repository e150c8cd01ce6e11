/* ts-train-page.c - placeholder; being written (issue 7). */
#include "ts-train-page.h"

/* keeps the translation unit non-empty until the widget lands */
typedef int ts_train_page_placeholder;
