/* The Python stack of a sampled allocation, read inside the allocator.
 *
 * This runs inside PyObject_Malloc and PyMem_Malloc, with the GIL held, at any point of the
 * interpreter's work (a frame half pushed, an object half built). So it only reads structs: no new
 * reference, no frame object materialised (PyThreadState_GetFrame would allocate one on 3.11+), no
 * call that may allocate or free. Names are copied as UTF-8 from the string's own storage and lines
 * come from PyCode_Addr2Line, which walks the line table without allocating (3.10-3.13). This is
 * ddtrace memalloc's approach; only the frames this interpreter could be running are read.
 */
#ifndef SAMPLER_STACK_H
#define SAMPLER_STACK_H

#define SAMPLER_MAX_DEPTH 8
#define SAMPLER_NAME_MAX 255

typedef struct {
    PyObject *file; /* borrowed: the code object's, alive while its frame runs */
    PyObject *func;
    int line;
} raw_frame_t;

static PyThreadState *
current_thread_state(void)
{
#if PY_VERSION_HEX >= 0x030d0000
    return PyThreadState_GetUnchecked();
#else
    return _PyThreadState_UncheckedGet();
#endif
}

static int
code_line(PyCodeObject *code, int unit_index)
{
    return PyCode_Addr2Line(code, unit_index * (int)sizeof(_Py_CODEUNIT));
}

static PyObject *
code_name(PyCodeObject *code)
{
#if PY_VERSION_HEX >= 0x030b0000
    return code->co_qualname ? code->co_qualname : code->co_name;
#else
    return code->co_name;
#endif
}

/* The innermost ``max`` frames of this thread, innermost first; 0 outside Python code. */
static int
read_stack(raw_frame_t *out, int max)
{
    PyThreadState *tstate = current_thread_state();
    int depth = 0;
    if (tstate == NULL)
        return 0;
#if PY_VERSION_HEX >= 0x030b0000
#if PY_VERSION_HEX >= 0x030d0000
    _PyInterpreterFrame *frame = tstate->current_frame;
#else
    _PyInterpreterFrame *frame = tstate->cframe ? tstate->cframe->current_frame : NULL;
#endif
    for (; frame != NULL && depth < max; frame = frame->previous) {
#if PY_VERSION_HEX >= 0x030c0000
        if (frame->owner == FRAME_OWNED_BY_CSTACK)
            continue; /* the interpreter's entry shim, no code of the program's */
#endif
#if PY_VERSION_HEX >= 0x030d0000
        PyObject *executable = frame->f_executable;
        if (executable == NULL || !PyCode_Check(executable))
            continue;
        PyCodeObject *code = (PyCodeObject *)executable;
        int index = (int)(frame->instr_ptr - _PyCode_CODE(code));
#else
        PyCodeObject *code = frame->f_code;
        if (code == NULL)
            continue;
        int index = (int)(frame->prev_instr - _PyCode_CODE(code));
#endif
        if (_PyFrame_IsIncomplete(frame))
            continue; /* being set up: its line would be wrong */
        out[depth].file = code->co_filename;
        out[depth].func = code_name(code);
        out[depth].line = code_line(code, index);
        depth++;
    }
#else
    PyFrameObject *frame = tstate->frame;
    for (; frame != NULL && depth < max; frame = frame->f_back) {
        PyCodeObject *code = frame->f_code;
        out[depth].file = code->co_filename;
        out[depth].func = code_name(code);
        out[depth].line = code_line(code, frame->f_lasti);
        depth++;
    }
#endif
    return depth;
}

/* ``text`` as UTF-8 into ``buffer`` (at most SAMPLER_NAME_MAX bytes, cut at a character), read from
 * the string's own storage: PyUnicode_AsUTF8 may allocate. Returns the length written. */
static size_t
copy_utf8(PyObject *text, char *buffer)
{
    size_t used = 0;
    if (text == NULL || !PyUnicode_Check(text))
        return 0;
#if PY_VERSION_HEX < 0x030c0000
    if (!PyUnicode_IS_READY(text))
        return 0;
#endif
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        unsigned char bytes[4];
        size_t n;
        if (c < 0x80) {
            bytes[0] = (unsigned char)c;
            n = 1;
        } else if (c < 0x800) {
            bytes[0] = (unsigned char)(0xC0 | (c >> 6));
            bytes[1] = (unsigned char)(0x80 | (c & 0x3F));
            n = 2;
        } else if (c < 0x10000) {
            bytes[0] = (unsigned char)(0xE0 | (c >> 12));
            bytes[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            bytes[2] = (unsigned char)(0x80 | (c & 0x3F));
            n = 3;
        } else {
            bytes[0] = (unsigned char)(0xF0 | (c >> 18));
            bytes[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            bytes[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            bytes[3] = (unsigned char)(0x80 | (c & 0x3F));
            n = 4;
        }
        if (used + n > SAMPLER_NAME_MAX)
            break;
        memcpy(buffer + used, bytes, n);
        used += n;
    }
    return used;
}

#endif /* SAMPLER_STACK_H */
