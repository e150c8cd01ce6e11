/* fileio.c - see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ts_status ts_atomic_open(ts_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->path = strdup(path);
    af->tmp = malloc(n + 16);
    if (!af->path || !af->tmp) {
        ts_atomic_abort(af);
        return ts_error(TS_ERR_OOM, "%s: out of memory", path);
    }
    snprintf(af->tmp, n + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        ts_status st = ts_error(TS_ERR_IO, "%s: cannot create a temporary file beside it: %s",
                                path, strerror(errno));
        free(af->tmp);
        af->tmp = NULL;
        ts_atomic_abort(af);
        return st;
    }
    fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        ts_atomic_abort(af);
        return ts_error(TS_ERR_IO, "%s: %s", path, strerror(errno));
    }
    return TS_OK;
}

void ts_atomic_abort(ts_atomic_file *af)
{
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
}

ts_status ts_atomic_commit(ts_atomic_file *af)
{
    ts_status st = TS_OK;
    if (fflush(af->f) != 0 || ferror(af->f) || fsync(fileno(af->f)) != 0) {
        st = ts_error(TS_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    }
    if (fclose(af->f) != 0 && st == TS_OK)
        st = ts_error(TS_ERR_IO, "%s: close failed: %s", af->path, strerror(errno));
    af->f = NULL;
    if (st == TS_OK && rename(af->tmp, af->path) != 0)
        st = ts_error(TS_ERR_IO, "%s: rename failed: %s", af->path, strerror(errno));
    if (st == TS_OK) {
        free(af->tmp);
        af->tmp = NULL;
    }
    ts_atomic_abort(af);
    return st;
}

ts_status ts_write_file_atomic(const char *path, const void *data, size_t len)
{
    ts_atomic_file af;
    TS_TRY(ts_atomic_open(&af, path));
    if (len && fwrite(data, 1, len, af.f) != len) {
        ts_status st = ts_error(TS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        ts_atomic_abort(&af);
        return st;
    }
    return ts_atomic_commit(&af);
}

ts_status ts_read_file(const char *path, size_t max_len, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ts_error(TS_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return ts_error(TS_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > max_len) {
        fclose(f);
        return ts_error(TS_ERR_FORMAT, "%s: file is %lld bytes, more than the %zu accepted",
                        path, (long long)sb.st_size, max_len);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return ts_error(TS_ERR_OOM, "%s: cannot allocate %zu bytes", path, n);
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return ts_error(TS_ERR_IO, "%s: short read", path);
    }
    fclose(f);
    *data = buf;
    *len = n;
    return TS_OK;
}
