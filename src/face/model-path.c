/* model-path.c - see model-path.h. */
#include "face/model-path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts-config.h"

ts_status ts_model_path_find(const char *file, const char *install_hint, char *out, size_t len)
{
    const char *env = getenv("TRAITSCOPE_MODELS");
    const char *dirs[] = {
        env && *env ? env : NULL,
        TS_SOURCE_ROOT "/node_modules/@vladmandic/face-api/model",
        TS_DATADIR "/models",
        "/usr/share/dlib",
    };
    char searched[1024] = "";
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i]) continue;
        snprintf(out, len, "%s/%s", dirs[i], file);
        if (access(out, R_OK) == 0) return TS_OK;
        size_t used = strlen(searched);
        snprintf(searched + used, sizeof searched - used, "%s%s", used ? ", " : "", dirs[i]);
    }
    out[0] = '\0';
    return ts_error(TS_ERR_IO, "model file %s not found (searched %s); install it with: %s",
                    file, searched, install_hint);
}
