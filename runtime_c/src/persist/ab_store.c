/* ab_store.c - two flash slots, so a power cut during a save never loses the
 * parameters (see mt_persist.h).
 *
 * Save, into the slot that does not hold the newest valid blob:
 *   1. erase the slot (a cut here: the slot is garbage, the other one is untouched)
 *   2. program the payload, then the header last (a cut here: no valid header, or a
 *      CRC over a partly written payload that does not match)
 * so at every instant at least one slot holds a complete, checked blob. Load reads
 * both slots' checks and takes the valid one with the higher sequence number,
 * compared as serial numbers (the difference as int32), so the counter may wrap. */
#include <stddef.h>
#include "mt/mt_persist.h"
#include "../support/check.h"
#include "blob.h"

static mt_blob_source slot(const mt_flash *f, int k)
{
    mt_blob_source s = { NULL, f->slot_size, f, f->slot_addr[k] };
    return s;
}

/* Which slot holds the newest valid blob: 0, 1, or -1 for none. */
static int newest_slot(const mt_flash *f, const mt_model *m, uint32_t hash, uint32_t *seq)
{
    uint32_t s[2];
    int ok[2];
    for (int k = 0; k < 2; k++) {
        const mt_blob_source src = slot(f, k);
        ok[k] = mt_blob_check(m, hash, &src, &s[k]) == MT_OK;
    }
    int best = -1;
    if (ok[0] && ok[1])
        best = (int32_t)(s[1] - s[0]) > 0 ? 1 : 0;
    else if (ok[0] || ok[1])
        best = ok[0] ? 0 : 1;
    if (best >= 0 && seq)
        *seq = s[best];
    return best;
}

static mt_status flash_ok(const mt_flash *f, const mt_model *m)
{
    MT_CHECK(f && m && f->erase && f->program && f->read, MT_ERR_NULL);
    MT_CHECK(m->n_params > 0 && m->params, MT_ERR_ARG);
    MT_CHECK(f->slot_size >= mt_params_blob_size(m), MT_ERR_ARENA);
    const uint32_t a = f->slot_addr[0], b = f->slot_addr[1], n = (uint32_t)f->slot_size;
    MT_CHECK(a + n <= b || b + n <= a, MT_ERR_ARG);          /* slots must not overlap */
    return MT_OK;
}

mt_status mt_store_save(const mt_flash *f, const mt_model *m, const void *arena, uint32_t hash)
{
    MT_CHECK(arena, MT_ERR_NULL);
    mt_status st = flash_ok(f, m);
    MT_CHECK(st == MT_OK, st);
    uint32_t seq = 0;
    const int newest = newest_slot(f, m, hash, &seq);
    const int target = newest == 0 ? 1 : 0;
    const uint32_t addr = f->slot_addr[target];
    MT_CHECK(f->erase(f->ctx, addr, f->slot_size) == MT_OK, MT_ERR_IO);

    uint8_t chunk[64];
    int32_t fill = 0;
    uint32_t at = addr + MT_BLOB_HEADER;
    for (int32_t p = 0; p < m->n_params; p++) {
        for (int32_t i = 0; i < m->params[p].size; i++) {
            mt_put_u32(chunk + fill, mt_blob_payload_word(m, arena, p, i));
            fill += 4;
            if (fill == (int32_t)sizeof chunk) {
                MT_CHECK(f->program(f->ctx, at, chunk, fill) == MT_OK, MT_ERR_IO);
                at += (uint32_t)fill;
                fill = 0;
            }
        }
    }
    if (fill)
        MT_CHECK(f->program(f->ctx, at, chunk, fill) == MT_OK, MT_ERR_IO);

    uint8_t header[MT_BLOB_HEADER];
    mt_blob_header(m, arena, hash, newest >= 0 ? seq + 1u : 1u, header);
    MT_CHECK(f->program(f->ctx, addr, header, MT_BLOB_HEADER) == MT_OK, MT_ERR_IO);
    return MT_OK;
}

mt_status mt_store_load(const mt_flash *f, const mt_model *m, void *arena, uint32_t hash,
                        uint32_t *sequence)
{
    MT_CHECK(arena, MT_ERR_NULL);
    mt_status st = flash_ok(f, m);
    MT_CHECK(st == MT_OK, st);
    const int newest = newest_slot(f, m, hash, sequence);
    MT_CHECK(newest >= 0, MT_ERR_NOT_FOUND);
    const mt_blob_source src = slot(f, newest);
    return mt_blob_copy_in(m, arena, &src);
}
