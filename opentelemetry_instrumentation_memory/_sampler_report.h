/* Reading the profile, outside the allocator (included by _sampler.c). Each reader first sums the
 * table into a C array, without a Python call, then builds Python objects: their allocations may
 * add samples, but never while the table is being read. */
#ifndef SAMPLER_REPORT_H
#define SAMPLER_REPORT_H

typedef struct {
    uint64_t samples;
    double bytes;  /* estimated live bytes: the samples' weights */
    double blocks; /* estimated live blocks: each sample's weight over its size */
} total_t;

static void
add(total_t *total, const sample_t *s)
{
    total->samples++;
    total->bytes += s->weight;
    total->blocks += s->size ? s->weight / (double)s->size : 1.0;
}

#define TOTALS (MAX_STACKS + 1) /* the last one for STACK_OVERFLOW */

static uint32_t
total_slot(uint32_t stack)
{
    return stack == STACK_OVERFLOW ? MAX_STACKS : stack;
}

/* Rebuild the interner from the stacks live samples use, dropping the rest; -1 without memory. */
static int
compact(void)
{
    interner_t fresh;
    uint32_t *moved = malloc(MAX_STACKS * sizeof(uint32_t));
    if (moved == NULL || interner_init(&fresh) < 0) {
        free(moved);
        return -1;
    }
    memset(moved, 0xFF, MAX_STACKS * sizeof(uint32_t)); /* STACK_OVERFLOW: not moved yet */
    for (uint32_t i = 0; i < SAMPLE_SLOTS; i++) {
        sample_t *s = &table.slots[i];
        if (!s->address || s->stack == STACK_OVERFLOW)
            continue;
        if (moved[s->stack] == STACK_OVERFLOW)
            moved[s->stack] = intern_copy(&fresh, &interner, s->stack);
        s->stack = moved[s->stack];
    }
    free(moved);
    interner_free(&interner);
    interner = fresh;
    memset(name_cache, 0, sizeof(name_cache));
    return 0;
}

/* An arena string ([length][bytes]); a name cut inside a character, or a lone surrogate, is
 * replaced rather than refused. */
static PyObject *
decoded(const char *stored)
{
    return PyUnicode_DecodeUTF8(stored + 1, (unsigned char)stored[0], "replace");
}

static PyObject *
frames_of(uint32_t stack)
{
    if (stack == STACK_OVERFLOW)
        return Py_BuildValue("((ssi))", "<sampler: stack table full>", "", 0);
    const uint32_t *words = interner.stacks + stack * STACK_WORDS;
    PyObject *frames = PyTuple_New(words[0]);
    for (uint32_t i = 0; frames && i < words[0]; i++) {
        const frame_t *f = &interner.frames[words[i + 1]];
        const char *file = interner.arena + f->file, *func = interner.arena + f->func;
        PyObject *frame = Py_BuildValue("(NNi)", decoded(file), decoded(func), f->line);
        if (frame == NULL)
            Py_CLEAR(frames);
        else
            PyTuple_SET_ITEM(frames, i, frame);
    }
    return frames;
}

/* [(frames, samples, bytes, blocks)] for every stack with a sample; takes ``totals``. */
static PyObject *
report(total_t *totals)
{
    reporting++;
    PyObject *result = PyList_New(0);
    for (uint32_t stack = 0; result && stack < TOTALS; stack++) {
        if (!totals[stack].samples)
            continue;
        PyObject *frames = frames_of(stack == MAX_STACKS ? STACK_OVERFLOW : stack);
        PyObject *row = frames ? Py_BuildValue("(NKdd)", frames, (unsigned long long)totals[stack].samples,
                                               totals[stack].bytes, totals[stack].blocks)
                               : NULL;
        if (row == NULL || PyList_Append(result, row) < 0)
            Py_CLEAR(result);
        Py_XDECREF(row);
    }
    free(totals);
    if (--reporting == 0 && !sampling && interner.arena)
        interner_clear(&interner); /* stopped meanwhile: the stacks go as stop() would have them */
    return result;
}

static PyObject *
sampler_live(PyObject *module, PyObject *unused)
{
    if (table.slots == NULL || !sampling)
        return PyList_New(0);
    if (!reporting && interner_crowded(&interner) && compact() < 0)
        return PyErr_NoMemory();
    total_t *totals = calloc(TOTALS, sizeof(total_t));
    if (totals == NULL)
        return PyErr_NoMemory();
    for (uint32_t i = 0; i < SAMPLE_SLOTS; i++) {
        const sample_t *s = &table.slots[i];
        if (s->address) {
            add(&totals[total_slot(s->stack)], s);
        }
    }
    return report(totals);
}

/* The live sample whose block holds ``object``: the object itself, or its block starting before
 * it at the GC header (two words) or at the managed-dict pre-header (two more, 3.11+). */
static sample_t *
sample_holding(uintptr_t object)
{
    static const uintptr_t offsets[3] = {0, 2 * sizeof(void *), 4 * sizeof(void *)};
    for (int i = 0; i < 3; i++) {
        if (object < offsets[i] || !filter_may_hold(object - offsets[i]))
            continue;
        sample_t *s = table_find(&table, object - offsets[i]);
        if (s && object < s->address + s->size)
            return s;
    }
    return NULL;
}

/* The live sample whose block starts at ``address``: a buffer an object points to. */
static sample_t *
sample_at(uintptr_t address)
{
    return filter_may_hold(address) ? table_find(&table, address) : NULL;
}

/* Sum each sample found once (an object listed twice, or its buffer too, counts once); the second
 * pass clears the marks. */
static void
add_found(total_t *totals, PyObject **objects, Py_ssize_t nobjects, const uintptr_t *buffers,
          Py_ssize_t nbuffers)
{
    for (int marking = 1; marking >= 0; marking--) {
        for (Py_ssize_t i = 0; i < nobjects + nbuffers; i++) {
            sample_t *s = i < nobjects ? sample_holding((uintptr_t)objects[i]) : sample_at(buffers[i - nobjects]);
            if (s && marking && !s->unused) {
                s->unused = 1;
                add(&totals[total_slot(s->stack)], s);
            } else if (s && !marking) {
                s->unused = 0;
            }
        }
    }
}

static PyObject *
sampler_find(PyObject *module, PyObject *args)
{
    PyObject *objects, *addresses;
    if (!PyArg_ParseTuple(args, "OO", &objects, &addresses))
        return NULL;
    PyObject *sequence = PySequence_Fast(objects, "find() takes a sequence of objects");
    PyObject *buffers = sequence ? PySequence_Fast(addresses, "find() takes a sequence of addresses") : NULL;
    if (buffers == NULL) {
        Py_XDECREF(sequence);
        return NULL;
    }
    Py_ssize_t nbuffers = PySequence_Fast_GET_SIZE(buffers);
    uintptr_t *starts = calloc(nbuffers ? nbuffers : 1, sizeof(uintptr_t));
    total_t *totals = starts ? calloc(TOTALS, sizeof(total_t)) : NULL;
    PyObject *result = NULL;
    if (totals == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < nbuffers; i++) {
        starts[i] = (uintptr_t)PyLong_AsVoidPtr(PySequence_Fast_GET_ITEM(buffers, i));
        if (starts[i] == 0 && PyErr_Occurred())
            goto done;
    }
    if (table.slots == NULL || !sampling || table.count == 0) {
        result = PyList_New(0);
        goto done;
    }
    add_found(totals, PySequence_Fast_ITEMS(sequence), PySequence_Fast_GET_SIZE(sequence), starts, nbuffers);
    result = report(totals);
    totals = NULL; /* report() took it */
done:
    free(starts);
    free(totals);
    Py_DECREF(sequence);
    Py_DECREF(buffers);
    return result;
}

static PyObject *
sampler_stats(PyObject *module, PyObject *unused)
{
    size_t own = table.slots ? table_bytes() + interner_bytes() + sizeof(name_cache) : 0;
    return Py_BuildValue("{s:O,s:d,s:i,s:I,s:I,s:I,s:K,s:K,s:d,s:K,s:n,s:I}", "running",
                         sampling ? Py_True : Py_False, "interval", interval, "depth", sample_depth,
                         "live_samples", table.count, "max_samples", (unsigned)MAX_SAMPLES, "stacks",
                         interner.nstacks, "samples_taken", (unsigned long long)samples_taken,
                         "samples_dropped", (unsigned long long)samples_dropped, "bytes_dropped",
                         bytes_dropped, "stacks_overflowed", (unsigned long long)stacks_overflowed,
                         "own_bytes", (Py_ssize_t)own, "filter_bits", filter_bits_set());
}

#endif /* SAMPLER_REPORT_H */
