/* The sampled blocks still alive, by address: open addressing with linear probing and
 * backward-shift deletion (no tombstones, so lookups stay short however many frees pass). Every
 * free asks it, so a bitmap filter answers the common "not sampled" first without touching the
 * table. The filter is exact: a removal clears its bit unless another live sample shares it. A
 * stale bit would not be a rare cost: the allocator hands a freed block's address straight back,
 * so a sampled block's address is freed again and again, each time through the table.
 * Fixed size, from libc; at most half full.
 */
#ifndef SAMPLER_TABLE_H
#define SAMPLER_TABLE_H

#define SAMPLE_SLOTS (1u << 15)
#define MAX_SAMPLES (SAMPLE_SLOTS / 2)
#define FILTER_BITS (1u << 18)

typedef struct {
    uintptr_t address; /* 0: empty slot */
    uint64_t size;
    double weight; /* bytes this sample stands for */
    uint32_t stack;
    uint32_t unused;
} sample_t;

typedef struct {
    sample_t *slots;
    uint32_t count;
} table_t;

/* A bit per 16-byte unit of address space, modulo 4 MiB, set while a live sample starts there;
 * static, so that the free path loads one word (its pages are only resident once sampling writes
 * them). Not hashed: the frees of one allocator pool then test one or two cache lines of it, which
 * stay cached, rather than a line each (a hashed bit cost the allocation loop 1.7 % more). */
static uint64_t filter[FILTER_BITS / 64];

#define SLOT_BITS 15

static inline uint32_t
filter_bit(uintptr_t address)
{
    return (uint32_t)(address >> 4) & (FILTER_BITS - 1);
}

/* A hash of the filter bit, so that the samples sharing a bit share a home slot. */
static inline uint32_t
home_slot(uintptr_t address)
{
    return (uint32_t)(((uint64_t)filter_bit(address) * 0x9E3779B97F4A7C15ull) >> (64 - SLOT_BITS));
}

static size_t
table_bytes(void)
{
    return SAMPLE_SLOTS * sizeof(sample_t) + sizeof(filter);
}

static int
table_init(table_t *t)
{
    t->slots = calloc(SAMPLE_SLOTS, sizeof(sample_t));
    t->count = 0;
    return t->slots ? 0 : -1;
}

static void
table_clear(table_t *t)
{
    memset(t->slots, 0, SAMPLE_SLOTS * sizeof(sample_t));
    memset(filter, 0, sizeof(filter));
    t->count = 0;
}

static inline int
filter_may_hold(uintptr_t address)
{
    uint32_t bit = filter_bit(address);
    return (filter[bit >> 6] >> (bit & 63)) & 1;
}

/* Bits set in the filter: one per distinct hash of a live sample, no more. */
static uint32_t
filter_bits_set(void)
{
    uint32_t bits = 0;
    for (size_t i = 0; i < FILTER_BITS / 64; i++)
        bits += (uint32_t)__builtin_popcountll(filter[i]);
    return bits;
}

/* Store a sample; 0 when the table is full (the sample is dropped). An address already there
 * (a free this table missed) is overwritten. */
static int
table_insert(table_t *t, uintptr_t address, uint64_t size, double weight, uint32_t stack)
{
    uint32_t mask = SAMPLE_SLOTS - 1;
    uint32_t slot = home_slot(address);
    while (t->slots[slot].address && t->slots[slot].address != address)
        slot = (slot + 1) & mask;
    if (!t->slots[slot].address) {
        if (t->count >= MAX_SAMPLES)
            return 0;
        t->count++;
    }
    sample_t *s = &t->slots[slot];
    s->address = address;
    s->size = size;
    s->weight = weight;
    s->stack = stack;
    uint32_t bit = filter_bit(address);
    filter[bit >> 6] |= 1ull << (bit & 63);
    return 1;
}

static sample_t *
table_find(table_t *t, uintptr_t address)
{
    uint32_t mask = SAMPLE_SLOTS - 1;
    for (uint32_t slot = home_slot(address); t->slots[slot].address; slot = (slot + 1) & mask) {
        if (t->slots[slot].address == address)
            return &t->slots[slot];
    }
    return NULL;
}

static __attribute__((noinline)) void
table_remove_slow(table_t *t, uintptr_t address)
{
    sample_t *found = table_find(t, address);
    if (found == NULL)
        return;
    uint32_t mask = SAMPLE_SLOTS - 1;
    uint32_t hole = (uint32_t)(found - t->slots);
    /* Backward shift: move later entries of the probe run into the hole when their home allows. */
    for (uint32_t next = (hole + 1) & mask; t->slots[next].address; next = (next + 1) & mask) {
        uint32_t home = home_slot(t->slots[next].address);
        if (((next - home) & mask) >= ((next - hole) & mask)) {
            t->slots[hole] = t->slots[next];
            hole = next;
        }
    }
    memset(&t->slots[hole], 0, sizeof(sample_t));
    t->count--;
    /* Linear probing keeps every sample between its home slot and the next empty one. */
    uint32_t bit = filter_bit(address);
    for (uint32_t slot = home_slot(address); t->slots[slot].address; slot = (slot + 1) & mask) {
        if (filter_bit(t->slots[slot].address) == bit)
            return;
    }
    filter[bit >> 6] &= ~(1ull << (bit & 63));
}

/* Forget the sample at ``address``, if any: one bit tested when it is not sampled. */
static inline void
table_remove(table_t *t, uintptr_t address)
{
    if (__builtin_expect(filter_may_hold(address), 0))
        table_remove_slow(t, address);
}

#endif /* SAMPLER_TABLE_H */
