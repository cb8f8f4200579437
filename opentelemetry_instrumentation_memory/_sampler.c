/* _sampler: an always-on sampled heap profile for CPython 3.10-3.13.
 *
 * Hooks wrap the object and memory allocator domains (PyMem_SetAllocator). Every allocated byte is a
 * sampling point with probability 1/interval: a countdown drawn from an exponential distribution
 * (mean ``interval``) is decremented by each block's size, and the block that takes it to zero is
 * sampled, with its Python stack. A block of ``size`` bytes is thus sampled with probability
 * p = 1 - exp(-size/interval) whatever came before (the draw is memoryless), and weighted by
 * size/p: the weights of the live samples are an unbiased estimate of the live bytes, per stack.
 * Frees and reallocs remove their samples, so the table holds only live sampled blocks.
 *
 * Both domains are only called with the GIL held, which is the lock of all state here: the hooks
 * never release it, never call back into Python and never allocate through PyMem (the tables come
 * from libc, fixed in size). A fork copies the tables, which describe the child's heap as well as
 * the parent's; the child draws its own random sequence from then on.
 */
#include <patchlevel.h>
#if PY_VERSION_HEX >= 0x030b0000
#define Py_BUILD_CORE 1 /* the interpreter frame's layout, read in _sampler_stack.h */
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#if PY_VERSION_HEX >= 0x030b0000
#include <internal/pycore_frame.h>
#else
#include <frameobject.h> /* PyFrameObject's fields */
#endif
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "_sampler_stack.h"
#include "_sampler_intern.h"
#include "_sampler_table.h"

#if PY_VERSION_HEX < 0x030a0000 || PY_VERSION_HEX >= 0x030e0000
#error "_sampler reads interpreter frames as CPython 3.10-3.13 lay them out"
#endif
#ifdef Py_GIL_DISABLED
#error "_sampler relies on the GIL to guard its tables"
#endif

typedef struct {
    PyMemAllocatorEx next; /* the allocator wrapped; kept forever, a chain may still call us */
} hook_t;

static const PyMemAllocatorDomain DOMAINS[2] = {PYMEM_DOMAIN_OBJ, PYMEM_DOMAIN_MEM};
static hook_t *installed[2];

static table_t table;
static interner_t interner;
static int sampling;
/* Reports building Python objects from the interner: their allocations may run a collection, a
 * finalizer, another thread; none of which may compact or clear (free) the interner under them. */
static int reporting;
static int sample_depth = 6;
static double interval = 512.0 * 1024;
/* While sampling is off, the countdown never runs out: the hooks test one number. */
#define NEVER (INT64_MAX / 2)
static int64_t countdown = NEVER;
static uint64_t rng_state;
static _Thread_local int busy;
static uint64_t samples_taken, samples_dropped, stacks_overflowed;
static double bytes_dropped;

static uint64_t
next_random(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static void
seed(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    rng_state ^= ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)now.tv_sec ^ ((uint64_t)getpid() << 40) ^
                 (uint64_t)(uintptr_t)&now;
    if (rng_state == 0)
        rng_state = 0x9E3779B97F4A7C15ull;
}

/* Bytes until the next sampling point: exponential, mean ``interval``. */
static int64_t
draw(void)
{
    double u = ((double)(next_random() >> 11) + 1.0) * 0x1.0p-53; /* (0, 1] */
    double bytes = -log(u) * interval;
    return bytes < 1.0 ? 1 : bytes > 4e18 ? (int64_t)4e18 : (int64_t)bytes;
}

static void
take_sample(void *block, size_t size)
{
    countdown = sampling ? draw() : NEVER;
    if (busy || !sampling)
        return;
    busy = 1;
    raw_frame_t frames[SAMPLER_MAX_DEPTH];
    int depth = read_stack(frames, sample_depth);
    uint32_t stack = intern_raw(&interner, frames, depth);
    stacks_overflowed += stack == STACK_OVERFLOW;
    double weight = size ? (double)size / -expm1(-(double)size / interval) : interval;
    if (table_insert(&table, (uintptr_t)block, size, weight, stack)) {
        samples_taken++;
    } else {
        samples_dropped++;
        bytes_dropped += weight;
    }
    busy = 0;
}

static inline void
account(void *block, size_t size)
{
    countdown -= (int64_t)size;
    if (__builtin_expect(countdown <= 0, 0))
        take_sample(block, size);
}

/* The hot paths end in a tail call to the wrapped allocator, so that a block not sampled costs a
 * jump rather than a call with its frame: the countdown moves before the allocation, and only the
 * allocation that runs it out takes the slow path (its block is needed). */
static void *
sampled(void *block, size_t size)
{
    if (block)
        take_sample(block, size);
    else
        countdown = sampling ? draw() : NEVER; /* failed: the next allocation is as likely */
    return block;
}

static __attribute__((noinline)) void *
malloc_sampled(hook_t *hook, size_t size)
{
    return sampled(hook->next.malloc(hook->next.ctx, size), size);
}

static void *
hook_malloc(void *ctx, size_t size)
{
    hook_t *hook = ctx;
    countdown -= (int64_t)size;
    if (__builtin_expect(countdown <= 0, 0))
        return malloc_sampled(hook, size);
    return hook->next.malloc(hook->next.ctx, size);
}

static __attribute__((noinline)) void *
calloc_sampled(hook_t *hook, size_t nelem, size_t elsize)
{
    return sampled(hook->next.calloc(hook->next.ctx, nelem, elsize), nelem * elsize);
}

static void *
hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    hook_t *hook = ctx;
    countdown -= (int64_t)(nelem * elsize);
    if (__builtin_expect(countdown <= 0, 0))
        return calloc_sampled(hook, nelem, elsize);
    return hook->next.calloc(hook->next.ctx, nelem, elsize);
}

static void *
hook_realloc(void *ctx, void *old, size_t size)
{
    hook_t *hook = ctx;
    void *block = hook->next.realloc(hook->next.ctx, old, size);
    if (block) {
        if (old)
            table_remove(&table, (uintptr_t)old); /* a resize is a free and a new block */
        account(block, size);
    } else if (size == 0 && old) {
        table_remove(&table, (uintptr_t)old);
    }
    return block;
}

static __attribute__((noinline)) void
free_sampled(hook_t *hook, void *block)
{
    table_remove_slow(&table, (uintptr_t)block);
    hook->next.free(hook->next.ctx, block);
}

static void
hook_free(void *ctx, void *block)
{
    hook_t *hook = ctx;
    if (__builtin_expect(filter_may_hold((uintptr_t)block), 0))
        free_sampled(hook, block);
    else
        hook->next.free(hook->next.ctx, block);
}

static void
after_fork_in_child(void)
{
    seed(); /* else parent and child would sample the same allocations from here on */
    countdown = sampling ? draw() : NEVER;
}

/* Whether our hooks still see both domains' allocations: a host may have replaced them (tracemalloc
 * started before us and stopped since restores what it wrapped). A 1-byte allocation must move the
 * countdown. */
static int
attached(void)
{
    int seen = 1;
    int64_t saved = countdown, start = NEVER;
    countdown = start;
    void *block = PyObject_Malloc(1);
    seen &= countdown < start;
    PyObject_Free(block);
    countdown = start;
    block = PyMem_Malloc(1);
    seen &= countdown < start;
    PyMem_Free(block);
    countdown = saved;
    return seen;
}

static int
install(void)
{
    for (int i = 0; i < 2; i++) {
        PyMemAllocatorEx current;
        PyMem_GetAllocator(DOMAINS[i], &current);
        hook_t *hook = installed[i];
        if (hook == NULL || memcmp(&hook->next, &current, sizeof(current)) != 0) {
            hook = calloc(1, sizeof(hook_t)); /* never freed: a chain may still hold the old one */
            if (hook == NULL)
                return -1;
            hook->next = current;
            installed[i] = hook;
        }
        PyMemAllocatorEx ours = {hook, hook_malloc, hook_calloc, hook_realloc, hook_free};
        PyMem_SetAllocator(DOMAINS[i], &ours);
    }
    return 0;
}

static PyObject *
sampler_start(PyObject *module, PyObject *args)
{
    double new_interval;
    int depth;
    if (!PyArg_ParseTuple(args, "di", &new_interval, &depth))
        return NULL;
    if (!(new_interval >= 1.0 && new_interval <= 1e12) || depth < 1 || depth > SAMPLER_MAX_DEPTH) {
        PyErr_Format(PyExc_ValueError, "interval must be 1..1e12 bytes, depth 1..%d", SAMPLER_MAX_DEPTH);
        return NULL;
    }
    if ((table.slots == NULL && table_init(&table) < 0) ||
        (interner.arena == NULL && interner_init(&interner) < 0))
        return PyErr_NoMemory();
    sampling = 0;
    interval = new_interval;
    sample_depth = depth;
    if (!attached()) {
        table_clear(&table); /* frees went unseen while detached */
        if (install() < 0)
            return PyErr_NoMemory();
    }
    sampling = 1;
    countdown = draw();
    Py_RETURN_NONE;
}

static PyObject *
sampler_stop(PyObject *module, PyObject *unused)
{
    sampling = 0;
    countdown = NEVER;
    for (int i = 0; i < 2; i++) {
        PyMemAllocatorEx current;
        PyMem_GetAllocator(DOMAINS[i], &current);
        /* Only our own hook comes off; one wrapped by another stays, passing calls through. */
        if (installed[i] && current.malloc == hook_malloc && current.ctx == installed[i])
            PyMem_SetAllocator(DOMAINS[i], &installed[i]->next);
    }
    if (table.slots)
        table_clear(&table);
    if (interner.arena && !reporting)
        interner_clear(&interner); /* the stacks of samples forgotten (by the report, when one runs) */
    Py_RETURN_NONE;
}

static PyObject *
sampler_running(PyObject *module, PyObject *unused)
{
    if (sampling && !attached()) {
        sampling = 0;
        countdown = NEVER;
        table_clear(&table);
    }
    return PyBool_FromLong(sampling);
}

#include "_sampler_report.h"

static PyMethodDef methods[] = {
    {"start", sampler_start, METH_VARARGS, "start(interval, depth): sample about every interval bytes."},
    {"stop", sampler_stop, METH_NOARGS, "Stop sampling and forget the samples and their stacks."},
    {"running", sampler_running, METH_NOARGS, "Whether sampling runs and its hooks still see allocations."},
    {"live", sampler_live, METH_NOARGS, "Live sampled blocks by stack: [(frames, samples, bytes, blocks)], innermost frame first."},
    {"find", sampler_find, METH_VARARGS, "find(objects, buffers): live sampled blocks holding these objects, or starting at these buffer addresses, by stack."},
    {"stats", sampler_stats, METH_NOARGS, "Counters and the tables' own memory."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_sampler", "Sampled heap profile (see _sampler.c).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__sampler(void)
{
    static int fork_handler;
    if (!fork_handler && pthread_atfork(NULL, NULL, after_fork_in_child) == 0)
        fork_handler = 1;
    seed();
    return PyModule_Create(&module_def);
}
