/* dist.c - the process group and its collectives; see dist.h.
 *
 * MPI is reached through dlopen, so its handles are not taken from a header:
 *   Open MPI   MPI_Comm, MPI_Datatype and MPI_Op are pointers to the
 *              library's predefined objects (ompi_mpi_comm_world,
 *              ompi_mpi_double, ompi_mpi_op_sum, ...; dlsym gives their
 *              addresses); MPI_IN_PLACE is (void *)1;
 *   MPICH ABI  they are ints with fixed values (MPI_COMM_WORLD 0x44000000,
 *              MPI_DOUBLE 0x4c00080b, MPI_FLOAT 0x4c00040a, MPI_BYTE
 *              0x4c00010d, MPI_SUM 0x58000003, MPI_MAX 0x58000001);
 *              MPI_IN_PLACE is (void *)-1.
 * The two are told apart by the symbol ompi_mpi_comm_world.  The library is
 * opened RTLD_GLOBAL: Open MPI loads its own components with dlopen and
 * they look for libmpi's symbols in the global scope.
 *
 * NCCL is declared here too (its ABI has been stable through 2.x: a
 * 128-byte unique id, an opaque communicator, int enums), so that no
 * header is needed to build; it is loaded only when a graph's gradients
 * are on a GPU.
 *
 * Counts: MPI takes int counts, so long arrays go in pieces of at most
 * 2^30 elements.
 */
#include "train/dist.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"

#define CHUNK ((size_t)1 << 30)

/* ---- MPI through dlopen -------------------------------------------------- */

typedef enum { ABI_NONE = 0, ABI_OMPI, ABI_MPICH } mpi_abi;
typedef enum { T_DOUBLE = 0, T_FLOAT, T_BYTE, T_COUNT } mpi_type;

/* Open MPI: handles are pointers. */
typedef int (*o_rank_fn)(void *comm, int *out);
typedef int (*o_allreduce_fn)(const void *s, void *r, int n, void *type, void *op, void *comm);
typedef int (*o_bcast_fn)(void *buf, int n, void *type, int root, void *comm);
typedef int (*o_abort_fn)(void *comm, int code);
/* MPICH ABI: handles are ints. */
typedef int (*m_rank_fn)(int comm, int *out);
typedef int (*m_allreduce_fn)(const void *s, void *r, int n, int type, int op, int comm);
typedef int (*m_bcast_fn)(void *buf, int n, int type, int root, int comm);
typedef int (*m_abort_fn)(int comm, int code);

static struct {
    bool inited, active, finalized;
    int rank, size, local_size, local_rank;
    char library[128];
    bool peer_failed, vote_failed;
    void *lib;
    mpi_abi abi;
    int (*initialized)(int *);
    int (*finalized_fn)(int *);
    int (*init_thread)(int *, char ***, int, int *);
    int (*finalize)(void);
    int (*error_string)(int, char *, int *);
    int (*library_version)(char *, int *);
    void *comm_rank, *comm_size, *allreduce, *bcast, *abort_fn;
    void *o_world, *o_type[T_COUNT], *o_sum, *o_max;
} D = { .rank = 0, .size = 1, .local_size = 1, .library = "none" };

static const int m_type[T_COUNT] = { 0x4c00080b, 0x4c00040a, 0x4c00010d };
#define M_WORLD 0x44000000
#define M_SUM 0x58000003
#define M_MAX 0x58000001

static void *in_place(void) { return D.abi == ABI_OMPI ? (void *)1 : (void *)-1; }

static ts_status mpi_fail(int rc, const char *what)
{
    char msg[1024] = "";
    int len = 0;
    if (D.error_string && D.error_string(rc, msg, &len) == 0 && len > 0 && len < (int)sizeof msg) msg[len] = '\0';
    return ts_error(TS_ERR_DEVICE, "MPI: %s failed (%d%s%s)", what, rc, msg[0] ? ": " : "", msg);
}

static int mpi_allreduce(const void *s, void *r, int n, mpi_type t, ts_dist_op op)
{
    if (D.abi == ABI_OMPI)
        return ((o_allreduce_fn)D.allreduce)(s, r, n, D.o_type[t], op == TS_DIST_MAX ? D.o_max : D.o_sum, D.o_world);
    return ((m_allreduce_fn)D.allreduce)(s, r, n, m_type[t], op == TS_DIST_MAX ? M_MAX : M_SUM, M_WORLD);
}

static int mpi_bcast(void *buf, int n, mpi_type t, int root)
{
    if (D.abi == ABI_OMPI) return ((o_bcast_fn)D.bcast)(buf, n, D.o_type[t], root, D.o_world);
    return ((m_bcast_fn)D.bcast)(buf, n, m_type[t], root, M_WORLD);
}

static int mpi_rank_size(void *fn, int *out)
{
    if (D.abi == ABI_OMPI) return ((o_rank_fn)fn)(D.o_world, out);
    return ((m_rank_fn)fn)(M_WORLD, out);
}

/* An integer from the environment; -1 when unset or not a number. */
static int env_int(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) return -1;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < 0 || x > 1 << 24 ? -1 : (int)x;
}

/* The launcher's idea of this process: task count and rank, or 1 and 0. */
static int launched_size(int *rank, const char **who)
{
    static const struct { const char *size, *rank, *name; } L[] = {
        { "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "mpirun (Open MPI)" },
        { "PMI_SIZE", "PMI_RANK", "mpiexec (PMI)" },
        { "PMIX_SIZE", "PMIX_RANK", "PMIx" },
        { "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "srun" },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        int n = env_int(L[i].size), r = env_int(L[i].rank);
        if (n >= 1 && r >= 0 && r < n) {
            *rank = r;
            *who = L[i].name;
            return n;
        }
    }
    *rank = 0;
    *who = "none";
    return 1;
}

static ts_status load_mpi(void)
{
    const char *want = getenv("TS_MPI_LIB");
    const char *names[] = { want && *want ? want : NULL, "libmpi.so.40", "libmpi.so.12", "libmpi.so" };
    char tried[512] = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !D.lib; i++) {
        if (!names[i]) continue;
        D.lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
        if (!D.lib) {
            const char *e = dlerror();
            size_t used = strlen(tried);
            snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "", e ? e : names[i]);
        }
        if (want && *want && i == 0 && !D.lib)
            return ts_error(TS_ERR_UNSUPPORTED, "TS_MPI_LIB=%s cannot be loaded: %s", want, tried);
    }
    if (!D.lib) return ts_error(TS_ERR_UNSUPPORTED, "no MPI library could be loaded (%s)", tried);
#define SYM(dst, name)                                                                                      \
    do {                                                                                                    \
        *(void **)(&(dst)) = dlsym(D.lib, name);                                                            \
        if (!(dst)) return ts_error(TS_ERR_UNSUPPORTED, "the MPI library has no %s", name);                 \
    } while (0)
    SYM(D.initialized, "MPI_Initialized");
    SYM(D.finalized_fn, "MPI_Finalized");
    SYM(D.init_thread, "MPI_Init_thread");
    SYM(D.finalize, "MPI_Finalize");
    SYM(D.error_string, "MPI_Error_string");
    SYM(D.comm_rank, "MPI_Comm_rank");
    SYM(D.comm_size, "MPI_Comm_size");
    SYM(D.allreduce, "MPI_Allreduce");
    SYM(D.bcast, "MPI_Bcast");
    SYM(D.abort_fn, "MPI_Abort");
    *(void **)&D.library_version = dlsym(D.lib, "MPI_Get_library_version"); /* MPI-3; optional */
    D.o_world = dlsym(D.lib, "ompi_mpi_comm_world");
    if (D.o_world) {
        D.abi = ABI_OMPI;
        SYM(D.o_type[T_DOUBLE], "ompi_mpi_double");
        SYM(D.o_type[T_FLOAT], "ompi_mpi_float");
        SYM(D.o_type[T_BYTE], "ompi_mpi_byte");
        SYM(D.o_sum, "ompi_mpi_op_sum");
        SYM(D.o_max, "ompi_mpi_op_max");
    } else {
        D.abi = ABI_MPICH;
    }
#undef SYM
    return TS_OK;
}

/* FNV-1a of the host name, cut to 52 bits so that a double holds it. */
static double host_key(void)
{
    char name[256] = "";
    gethostname(name, sizeof name - 1);
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return (double)(h >> 12);
}

/* Node-local rank and size from the host names of all ranks. */
static ts_status find_local(void)
{
    double *k = calloc((size_t)D.size, sizeof *k);
    if (!k) return ts_error(TS_ERR_OOM, "MPI: out of memory");
    k[D.rank] = host_key();
    ts_status st = ts_dist_allreduce_f64(k, D.size, TS_DIST_SUM);
    if (st == TS_OK) {
        D.local_size = D.local_rank = 0;
        for (int r = 0; r < D.size; r++)
            if (k[r] == k[D.rank]) {
                if (r < D.rank) D.local_rank++;
                D.local_size++;
            }
    }
    free(k);
    return st;
}

/* One GPU per rank on a node (dist.h).  The devices this process sees are
 * counted with the driver API (libcuda.so.1, as backend/select.c does: the
 * CUDA backend is a module of its own and may not be loaded yet). */
static void choose_gpu(void)
{
    if (getenv("TS_CUDA_DEVICE")) return;
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return; /* no driver: no GPU to choose */
    int (*cu_init)(unsigned) = NULL, (*cu_count)(int *) = NULL;
    *(void **)&cu_init = dlsym(h, "cuInit");
    *(void **)&cu_count = dlsym(h, "cuDeviceGetCount");
    int n = 0;
    if (cu_init && cu_count && cu_init(0) == 0 && cu_count(&n) == 0 && n > 1) {
        char v[16];
        snprintf(v, sizeof v, "%d", D.local_rank % n);
        setenv("TS_CUDA_DEVICE", v, 1);
    }
    dlclose(h);
}

ts_status ts_dist_init(char *note, size_t note_len)
{
    if (note && note_len) note[0] = '\0';
    if (D.inited) return TS_OK;
    const char *off = getenv("TS_DIST");
    int rank;
    const char *who;
    int n = launched_size(&rank, &who);
    if ((off && !strcmp(off, "off")) || n <= 1) {
        D.inited = true;
        if (n > 1 && note)
            snprintf(note, note_len, "TS_DIST=off: rank %d of %d runs on its own", rank, n);
        return TS_OK;
    }
    ts_status st = load_mpi();
    if (st != TS_OK)
        return ts_error_prefix(st, "started as rank %d of %d by %s, but ", rank, n, who);
    int flag = 0, provided = 0, rc;
    if ((rc = D.initialized(&flag)) != 0) return mpi_fail(rc, "MPI_Initialized");
    if (!flag && (rc = D.init_thread(NULL, NULL, 2 /* MPI_THREAD_SERIALIZED, both ABIs */, &provided)) != 0)
        return mpi_fail(rc, "MPI_Init_thread");
    D.active = true;
    if ((rc = mpi_rank_size(D.comm_rank, &D.rank)) != 0) return mpi_fail(rc, "MPI_Comm_rank");
    if ((rc = mpi_rank_size(D.comm_size, &D.size)) != 0) return mpi_fail(rc, "MPI_Comm_size");
    if (D.size != n || D.rank != rank)
        return ts_error(TS_ERR_DEVICE, "MPI says rank %d of %d, %s said rank %d of %d (another MPI library than "
                                       "the launcher's? set TS_MPI_LIB)", D.rank, D.size, who, rank, n);
    char ver[8192] = "";
    int len = 0;
    if (D.library_version && D.library_version(ver, &len) == 0) {
        ver[len > 0 && len < (int)sizeof ver ? len : 0] = '\0';
        ver[strcspn(ver, "\n,")] = '\0'; /* "Open MPI v4.1.4", "MPICH Version:\t4.0.2" */
        snprintf(D.library, sizeof D.library, "%s", ver);
    } else {
        snprintf(D.library, sizeof D.library, "%s", D.abi == ABI_OMPI ? "Open MPI" : "MPICH ABI");
    }
    D.inited = true;
    TS_TRY(find_local());
    choose_gpu();
    if (note)
        snprintf(note, note_len, "rank %d of %d (%s, %d on this node), %s", D.rank, D.size, who, D.local_size,
                 D.library);
    return TS_OK;
}

void ts_dist_finalize(void)
{
    ts_dist_grads_detach();
    if (D.active && !D.finalized) {
        int done = 0;
        if (D.finalized_fn(&done) == 0 && !done) D.finalize();
        D.finalized = true;
    }
}

void ts_dist_abort(int code)
{
    if (!D.active || D.finalized) return;
    if (D.abi == ABI_OMPI) ((o_abort_fn)D.abort_fn)(D.o_world, code);
    else ((m_abort_fn)D.abort_fn)(M_WORLD, code);
}

int ts_dist_rank(void) { return D.rank; }
int ts_dist_size(void) { return D.size; }
int ts_dist_local_size(void) { return D.local_size; }
const char *ts_dist_library(void) { return D.library; }

void ts_dist_shard(int B, int *offset, int *count)
{
    int q = B / D.size, r = B % D.size;
    *count = q + (D.rank < r);
    *offset = D.rank * q + (D.rank < r ? D.rank : r);
}

int ts_dist_cpu_threads(void)
{
    if (D.size <= 1) return 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int t = cores > 0 ? (int)(cores / D.local_size) : 1;
    return t >= 1 ? t : 1;
}

ts_status ts_dist_allreduce_f64(double *v, int n, ts_dist_op op)
{
    if (!D.active || n <= 0) return TS_OK;
    int rc = mpi_allreduce(in_place(), v, n, T_DOUBLE, op);
    return rc ? mpi_fail(rc, "MPI_Allreduce") : TS_OK;
}

ts_status ts_dist_allreduce_f32(float *v, size_t n)
{
    if (!D.active) return TS_OK;
    for (size_t at = 0; at < n; at += CHUNK) {
        int part = (int)(n - at < CHUNK ? n - at : CHUNK);
        int rc = mpi_allreduce(in_place(), v + at, part, T_FLOAT, TS_DIST_SUM);
        if (rc) return mpi_fail(rc, "MPI_Allreduce");
    }
    return TS_OK;
}

ts_status ts_dist_average_batchnorm(ts_graph *g)
{
    if (!D.active) return TS_OK;
    size_t total = 0;
    for (int i = 0; i < g->n_nodes; i++) total += 2 * ts_tensor_numel(&g->nodes[i].run_mean);
    if (!total) return TS_OK;
    float *h = malloc(total * sizeof *h);
    ts_status st = h ? TS_OK : ts_error(TS_ERR_OOM, "dist: running statistics of %zu floats", total);
    size_t at = 0;
    for (int i = 0; i < g->n_nodes && st == TS_OK; i++) {
        const ts_node *n = &g->nodes[i];
        size_t c = ts_tensor_numel(&n->run_mean);
        if (!c) continue;
        st = ts_graph_read(g, n->run_mean.data, h + at, c);
        if (st == TS_OK) st = ts_graph_read(g, n->run_var.data, h + at + c, c);
        at += 2 * c;
    }
    st = ts_dist_agree(st);
    if (st == TS_OK) st = ts_dist_allreduce_f32(h, total);
    at = 0;
    for (int i = 0; i < g->n_nodes && st == TS_OK; i++) {
        ts_node *n = &g->nodes[i];
        size_t c = ts_tensor_numel(&n->run_mean);
        if (!c) continue;
        for (size_t k = 0; k < 2 * c; k++) h[at + k] /= (float)D.size;
        st = ts_graph_write(g, n->run_mean.data, h + at, c);
        if (st == TS_OK) st = ts_graph_write(g, n->run_var.data, h + at + c, c);
        at += 2 * c;
    }
    free(h);
    return st;
}

ts_status ts_dist_bcast(void *buf, size_t bytes, int root)
{
    if (!D.active) return TS_OK;
    for (size_t at = 0; at < bytes; at += CHUNK) {
        int part = (int)(bytes - at < CHUNK ? bytes - at : CHUNK);
        int rc = mpi_bcast((char *)buf + at, part, T_BYTE, root);
        if (rc) return mpi_fail(rc, "MPI_Bcast");
    }
    return TS_OK;
}

ts_status ts_dist_agree(ts_status st)
{
    if (!D.active) return st;
    /* After a failed vote every rank is on its way out: no more votes. */
    if (D.vote_failed) return st;
    D.peer_failed = false;
    /* One slot per rank: everyone learns who failed and how. */
    double *v = calloc((size_t)D.size, sizeof *v);
    char mine[1024];
    snprintf(mine, sizeof mine, "%s", ts_last_error());
    if (!v) return ts_error(TS_ERR_OOM, "MPI: out of memory");
    v[D.rank] = (double)st;
    ts_status rc = ts_dist_allreduce_f64(v, D.size, TS_DIST_SUM);
    int first = -1;
    for (int r = 0; r < D.size && rc == TS_OK; r++)
        if (v[r] != 0 && first < 0) first = r;
    ts_status peer = first >= 0 ? (ts_status)(int)v[first] : TS_OK;
    free(v);
    if (rc != TS_OK) return rc;
    D.vote_failed = first >= 0;
    if (st != TS_OK) {
        ts_error(st, "%s", mine); /* the vote may have touched the message */
        return st;
    }
    if (first < 0) return TS_OK;
    D.peer_failed = true;
    return ts_error(peer, "rank %d of %d failed (%s; its message is in its output)", first, D.size,
                    ts_status_name(peer));
}

bool ts_dist_peer_failed(void) { return D.peer_failed; }
bool ts_dist_vote_failed(void) { return D.vote_failed; }

/* ---- gradients: MPI or NCCL ---------------------------------------------- */

/* NCCL's ABI (nccl.h, 2.x). */
typedef struct { char internal[128]; } nccl_id;
typedef void *nccl_comm;
typedef int nccl_result;
enum { NCCL_SUM = 0, NCCL_FLOAT32 = 7, NCCL_SCALAR_HOST = 1 };

static struct {
    bool attached;
    enum { AR_MPI, AR_STAGED, AR_NCCL } kind;
    float scale;
    float *host;       /* staging for AR_STAGED */
    size_t host_n;
    void *lib;
    nccl_comm comm;
    int op;            /* the pre-multiplied sum */
    void *stream;      /* the CUDA backend's stream */
    nccl_result (*get_version)(int *);
    nccl_result (*get_unique_id)(nccl_id *);
    nccl_result (*comm_init_rank)(nccl_comm *, int, nccl_id, int);
    nccl_result (*comm_destroy)(nccl_comm);
    nccl_result (*all_reduce)(const void *, void *, size_t, int, int, nccl_comm, void *);
    nccl_result (*premul)(int *, void *, int, int, nccl_comm);
    nccl_result (*op_destroy)(int, nccl_comm);
    const char *(*error_string)(nccl_result);
} G;

static ts_status nccl_fail(nccl_result r, const char *what)
{
    return ts_error(TS_ERR_DEVICE, "NCCL: %s failed: %s", what,
                    G.error_string ? G.error_string(r) : "(no message)");
}

/* Loads libnccl.so.2; false (and a reason in why) when it is not there or
 * too old for the pre-multiplied sum. */
static bool nccl_load(char *why, size_t n)
{
    if (G.lib) return true;
    const char *want = getenv("TS_NCCL_LIB");
    G.lib = dlopen(want && *want ? want : "libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!G.lib) {
        const char *e = dlerror();
        snprintf(why, n, "%s", e ? e : "libnccl.so.2 not found");
        return false;
    }
    struct { void **dst; const char *name; } syms[] = {
        { (void **)&G.get_version, "ncclGetVersion" },     { (void **)&G.get_unique_id, "ncclGetUniqueId" },
        { (void **)&G.comm_init_rank, "ncclCommInitRank" }, { (void **)&G.comm_destroy, "ncclCommDestroy" },
        { (void **)&G.all_reduce, "ncclAllReduce" },        { (void **)&G.premul, "ncclRedOpCreatePreMulSum" },
        { (void **)&G.op_destroy, "ncclRedOpDestroy" },     { (void **)&G.error_string, "ncclGetErrorString" },
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].dst = dlsym(G.lib, syms[i].name);
        if (!*syms[i].dst) {
            snprintf(why, n, "libnccl has no %s (NCCL 2.11 or newer is needed)", syms[i].name);
            dlclose(G.lib);
            G.lib = NULL;
            return false;
        }
    }
    return true;
}

static ts_status nccl_setup(ts_graph *g)
{
    /* NCCL's all-reduce joins the backend's own queue (backend.h "stream"),
     * so that it runs after backward and before the SGD step. */
    void *ctx;
    const ts_backend *be = ts_graph_backend(g, &ctx);
    G.stream = be->stream ? be->stream(ctx) : NULL;
    nccl_id id;
    memset(&id, 0, sizeof id);
    nccl_result r = 0;
    if (D.rank == 0 && (r = G.get_unique_id(&id)) != 0) memset(&id, 0, sizeof id);
    /* Everyone learns whether rank 0 got an id before waiting on it. */
    TS_TRY(ts_dist_agree(r ? nccl_fail(r, "ncclGetUniqueId") : TS_OK));
    TS_TRY(ts_dist_bcast(&id, sizeof id, 0));
    r = G.comm_init_rank(&G.comm, D.size, id, D.rank);
    TS_TRY(ts_dist_agree(r ? nccl_fail(r, "ncclCommInitRank") : TS_OK));
    r = G.premul(&G.op, &G.scale, NCCL_FLOAT32, NCCL_SCALAR_HOST, G.comm);
    return ts_dist_agree(r ? nccl_fail(r, "ncclRedOpCreatePreMulSum") : TS_OK);
}

ts_status ts_dist_grads_attach(ts_graph *g, float scale)
{
    if (!D.active) return TS_OK;
    ts_dist_grads_detach();
    G.scale = scale;
    bool on_gpu = g->grads.on_device;
    char why[256] = "";
    /* NCCL only when every rank's gradients are on a GPU whose queue it can
     * join (backend.h "stream") and every rank has NCCL. */
    double can = on_gpu && ts_graph_backend(g, NULL)->stream && nccl_load(why, sizeof why) ? 1 : 0;
    TS_TRY(ts_dist_allreduce_f64(&can, 1, TS_DIST_SUM));
    if (can == D.size) {
        G.kind = AR_NCCL;
        ts_status st = nccl_setup(g);
        if (st != TS_OK) {
            ts_dist_grads_detach();
            return st;
        }
    } else if (on_gpu) {
        G.kind = AR_STAGED;
        G.host = malloc(g->grads.used * sizeof(float));
        G.host_n = g->grads.used;
        TS_TRY(ts_dist_agree(G.host ? TS_OK : ts_error(TS_ERR_OOM, "all-reduce: no memory to stage %zu floats",
                                                       g->grads.used)));
    } else {
        G.kind = AR_MPI;
        TS_TRY(ts_dist_agree(TS_OK));
    }
    G.attached = true;
    return TS_OK;
}

ts_status ts_dist_grads_reduce(ts_graph *g)
{
    if (!D.active) return TS_OK;
    TS_ASSERT(G.attached);
    size_t n = g->grads.used;
    if (G.kind == AR_NCCL) {
        nccl_result r = G.all_reduce(g->grads.base, g->grads.base, n, NCCL_FLOAT32, G.op, G.comm, G.stream);
        return r ? nccl_fail(r, "ncclAllReduce") : TS_OK;
    }
    float *v = g->grads.base;
    if (G.kind == AR_STAGED) {
        TS_ASSERT(G.host_n == n);
        TS_TRY(ts_graph_read(g, g->grads.base, G.host, n));
        v = G.host;
    }
    if (G.scale != 1.0f)
        for (size_t i = 0; i < n; i++) v[i] *= G.scale;
    TS_TRY(ts_dist_allreduce_f32(v, n));
    if (G.kind == AR_STAGED) TS_TRY(ts_graph_write(g, g->grads.base, G.host, n));
    return TS_OK;
}

const char *ts_dist_allreduce_name(void)
{
    if (!D.active || !G.attached) return "none";
    return G.kind == AR_NCCL ? "nccl" : G.kind == AR_STAGED ? "mpi-staged" : "mpi";
}

void ts_dist_grads_detach(void)
{
    if (G.comm) {
        G.op_destroy(G.op, G.comm);
        G.comm_destroy(G.comm);
        G.comm = NULL;
    }
    free(G.host);
    G.host = NULL;
    G.host_n = 0;
    G.attached = false;
}
