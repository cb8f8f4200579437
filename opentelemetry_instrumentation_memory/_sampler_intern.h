/* Sampled stacks, stored once each: names in an arena, frames (file, function, line) and stacks
 * (frame ids, innermost first) in fixed tables with open-addressing indexes. Fixed capacities keep
 * the memory bounded; all of it comes from libc (never PyMem, whose calls would re-enter the
 * sampler). Nothing is ever removed: ``compact`` (outside the allocator) rebuilds the tables from
 * the stacks live samples still use. A stack that does not fit gets STACK_OVERFLOW.
 */
#ifndef SAMPLER_INTERN_H
#define SAMPLER_INTERN_H

#define ARENA_BYTES (192 * 1024)
#define MAX_STRINGS 8192
#define MAX_FRAMES 8192
#define MAX_STACKS 4096
#define STACK_WORDS (SAMPLER_MAX_DEPTH + 1) /* depth, then frame ids */
#define STACK_OVERFLOW 0xFFFFFFFFu

typedef struct {
    uint32_t file, func; /* arena offsets: [uint8 length][bytes] */
    int32_t line;
} frame_t;

typedef struct {
    char *arena;
    uint32_t arena_used;
    uint32_t *string_index; /* 2 * MAX_STRINGS slots of offset + 1; 0 is empty */
    uint32_t strings;
    frame_t *frames;
    uint32_t *frame_index;
    uint32_t nframes;
    uint32_t *stacks; /* MAX_STACKS * STACK_WORDS */
    uint32_t *stack_index;
    uint32_t nstacks;
} interner_t;

static uint32_t
fnv1a(const void *data, size_t n, uint32_t hash)
{
    const unsigned char *bytes = data;
    for (size_t i = 0; i < n; i++)
        hash = (hash ^ bytes[i]) * 16777619u;
    return hash;
}

#define FNV_SEED 2166136261u

static size_t
interner_bytes(void)
{
    return ARENA_BYTES + 2 * MAX_STRINGS * 4 + MAX_FRAMES * sizeof(frame_t) + 2 * MAX_FRAMES * 4 +
           MAX_STACKS * STACK_WORDS * 4 + 2 * MAX_STACKS * 4;
}

static void
interner_free(interner_t *in)
{
    free(in->arena);
    free(in->string_index);
    free(in->frames);
    free(in->frame_index);
    free(in->stacks);
    free(in->stack_index);
    memset(in, 0, sizeof(*in));
}

static int
interner_init(interner_t *in)
{
    memset(in, 0, sizeof(*in));
    in->arena = malloc(ARENA_BYTES);
    in->string_index = calloc(2 * MAX_STRINGS, 4);
    in->frames = malloc(MAX_FRAMES * sizeof(frame_t));
    in->frame_index = calloc(2 * MAX_FRAMES, 4);
    in->stacks = malloc(MAX_STACKS * STACK_WORDS * 4);
    in->stack_index = calloc(2 * MAX_STACKS, 4);
    if (!in->arena || !in->string_index || !in->frames || !in->frame_index || !in->stacks ||
        !in->stack_index) {
        interner_free(in);
        return -1;
    }
    return 0;
}

/* The arena offset of these bytes, stored once; UINT32_MAX when full. */
static uint32_t
intern_string(interner_t *in, const char *text, size_t n)
{
    uint32_t mask = 2 * MAX_STRINGS - 1;
    for (uint32_t slot = fnv1a(text, n, FNV_SEED) & mask;; slot = (slot + 1) & mask) {
        uint32_t entry = in->string_index[slot];
        if (entry == 0) {
            if (in->strings >= MAX_STRINGS || in->arena_used + 1 + n > ARENA_BYTES)
                return UINT32_MAX;
            uint32_t offset = in->arena_used;
            in->arena[offset] = (char)n;
            memcpy(in->arena + offset + 1, text, n);
            in->arena_used += (uint32_t)(1 + n);
            in->strings++;
            in->string_index[slot] = offset + 1;
            return offset;
        }
        const char *stored = in->arena + entry - 1;
        if ((unsigned char)stored[0] == n && memcmp(stored + 1, text, n) == 0)
            return entry - 1;
    }
}

static uint32_t
intern_frame(interner_t *in, uint32_t file, uint32_t func, int32_t line)
{
    frame_t key = {file, func, line};
    uint32_t mask = 2 * MAX_FRAMES - 1;
    for (uint32_t slot = fnv1a(&key, sizeof(key), FNV_SEED) & mask;; slot = (slot + 1) & mask) {
        uint32_t entry = in->frame_index[slot];
        if (entry == 0) {
            if (in->nframes >= MAX_FRAMES)
                return UINT32_MAX;
            in->frames[in->nframes] = key;
            in->frame_index[slot] = ++in->nframes;
            return in->nframes - 1;
        }
        frame_t *f = &in->frames[entry - 1];
        if (f->file == file && f->func == func && f->line == line)
            return entry - 1;
    }
}

/* ``words``: depth, then frame ids. */
static uint32_t
intern_stack(interner_t *in, const uint32_t *words)
{
    size_t n = (words[0] + 1) * 4;
    uint32_t mask = 2 * MAX_STACKS - 1;
    for (uint32_t slot = fnv1a(words, n, FNV_SEED) & mask;; slot = (slot + 1) & mask) {
        uint32_t entry = in->stack_index[slot];
        if (entry == 0) {
            if (in->nstacks >= MAX_STACKS)
                return STACK_OVERFLOW;
            memcpy(in->stacks + in->nstacks * STACK_WORDS, words, n);
            in->stack_index[slot] = ++in->nstacks;
            return in->nstacks - 1;
        }
        if (memcmp(in->stacks + (entry - 1) * STACK_WORDS, words, n) == 0)
            return entry - 1;
    }
}

/* Arena offsets of the names seen lately, by the string object: copying and hashing a file name
 * at every sample would be most of a sample's cost. An entry holds only while the string at that
 * address still reads as the stored name, compared byte for byte (a freed name's address reused by
 * another string fails it). Not by the string's cached hash: code objects' file and qualified names
 * are seldom hashed, so such a cache missed nearly always. Cleared when compaction moves the arena. */
#define NAME_CACHE 1024

typedef struct {
    PyObject *text;
    uint32_t offset;
} cached_name_t;

static cached_name_t name_cache[NAME_CACHE];

/* Whether ``text`` (alive: it is a running frame's) is the stored name; only ASCII is compared, the
 * rest is copied again. */
static int
reads_as(PyObject *text, const char *stored)
{
    if (!PyUnicode_Check(text) || !PyUnicode_IS_COMPACT_ASCII(text))
        return 0;
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    size_t n = length > SAMPLER_NAME_MAX ? SAMPLER_NAME_MAX : (size_t)length;
    return (unsigned char)stored[0] == n && memcmp(stored + 1, PyUnicode_DATA(text), n) == 0;
}

static uint32_t
intern_name(interner_t *in, PyObject *text)
{
    cached_name_t *entry = &name_cache[((uintptr_t)text >> 4) & (NAME_CACHE - 1)];
    if (text != NULL && entry->text == text && reads_as(text, in->arena + entry->offset))
        return entry->offset;
    char name[SAMPLER_NAME_MAX] = {0};
    uint32_t offset = intern_string(in, name, copy_utf8(text, name));
    if (text != NULL && offset != UINT32_MAX) {
        entry->text = text;
        entry->offset = offset;
    }
    return offset;
}

/* Forget every stack, keeping the tables: when no live sample uses one any more. */
static void
interner_clear(interner_t *in)
{
    memset(in->string_index, 0, 2 * MAX_STRINGS * 4);
    memset(in->frame_index, 0, 2 * MAX_FRAMES * 4);
    memset(in->stack_index, 0, 2 * MAX_STACKS * 4);
    in->arena_used = in->strings = in->nframes = in->nstacks = 0;
    memset(name_cache, 0, sizeof(name_cache));
}

/* A stack read by read_stack, stored; STACK_OVERFLOW when a table is full. */
static uint32_t
intern_raw(interner_t *in, const raw_frame_t *frames, int depth)
{
    uint32_t words[STACK_WORDS];
    words[0] = (uint32_t)depth;
    for (int i = 0; i < depth; i++) {
        uint32_t file = intern_name(in, frames[i].file);
        uint32_t func = intern_name(in, frames[i].func);
        if (file == UINT32_MAX || func == UINT32_MAX)
            return STACK_OVERFLOW;
        words[i + 1] = intern_frame(in, file, func, frames[i].line);
        if (words[i + 1] == UINT32_MAX)
            return STACK_OVERFLOW;
    }
    return intern_stack(in, words);
}

/* Stack ``id`` of ``from`` stored in ``to``: how compaction carries the live stacks over. */
static uint32_t
intern_copy(interner_t *to, const interner_t *from, uint32_t id)
{
    uint32_t words[STACK_WORDS];
    const uint32_t *stack = from->stacks + id * STACK_WORDS;
    words[0] = stack[0];
    for (uint32_t i = 1; i <= stack[0]; i++) {
        const frame_t *f = &from->frames[stack[i]];
        const char *file = from->arena + f->file, *func = from->arena + f->func;
        uint32_t new_file = intern_string(to, file + 1, (unsigned char)file[0]);
        uint32_t new_func = intern_string(to, func + 1, (unsigned char)func[0]);
        if (new_file == UINT32_MAX || new_func == UINT32_MAX)
            return STACK_OVERFLOW;
        words[i] = intern_frame(to, new_file, new_func, f->line);
        if (words[i] == UINT32_MAX)
            return STACK_OVERFLOW;
    }
    return intern_stack(to, words);
}

/* Whether a table is three quarters full: time to compact. */
static int
interner_crowded(const interner_t *in)
{
    return in->nstacks * 4 >= MAX_STACKS * 3 || in->nframes * 4 >= MAX_FRAMES * 3 ||
           in->strings * 4 >= MAX_STRINGS * 3 || in->arena_used * 4 >= ARENA_BYTES * 3;
}

#endif /* SAMPLER_INTERN_H */
