/* fileio.c - see fileio.h.
 *
 * The FILE of an atomic file is a stdio cookie stream over the temporary's
 * descriptor: stdio keeps its buffering, and every write the system refuses
 * leaves its errno in the sink, so that a full disk reaches the user as
 * "No space left on device" even when the caller only sees a short fwrite
 * or a library's generic "write error".
 */
#include "nn/fileio.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct ts_atomic_sink {
    int fd;
    int err; /* first errno a write reported; 0 while all went well */
};

/* ---- the test hook: a disk with N free bytes ----------------------------- */

static pthread_once_t budget_once = PTHREAD_ONCE_INIT;
static bool budget_on;
static _Atomic long long budget_left;

static void budget_init(void)
{
    const char *s = getenv("TS_TEST_DISK_FREE_BYTES");
    if (!s || !*s) return;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0) return;
    budget_left = v;
    budget_on = true;
}

/* How many of n bytes the "disk" takes (all of them without the hook). */
static size_t budget_take(size_t n)
{
    pthread_once(&budget_once, budget_init);
    if (!budget_on) return n;
    long long left = atomic_load(&budget_left);
    for (;;) {
        long long take = left < (long long)n ? left : (long long)n;
        if (take <= 0) return 0;
        if (atomic_compare_exchange_weak(&budget_left, &left, left - take)) return (size_t)take;
    }
}

/* ---- the cookie stream ----------------------------------------------------- */

static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
    ts_atomic_sink *s = cookie;
    size_t done = 0;
    while (done < n) {
        size_t want = budget_take(n - done);
        ssize_t w = want ? write(s->fd, buf + done, want) : (errno = ENOSPC, -1);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            if (!s->err) s->err = errno;
            break;
        }
        done += (size_t)w;
    }
    /* A short count makes stdio set the stream's error flag. */
    if (done < n) errno = s->err;
    return (ssize_t)done;
}

static int sink_close(void *cookie)
{
    ts_atomic_sink *s = cookie;
    int rc = s->fd >= 0 ? close(s->fd) : 0;
    s->fd = -1;
    return rc;
}

ts_status ts_atomic_open(ts_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->path = strdup(path);
    af->tmp = malloc(n + 16);
    af->sink = calloc(1, sizeof *af->sink);
    if (!af->path || !af->tmp || !af->sink) {
        free(af->tmp);
        af->tmp = NULL;
        ts_atomic_abort(af);
        return ts_error(TS_ERR_OOM, "%s: out of memory", path);
    }
    af->sink->fd = -1;
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
    af->sink->fd = fd;
    cookie_io_functions_t io = { .write = sink_write, .close = sink_close };
    af->f = fopencookie(af->sink, "wb", io);
    if (!af->f) {
        ts_status st = ts_error(TS_ERR_IO, "%s: %s", path, strerror(errno));
        ts_atomic_abort(af);
        return st;
    }
    return TS_OK;
}

void ts_atomic_abort(ts_atomic_file *af)
{
    if (af->f) fclose(af->f); /* closes the descriptor too */
    else if (af->sink && af->sink->fd >= 0) close(af->sink->fd);
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    free(af->sink);
    memset(af, 0, sizeof *af);
}

const char *ts_atomic_strerror(const ts_atomic_file *af)
{
    int e = af && af->sink && af->sink->err ? af->sink->err : errno;
    return strerror(e ? e : EIO);
}

/* Flush, fsync and close one member, leaving its temporary complete on
 * disk (af->f NULL, af->tmp still set). */
static ts_status finish(ts_atomic_file *af)
{
    ts_status st = TS_OK;
    int fl = fflush(af->f);
    if (fl != 0 || ferror(af->f) || af->sink->err) {
        st = ts_error(TS_ERR_IO, "%s: write failed: %s", af->path, ts_atomic_strerror(af));
    } else if (fsync(af->sink->fd) != 0) {
        st = ts_error(TS_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    }
    int fd_err = 0;
    if (fclose(af->f) != 0) fd_err = errno;
    af->f = NULL;
    af->sink->fd = -1;
    if (st == TS_OK && fd_err)
        st = ts_error(TS_ERR_IO, "%s: close failed: %s", af->path, strerror(fd_err));
    return st;
}

ts_status ts_atomic_commit_all(ts_atomic_file *files, int n)
{
    ts_status st = TS_OK;
    for (int i = 0; i < n && st == TS_OK; i++) st = finish(&files[i]);
    /* A folder in the way would fail its rename after others were done. */
    for (int i = 0; i < n && st == TS_OK; i++) {
        struct stat sb;
        if (stat(files[i].path, &sb) == 0 && S_ISDIR(sb.st_mode))
            st = ts_error(TS_ERR_IO, "%s: is a folder", files[i].path);
    }
    for (int i = 0; i < n && st == TS_OK; i++) {
        if (rename(files[i].tmp, files[i].path) != 0) {
            st = ts_error(TS_ERR_IO, "%s: rename failed: %s", files[i].path, strerror(errno));
            break;
        }
        free(files[i].tmp);
        files[i].tmp = NULL;
    }
    for (int i = 0; i < n; i++) ts_atomic_abort(&files[i]);
    return st;
}

ts_status ts_atomic_commit(ts_atomic_file *af) { return ts_atomic_commit_all(af, 1); }

ts_status ts_write_files_atomic(const ts_file_part *parts, int n)
{
    ts_atomic_file *af = calloc((size_t)(n > 0 ? n : 1), sizeof *af);
    if (!af) return ts_error(TS_ERR_OOM, "out of memory");
    ts_status st = TS_OK;
    int opened = 0;
    for (; opened < n; opened++) {
        if ((st = ts_atomic_open(&af[opened], parts[opened].path)) != TS_OK) break;
        const ts_file_part *p = &parts[opened];
        if (p->len && fwrite(p->data, 1, p->len, af[opened].f) != p->len) {
            st = ts_error(TS_ERR_IO, "%s: write failed: %s", p->path, ts_atomic_strerror(&af[opened]));
            opened++;
            break;
        }
    }
    if (st == TS_OK) {
        st = ts_atomic_commit_all(af, n);
    } else {
        for (int i = 0; i < opened; i++) ts_atomic_abort(&af[i]);
    }
    free(af);
    return st;
}

ts_status ts_write_file_atomic(const char *path, const void *data, size_t len)
{
    ts_file_part p = { path, data, len };
    return ts_write_files_atomic(&p, 1);
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

bool ts_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- output locks ---------------------------------------------------------- */

/* What the holder wrote into the lock file, for the message ("" if none). */
static void read_holder(int fd, char *buf, size_t n)
{
    ssize_t r = pread(fd, buf, n - 1, 0);
    buf[r > 0 ? r : 0] = '\0';
    /* one line, printable: the file could have been written by anything */
    for (char *p = buf; *p; p++) {
        if (*p == '\n') {
            *p = '\0';
            break;
        }
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    }
}

ts_status ts_output_lock_take(ts_output_lock *l, const char *out, const char *what)
{
    l->fd = -1;
    l->path = NULL;
    size_t n = strlen(out) + 6;
    char *path = malloc(n);
    if (!path) return ts_error(TS_ERR_OOM, "out of memory");
    snprintf(path, n, "%s.lock", out);
    /* Open, lock, then check that the name still leads to the locked file:
     * a holder that released in between removed it, and a lock on the
     * removed file would exclude nobody. */
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            ts_status st = ts_error(TS_ERR_IO, "%s: cannot create the lock file %s: %s", out, path, strerror(errno));
            free(path);
            return st;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            char holder[160];
            read_holder(fd, holder, sizeof holder);
            close(fd);
            ts_status st;
            if (e == EWOULDBLOCK)
                st = ts_error(TS_ERR_IO,
                              "%s is being written by %s (lock %s): wait until it is done, or choose another output",
                              out, holder[0] ? holder : "another process", path);
            else st = ts_error(TS_ERR_IO, "%s: cannot lock %s: %s", out, path, strerror(e));
            free(path);
            return st;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char line[160];
            int k = snprintf(line, sizeof line, "pid %ld (%s)\n", (long)getpid(), what ? what : "traitscope");
            if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)k, 0) != k) {
                /* the lock holds without the note; the message is only less precise */
            }
            l->fd = fd;
            l->path = path;
            return TS_OK;
        }
        close(fd);
    }
    ts_status st = ts_error(TS_ERR_IO, "%s: the lock file %s keeps changing; is something removing it?", out, path);
    free(path);
    return st;
}

void ts_output_lock_release(ts_output_lock *l)
{
    if (!l || l->fd < 0) return;
    /* Remove while still holding it: a waiter that opened the old file
     * finds it gone from the name and opens afresh. */
    unlink(l->path);
    close(l->fd);
    free(l->path);
    l->fd = -1;
    l->path = NULL;
}

/* "BASE.tmp-" followed by exactly the six characters mkstemp() uses. */
static bool is_temp_of(const char *name, const char *base, size_t nb)
{
    if (strncmp(name, base, nb) != 0 || strncmp(name + nb, ".tmp-", 5) != 0) return false;
    const char *x = name + nb + 5;
    for (int i = 0; i < 6; i++)
        if (!isalnum((unsigned char)x[i])) return false;
    return x[6] == '\0';
}

ts_status ts_atomic_clean_stale(const char *path, int *removed)
{
    if (removed) *removed = 0;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
    if (!dir) return ts_error(TS_ERR_OOM, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        ts_status st = ts_error(TS_ERR_IO, "%s: cannot list its folder: %s", path, strerror(errno));
        free(dir);
        return st;
    }
    size_t nb = strlen(base), nd = strlen(dir);
    struct dirent *e;
    ts_status st = TS_OK;
    while ((e = readdir(d))) {
        if (!is_temp_of(e->d_name, base, nb)) continue;
        size_t n = nd + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            st = ts_error(TS_ERR_OOM, "out of memory");
            break;
        }
        snprintf(p, n, "%s%s%s", dir, dir[nd - 1] == '/' ? "" : "/", e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(p) == 0 && removed) (*removed)++;
        free(p);
    }
    closedir(d);
    free(dir);
    return st;
}
