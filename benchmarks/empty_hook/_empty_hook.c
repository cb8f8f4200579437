/* _empty_hook: allocator hooks that only pass each call on, in the object and memory domains as the
 * _sampler extension wraps them. What they cost is what wrapping the allocator costs by itself: the
 * floor under any sampler built on PyMem_SetAllocator. Benchmark only (heap_sampling.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static const PyMemAllocatorDomain DOMAINS[2] = {PYMEM_DOMAIN_OBJ, PYMEM_DOMAIN_MEM};
static PyMemAllocatorEx wrapped[2];
static int installed;

static void *
pass_malloc(void *ctx, size_t size)
{
    PyMemAllocatorEx *next = ctx;
    return next->malloc(next->ctx, size);
}

static void *
pass_calloc(void *ctx, size_t nelem, size_t elsize)
{
    PyMemAllocatorEx *next = ctx;
    return next->calloc(next->ctx, nelem, elsize);
}

static void *
pass_realloc(void *ctx, void *block, size_t size)
{
    PyMemAllocatorEx *next = ctx;
    return next->realloc(next->ctx, block, size);
}

static void
pass_free(void *ctx, void *block)
{
    PyMemAllocatorEx *next = ctx;
    next->free(next->ctx, block);
}

static PyObject *
start(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    for (int i = 0; !installed && i < 2; i++) {
        PyMem_GetAllocator(DOMAINS[i], &wrapped[i]);
        PyMemAllocatorEx hook = {&wrapped[i], pass_malloc, pass_calloc, pass_realloc, pass_free};
        PyMem_SetAllocator(DOMAINS[i], &hook);
    }
    installed = 1;
    Py_RETURN_NONE;
}

static PyObject *
stop(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    for (int i = 0; installed && i < 2; i++)
        PyMem_SetAllocator(DOMAINS[i], &wrapped[i]);
    installed = 0;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"start", start, METH_NOARGS, "Wrap both domains with hooks that pass every call on."},
    {"stop", stop, METH_NOARGS, "Put the wrapped allocators back."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_empty_hook", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__empty_hook(void)
{
    return PyModule_Create(&module_def);
}
