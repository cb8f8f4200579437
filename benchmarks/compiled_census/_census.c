/* A benchmark-only prototype: counting gc-tracked objects by type in one C walk of the collector's
 * lists (PyUnstable_GC_VisitObjects, CPython 3.12+), without building gc.get_objects()'s list.
 * Never imported by the package; built by build.py, measured by measure.py.
 *
 * The visitor allocates no Python object: it counts into an open-addressing table keyed by the type
 * pointer (no tp_hash call, so no metaclass __hash__ runs) and grows it with PyMem_Raw*. Each type
 * is Py_INCREF'd when it enters the table (a reference-count change, not an allocation), so the
 * pointers stay valid while the result is built after the walk, which may run a collection.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030C0000
#error "PyUnstable_GC_VisitObjects needs CPython 3.12 or later"
#endif

typedef struct {
    PyTypeObject *type; /* NULL: empty slot; else a strong reference */
    Py_ssize_t count;
} Slot;

typedef struct {
    Slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t used;
    Slot *last;  /* the previous object's slot: heaps come in runs of one type */
    int failed;  /* growing the table failed: the walk was stopped */
} Table;

static inline size_t
slot_of(const Table *table, const PyTypeObject *type)
{
    uintptr_t key = (uintptr_t)type >> 4; /* type objects are at least 16-byte aligned */
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 17) & table->mask;
}

static int
table_init(Table *table, size_t capacity)
{
    table->slots = PyMem_RawCalloc(capacity, sizeof(Slot));
    table->mask = capacity - 1;
    table->used = 0;
    table->last = NULL;
    table->failed = 0;
    return table->slots != NULL;
}

static int
table_grow(Table *table)
{
    Table bigger;
    if (!table_init(&bigger, (table->mask + 1) * 2)) {
        return 0;
    }
    for (size_t i = 0; i <= table->mask; i++) {
        Slot *old = &table->slots[i];
        if (old->type != NULL) {
            size_t j = slot_of(&bigger, old->type);
            while (bigger.slots[j].type != NULL) {
                j = (j + 1) & bigger.mask;
            }
            bigger.slots[j] = *old;
        }
    }
    bigger.used = table->used;
    PyMem_RawFree(table->slots);
    *table = bigger;
    return 1;
}

/* Drops the table's references; may run arbitrary deallocators, so only after the walk. */
static void
table_clear(Table *table)
{
    for (size_t i = 0; i <= table->mask; i++) {
        Py_XDECREF(table->slots[i].type);
    }
    PyMem_RawFree(table->slots);
    table->slots = NULL;
}

/* gcvisitobjects_t: return 1 to go on, 0 to stop. Allocates no Python object. */
static int
visit(PyObject *op, void *arg)
{
    Table *table = (Table *)arg;
    PyTypeObject *type = Py_TYPE(op);
    if (table->last != NULL && table->last->type == type) {
        table->last->count++;
        return 1;
    }
    size_t i = slot_of(table, type);
    while (table->slots[i].type != NULL && table->slots[i].type != type) {
        i = (i + 1) & table->mask;
    }
    Slot *slot = &table->slots[i];
    if (slot->type == NULL) {
        if (2 * (table->used + 1) > table->mask + 1) { /* keep the load under one half */
            if (!table_grow(table)) {
                table->failed = 1;
                return 0;
            }
            table->last = NULL;
            return visit(op, arg);
        }
        Py_INCREF(type);
        slot->type = type;
        slot->count = 0;
        table->used++;
    }
    slot->count++;
    table->last = slot;
    return 1;
}

PyDoc_STRVAR(count_types_doc,
"count_types() -> list[tuple[type, int]]\n\n"
"Every gc-tracked object counted by its type, in one C walk of the collector's lists that holds\n"
"the GIL throughout. No Python code runs during the walk.");

static PyObject *
count_types(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    Table table;
    if (!table_init(&table, 1024)) {
        return PyErr_NoMemory();
    }
    PyUnstable_GC_VisitObjects(visit, &table);
    PyObject *result = NULL;
    if (table.failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyList_New((Py_ssize_t)table.used);
    if (result == NULL) {
        goto done;
    }
    Py_ssize_t n = 0;
    for (size_t i = 0; i <= table.mask; i++) {
        Slot *slot = &table.slots[i];
        if (slot->type == NULL) {
            continue;
        }
        PyObject *pair = Py_BuildValue("(On)", (PyObject *)slot->type, slot->count);
        if (pair == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, n++, pair);
    }
done:
    table_clear(&table);
    return result;
}

/* The alternative the table is measured against: a dict keyed by the type itself. Inserting calls
 * the metaclass's tp_hash (Python code, for a metaclass defining __hash__) and allocates an int per
 * object; kept only for the comparison, never for a heap with such metaclasses. */
typedef struct {
    PyObject *counts;
    int failed;
} DictWalk;

static int
visit_dict(PyObject *op, void *arg)
{
    DictWalk *walk = (DictWalk *)arg;
    PyObject *type = (PyObject *)Py_TYPE(op);
    PyObject *old = PyDict_GetItemWithError(walk->counts, type); /* borrowed */
    Py_ssize_t count = 1;
    if (old != NULL) {
        count += PyLong_AsSsize_t(old);
    }
    else if (PyErr_Occurred()) {
        walk->failed = 1;
        return 0;
    }
    PyObject *value = PyLong_FromSsize_t(count);
    if (value == NULL || PyDict_SetItem(walk->counts, type, value) < 0) {
        Py_XDECREF(value);
        walk->failed = 1;
        return 0;
    }
    Py_DECREF(value);
    return 1;
}

PyDoc_STRVAR(count_types_dict_doc,
"count_types_dict() -> dict[type, int]\n\n"
"The same count into a dict keyed by type during the walk (hashing each type by its tp_hash).");

static PyObject *
count_types_dict(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    DictWalk walk = {PyDict_New(), 0};
    if (walk.counts == NULL) {
        return NULL;
    }
    PyUnstable_GC_VisitObjects(visit_dict, &walk);
    if (walk.failed) {
        Py_CLEAR(walk.counts);
    }
    return walk.counts;
}

static PyMethodDef methods[] = {
    {"count_types", count_types, METH_NOARGS, count_types_doc},
    {"count_types_dict", count_types_dict, METH_NOARGS, count_types_dict_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_census",
    .m_doc = "Benchmark-only prototype of a census by PyUnstable_GC_VisitObjects.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__census(void)
{
    return PyModule_Create(&module);
}
