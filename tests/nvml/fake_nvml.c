/*
 * fake_nvml.c: a scripted stand-in for libnvidia-ml.so.1, for memdash's tests.
 *
 * The REAL pynvml binding (nvidia-ml-py) loads this library and calls the same
 * C entry points it calls on a driver. Nothing here talks to hardware: every
 * figure comes from environment variables, read again on every call, so a test
 * can re-script the fake with monkeypatch.setenv between two polls.
 *
 * Build (the test suite and bench/bench_gpu.py do this):
 *   gcc -shared -fPIC -O2 -Wall -Wextra -Wl,-soname,libnvidia-ml.so.1 \
 *       -o libnvidia-ml.so.1 fake_nvml.c
 * glibc matches a later dlopen("libnvidia-ml.so.1") by SONAME, so preloading the
 * built file with ctypes.CDLL(abs_path) is enough; LD_LIBRARY_PATH works too.
 *
 * Script. Per-device lists are separated by ';' (numeric lists also accept ',');
 * a list shorter than the device count repeats its last entry.
 *   FAKE_NVML_COUNT          devices, default 1, at most 64
 *   FAKE_NVML_INIT_RESULT    nvmlInitWithFlags' return code (9 driver not loaded,
 *                            4 no permission, ...), default 0
 *   FAKE_NVML_HANG           a symbol ("nvmlInitWithFlags", "nvmlDeviceGetCount_v2",
 *                            ...) or "*" for every call: that call never returns,
 *                            as on a wedged driver, until fake_nvml_release()
 *                            is called (a subprocess hangs for good)
 *   FAKE_NVML_DRIVER         driver version string, default "550.00.fake"
 *   FAKE_NVML_NAME           device names, default "NVIDIA Fake GPU"
 *   FAKE_NVML_TOTAL_MIB      total memory in MiB, default 81559
 *   FAKE_NVML_USED_MIB       used memory in MiB, default: the sum of the device's
 *                            compute and graphics processes
 *   FAKE_NVML_PROCS          compute processes: "pid:mib,pid:mib;pid:mib" (';'
 *                            separates devices). mib "NA" reports "not available"
 *                            (usedGpuMemory = ULLONG_MAX, which pynvml turns into
 *                            None). "pid:mib@k" puts the process on MIG instance k.
 *   FAKE_NVML_GRAPHICS_PROCS graphics processes, same syntax
 *   FAKE_NVML_UTIL           "gpu:mem" per device, or "NA" for NOT_SUPPORTED
 *   FAKE_NVML_TEMP           Celsius per device, or "NA"; default 40
 *   FAKE_NVML_MIG            per device "NA" (MIG queries NOT_SUPPORTED, the
 *                            default: consumer GPUs), "off", or "on:N" (MIG mode
 *                            with N instances, each given total/N memory)
 *   FAKE_NVML_FAIL           "symbol[@dev]=code,...": make that entry point return
 *                            code (on device dev only, where given), e.g.
 *                            "nvmlDeviceGetUUID=3,nvmlDeviceGetMemoryInfo@1=15"
 *   FAKE_NVML_TRACE          "1"/"stderr": each call's symbol to stderr; any other
 *                            value: a file to append "symbol\n" lines to
 *
 * Test hooks (read with ctypes): fake_nvml_init_calls(),
 * fake_nvml_shutdown_calls(), fake_nvml_refcount(), fake_nvml_reset_counters(),
 * fake_nvml_hung() (calls now stuck in FAKE_NVML_HANG), fake_nvml_release()
 * (lets them return, for a test's cleanup).
 *
 * Like the real library, every call but init fails with UNINITIALIZED (1) while
 * the init refcount is zero.
 */

#include <limits.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- NVML's ABI: return codes, structs (sizes must match pynvml's ctypes) ---- */

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_UNKNOWN = 999,
};

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t; /* v2 and v3 have the same layout */
typedef struct {
    unsigned int version;
    int sensorType;
    int temperature;
} nvmlTemperature_v1_t;

_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t must be 24 bytes");
_Static_assert(sizeof(nvmlMemory_v2_t) == 40, "nvmlMemory_v2_t must be 40 bytes");
_Static_assert(sizeof(nvmlUtilization_t) == 8, "nvmlUtilization_t must be 8 bytes");
_Static_assert(sizeof(nvmlProcessInfo_t) == 24, "nvmlProcessInfo_t must be 24 bytes");
_Static_assert(sizeof(nvmlTemperature_v1_t) == 12, "nvmlTemperature_v1_t must be 12 bytes");

#define MEMORY_V2_VERSION 0x02000028u
#define TEMPERATURE_V1_VERSION 0x0100000Cu
#define MAX_DEVICES 64
#define MAX_MIG 7 /* an A100/H100 has at most seven MIG instances */
#define MAX_PROCS 256 /* per device and list; the bench uses 64 */
#define NA_MEMORY ULLONG_MAX
#define MIB 1048576ULL

/* A handle is a pointer into one of these tables; NVML's handles are opaque. */
typedef struct { int index; int mig; /* -1: the physical GPU, else MIG slot */ } fake_handle;
static fake_handle g_devices[MAX_DEVICES];
static fake_handle g_migs[MAX_DEVICES][MAX_MIG];
typedef fake_handle *nvmlDevice_t;

static int g_refcount;
static int g_init_calls;
static int g_shutdown_calls;

int fake_nvml_init_calls(void) { return g_init_calls; }
int fake_nvml_shutdown_calls(void) { return g_shutdown_calls; }
int fake_nvml_refcount(void) { return g_refcount; }
void fake_nvml_reset_counters(void) { g_init_calls = 0; g_shutdown_calls = 0; }

static volatile int g_released;
static volatile int g_hung;
int fake_nvml_hung(void) { return g_hung; }
void fake_nvml_release(void) { g_released = 1; }

/* FAKE_NVML_HANG: block the calling thread like a wedged driver. Polls a flag
 * every 10 ms so an in-process test can let it go; __atomic: several threads. */
static void hang_if_scripted(const char *symbol) {
    const char *s = getenv("FAKE_NVML_HANG");
    if (!s || !*s || (strcmp(s, "*") != 0 && strcmp(s, symbol) != 0)) return;
    __atomic_store_n(&g_released, 0, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&g_hung, 1, __ATOMIC_SEQ_CST);
    struct timespec tick = {0, 10 * 1000 * 1000};
    while (!__atomic_load_n(&g_released, __ATOMIC_SEQ_CST)) nanosleep(&tick, NULL);
    __atomic_sub_fetch(&g_hung, 1, __ATOMIC_SEQ_CST);
}

/* ---- script parsing ---- */

static void trace(const char *symbol) {
    hang_if_scripted(symbol);
    const char *where = getenv("FAKE_NVML_TRACE");
    if (!where || !*where || strcmp(where, "0") == 0) return;
    if (strcmp(where, "1") == 0 || strcmp(where, "stderr") == 0) {
        fprintf(stderr, "fake_nvml: %s\n", symbol);
        return;
    }
    FILE *f = fopen(where, "a");
    if (f) { fprintf(f, "%s\n", symbol); fclose(f); }
}

/* Copy device `index`'s entry of a ';'-separated list (',' too when `commas`)
 * into out; a short list repeats its last entry. Returns 0 when unset. */
static int field_for(const char *var, int index, int commas, char *out, size_t cap) {
    const char *s = getenv(var);
    if (!s || !*s) return 0;
    const char *start = s, *p = s;
    int i = 0;
    for (;; p++) {
        int sep = (*p == ';' || (commas && *p == ',') || *p == '\0');
        if (!sep) continue;
        if (i == index || *p == '\0') {
            size_t n = (size_t)(p - start);
            if (n >= cap) n = cap - 1;
            memcpy(out, start, n);
            out[n] = '\0';
            return 1;
        }
        i++;
        start = p + 1;
    }
}

static int device_count(void) {
    const char *s = getenv("FAKE_NVML_COUNT");
    int n = s && *s ? atoi(s) : 1;
    if (n < 0) n = 0;
    return n > MAX_DEVICES ? MAX_DEVICES : n;
}

/* FAKE_NVML_FAIL: the scripted return code for symbol on device, else SUCCESS. */
static nvmlReturn_t scripted_failure(const char *symbol, int device) {
    const char *s = getenv("FAKE_NVML_FAIL");
    if (!s || !*s) return NVML_SUCCESS;
    size_t len = strlen(symbol);
    for (const char *p = s; *p;) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        if ((size_t)(end - p) > len && strncmp(p, symbol, len) == 0) {
            const char *q = p + len;
            int dev = -1;
            if (*q == '@') dev = (int)strtol(q + 1, (char **)&q, 10);
            if (*q == '=' && (dev < 0 || dev == device)) return atoi(q + 1);
        }
        p = *end ? end + 1 : end;
    }
    return NVML_SUCCESS;
}

typedef struct { unsigned int pid; unsigned long long bytes; int mig; } fake_proc;

/* Parse device `index`'s processes from var into procs; returns how many. */
static int parse_procs(const char *var, int index, fake_proc *procs, int cap) {
    static __thread char buf[MAX_PROCS * 40];
    if (!field_for(var, index, 0, buf, sizeof buf)) return 0;
    int n = 0;
    for (char *p = buf; *p && n < cap;) {
        char *end = strchr(p, ',');
        if (end) *end = '\0';
        char *colon = strchr(p, ':');
        if (colon) {
            fake_proc *pr = &procs[n++];
            pr->pid = (unsigned int)strtoul(p, NULL, 10);
            char *at = strchr(colon + 1, '@');
            pr->mig = at ? atoi(at + 1) : 0;
            pr->bytes = strncmp(colon + 1, "NA", 2) == 0
                            ? NA_MEMORY
                            : strtoull(colon + 1, NULL, 10) * MIB;
        }
        if (!end) break;
        p = end + 1;
    }
    return n;
}

/* MIG script for a device: -1 NOT_SUPPORTED, 0 off, else 1 + instance count. */
static int mig_state(int index) {
    char buf[32];
    if (!field_for("FAKE_NVML_MIG", index, 1, buf, sizeof buf) || strcmp(buf, "NA") == 0)
        return -1;
    if (strncmp(buf, "on", 2) != 0) return 0;
    int n = buf[2] == ':' ? atoi(buf + 3) : 0;
    if (n < 0) n = 0;
    return 1 + (n > MAX_MIG ? MAX_MIG : n);
}

static unsigned long long scripted_mib(const char *var, int index, unsigned long long dflt) {
    char buf[32];
    return field_for(var, index, 1, buf, sizeof buf) ? strtoull(buf, NULL, 10) : dflt;
}

/* Bytes used by the processes of a device (or of one MIG instance, mig >= 0). */
static unsigned long long procs_bytes(int index, int mig) {
    static __thread fake_proc procs[MAX_PROCS];
    unsigned long long sum = 0;
    const char *vars[2] = {"FAKE_NVML_PROCS", "FAKE_NVML_GRAPHICS_PROCS"};
    for (int v = 0; v < 2; v++) {
        int n = parse_procs(vars[v], index, procs, MAX_PROCS);
        for (int i = 0; i < n; i++)
            if (procs[i].bytes != NA_MEMORY && (mig < 0 || procs[i].mig == mig))
                sum += procs[i].bytes;
    }
    return sum;
}

/* Common prologue: trace, refuse while uninitialised, validate the handle,
 * apply FAKE_NVML_FAIL. */
#define ENTER(symbol)                                         \
    trace(symbol);                                            \
    if (g_refcount <= 0) return NVML_ERROR_UNINITIALIZED
#define ENTER_DEVICE(symbol, h)                               \
    ENTER(symbol);                                            \
    if (!(h) || (h)->index >= device_count())                 \
        return NVML_ERROR_INVALID_ARGUMENT;                   \
    {                                                         \
        nvmlReturn_t forced_ = scripted_failure(symbol, (h)->index); \
        if (forced_) return forced_;                          \
    }

/* ---- the exported NVML API ---- */

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    trace("nvmlInitWithFlags");
    g_init_calls++;
    const char *s = getenv("FAKE_NVML_INIT_RESULT");
    nvmlReturn_t ret = s && *s ? atoi(s) : NVML_SUCCESS;
    if (ret == NVML_SUCCESS) g_refcount++;
    return ret;
}

nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t nvmlShutdown(void) {
    trace("nvmlShutdown");
    g_shutdown_calls++;
    if (g_refcount <= 0) return NVML_ERROR_UNINITIALIZED;
    g_refcount--;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result) {
    (void)result;
    return "Fake NVML error";
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    ENTER("nvmlSystemGetDriverVersion");
    nvmlReturn_t forced = scripted_failure("nvmlSystemGetDriverVersion", -1);
    if (forced) return forced;
    const char *v = getenv("FAKE_NVML_DRIVER");
    if (!v || !*v) v = "550.00.fake";
    if (!version || length == 0) return NVML_ERROR_INVALID_ARGUMENT;
    snprintf(version, length, "%s", v);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    ENTER("nvmlDeviceGetCount_v2");
    nvmlReturn_t forced = scripted_failure("nvmlDeviceGetCount_v2", -1);
    if (forced) return forced;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = (unsigned int)device_count();
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    ENTER("nvmlDeviceGetHandleByIndex_v2");
    if (!device || index >= (unsigned int)device_count()) return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t forced = scripted_failure("nvmlDeviceGetHandleByIndex_v2", (int)index);
    if (forced) return forced;
    g_devices[index].index = (int)index;
    g_devices[index].mig = -1;
    *device = &g_devices[index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
    ENTER_DEVICE("nvmlDeviceGetIndex", device);
    if (!index) return NVML_ERROR_INVALID_ARGUMENT;
    *index = (unsigned int)device->index;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    ENTER_DEVICE("nvmlDeviceGetName", device);
    char buf[96];
    if (!field_for("FAKE_NVML_NAME", device->index, 0, buf, sizeof buf))
        snprintf(buf, sizeof buf, "NVIDIA Fake GPU");
    if (!name || length == 0) return NVML_ERROR_INVALID_ARGUMENT;
    if (device->mig >= 0)
        snprintf(name, length, "%s MIG %d", buf, device->mig);
    else
        snprintf(name, length, "%s", buf);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    ENTER_DEVICE("nvmlDeviceGetUUID", device);
    if (!uuid || length == 0) return NVML_ERROR_INVALID_ARGUMENT;
    if (device->mig >= 0)
        snprintf(uuid, length, "MIG-fa4e%04x-%04x-0000-0000-000000000000",
                 (unsigned)device->index, (unsigned)device->mig);
    else
        snprintf(uuid, length, "GPU-fa4e%04x-0000-0000-0000-000000000000",
                 (unsigned)device->index);
    return NVML_SUCCESS;
}

static void fill_memory(nvmlDevice_t device, unsigned long long *total,
                        unsigned long long *used) {
    unsigned long long t = scripted_mib("FAKE_NVML_TOTAL_MIB", device->index, 81559) * MIB;
    if (device->mig >= 0) {
        int state = mig_state(device->index);
        int n = state > 1 ? state - 1 : 1;
        *total = t / (unsigned long long)n;
        *used = procs_bytes(device->index, device->mig);
    } else {
        *total = t;
        char buf[32];
        *used = field_for("FAKE_NVML_USED_MIB", device->index, 1, buf, sizeof buf)
                    ? strtoull(buf, NULL, 10) * MIB
                    : procs_bytes(device->index, -1);
    }
    if (*used > *total) *used = *total;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    ENTER_DEVICE("nvmlDeviceGetMemoryInfo", device);
    if (!memory) return NVML_ERROR_INVALID_ARGUMENT;
    fill_memory(device, &memory->total, &memory->used);
    memory->free = memory->total - memory->used;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    ENTER_DEVICE("nvmlDeviceGetMemoryInfo_v2", device);
    if (!memory) return NVML_ERROR_INVALID_ARGUMENT;
    if (memory->version != MEMORY_V2_VERSION) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    fill_memory(device, &memory->total, &memory->used);
    memory->reserved = 0;
    memory->free = memory->total - memory->used;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *util) {
    ENTER_DEVICE("nvmlDeviceGetUtilizationRates", device);
    if (!util) return NVML_ERROR_INVALID_ARGUMENT;
    if (device->mig >= 0) return NVML_ERROR_NOT_SUPPORTED; /* as on real MIG instances */
    char buf[32];
    if (!field_for("FAKE_NVML_UTIL", device->index, 1, buf, sizeof buf)) {
        util->gpu = 0;
        util->memory = 0;
        return NVML_SUCCESS;
    }
    if (strcmp(buf, "NA") == 0) return NVML_ERROR_NOT_SUPPORTED;
    char *colon = strchr(buf, ':');
    util->gpu = (unsigned int)strtoul(buf, NULL, 10);
    util->memory = colon ? (unsigned int)strtoul(colon + 1, NULL, 10) : 0;
    return NVML_SUCCESS;
}

static nvmlReturn_t temperature(nvmlDevice_t device, int *celsius) {
    if (device->mig >= 0) return NVML_ERROR_NOT_SUPPORTED;
    char buf[32];
    if (!field_for("FAKE_NVML_TEMP", device->index, 1, buf, sizeof buf)) {
        *celsius = 40;
        return NVML_SUCCESS;
    }
    if (strcmp(buf, "NA") == 0) return NVML_ERROR_NOT_SUPPORTED;
    *celsius = atoi(buf);
    return NVML_SUCCESS;
}

/* The legacy call (deprecated by NVIDIA, still in every driver). */
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp) {
    ENTER_DEVICE("nvmlDeviceGetTemperature", device);
    if (!temp || sensor != 0) return NVML_ERROR_INVALID_ARGUMENT;
    int c = 0;
    nvmlReturn_t ret = temperature(device, &c);
    if (ret == NVML_SUCCESS) *temp = (unsigned int)c;
    return ret;
}

/* The versioned call pynvml's nvmlDeviceGetTemperatureV uses. */
nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_v1_t *temp) {
    ENTER_DEVICE("nvmlDeviceGetTemperatureV", device);
    if (!temp || temp->sensorType != 0) return NVML_ERROR_INVALID_ARGUMENT;
    if (temp->version != TEMPERATURE_V1_VERSION) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    return temperature(device, &temp->temperature);
}

/* NVML's two-call protocol: (count=0, infos=NULL) answers SUCCESS when there are
 * no processes, else INSUFFICIENT_SIZE with *count set; a big enough array is
 * filled. */
static nvmlReturn_t list_procs(const char *var, nvmlDevice_t device, unsigned int *count,
                               nvmlProcessInfo_t *infos) {
    static __thread fake_proc procs[MAX_PROCS];
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    int n = parse_procs(var, device->index, procs, MAX_PROCS);
    int state = mig_state(device->index);
    unsigned int matching = 0;
    for (int i = 0; i < n; i++)
        if (device->mig < 0 || procs[i].mig == device->mig) matching++;
    if (matching == 0) {
        *count = 0;
        return NVML_SUCCESS;
    }
    if (*count < matching || !infos) {
        *count = matching;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    unsigned int k = 0;
    for (int i = 0; i < n; i++) {
        if (device->mig >= 0 && procs[i].mig != device->mig) continue;
        infos[k].pid = procs[i].pid;
        infos[k].usedGpuMemory = procs[i].bytes;
        /* 0xFFFFFFFF: "not in a MIG instance", as the driver reports it */
        infos[k].gpuInstanceId = state > 0 ? (unsigned int)procs[i].mig : 0xFFFFFFFFu;
        infos[k].computeInstanceId = state > 0 ? 0u : 0xFFFFFFFFu;
        k++;
    }
    *count = k;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                     nvmlProcessInfo_t *infos) {
    ENTER_DEVICE("nvmlDeviceGetComputeRunningProcesses_v3", device);
    return list_procs("FAKE_NVML_PROCS", device, count, infos);
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *count,
                                                     nvmlProcessInfo_t *infos) {
    ENTER_DEVICE("nvmlDeviceGetComputeRunningProcesses_v2", device);
    return list_procs("FAKE_NVML_PROCS", device, count, infos);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                      nvmlProcessInfo_t *infos) {
    ENTER_DEVICE("nvmlDeviceGetGraphicsRunningProcesses_v3", device);
    return list_procs("FAKE_NVML_GRAPHICS_PROCS", device, count, infos);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvmlDevice_t device, unsigned int *count,
                                                      nvmlProcessInfo_t *infos) {
    ENTER_DEVICE("nvmlDeviceGetGraphicsRunningProcesses_v2", device);
    return list_procs("FAKE_NVML_GRAPHICS_PROCS", device, count, infos);
}

/* ---- MIG ---- */

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current,
                                  unsigned int *pending) {
    ENTER_DEVICE("nvmlDeviceGetMigMode", device);
    if (!current || !pending) return NVML_ERROR_INVALID_ARGUMENT;
    if (device->mig >= 0) return NVML_ERROR_INVALID_ARGUMENT;
    int state = mig_state(device->index);
    if (state < 0) return NVML_ERROR_NOT_SUPPORTED;
    *current = *pending = state > 0 ? 1u : 0u;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMig) {
    ENTER_DEVICE("nvmlDeviceIsMigDeviceHandle", device);
    if (!isMig) return NVML_ERROR_INVALID_ARGUMENT;
    *isMig = device->mig >= 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count) {
    ENTER_DEVICE("nvmlDeviceGetMaxMigDeviceCount", device);
    if (!count || device->mig >= 0) return NVML_ERROR_INVALID_ARGUMENT;
    /* NVML documents 0 where MIG is unsupported or off, else the maximum (not
     * how many exist: callers skip the NOT_FOUND slots) */
    *count = mig_state(device->index) > 0 ? MAX_MIG : 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                 nvmlDevice_t *mig) {
    ENTER_DEVICE("nvmlDeviceGetMigDeviceHandleByIndex", device);
    if (!mig || device->mig >= 0 || index >= MAX_MIG) return NVML_ERROR_INVALID_ARGUMENT;
    int state = mig_state(device->index);
    if (state < 0) return NVML_ERROR_NOT_SUPPORTED;
    if (state == 0) return NVML_ERROR_INVALID_ARGUMENT; /* MIG mode off */
    if ((int)index >= state - 1) return NVML_ERROR_NOT_FOUND;
    fake_handle *h = &g_migs[device->index][index];
    h->index = device->index;
    h->mig = (int)index;
    *mig = h;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t mig, nvmlDevice_t *device) {
    ENTER_DEVICE("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", mig);
    if (!device || mig->mig < 0) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &g_devices[mig->index];
    return NVML_SUCCESS;
}
