/* blob.h - reading and checking parameter blobs from memory or a flash slot
 * (internal; the format is in mt_persist.h). */
#ifndef MT_BLOB_H
#define MT_BLOB_H

#include <stdint.h>
#include "mt/mt_persist.h"

#define MT_BLOB_MAGIC 0x3150544Du      /* "MTP1" read as a little-endian word */
#define MT_BLOB_VERSION 1u
#define MT_BLOB_HEADER 24

/* Where a blob's bytes come from: a memory buffer, or a flash slot read in pieces. */
typedef struct {
    const uint8_t *mem;                /* memory blob, or NULL for flash */
    int32_t size;                      /* bytes available                */
    const mt_flash *flash;
    uint32_t addr;
} mt_blob_source;

/* Every check of mt_params_import, reading the source in small pieces (a blob may
 * be larger than any buffer a device can spare). *sequence receives its number. */
mt_status mt_blob_check(const mt_model *m, uint32_t model_hash, const mt_blob_source *src,
                        uint32_t *sequence);

/* Copy a checked blob's payload into the arena's parameters. */
mt_status mt_blob_copy_in(const mt_model *m, void *arena, const mt_blob_source *src);

/* The 24 header bytes for this model's parameters in the arena (computes the CRC). */
void mt_blob_header(const mt_model *m, const void *arena, uint32_t model_hash,
                    uint32_t sequence, uint8_t header[MT_BLOB_HEADER]);

/* Payload word i of the arena's parameters, i in [0, payload bytes / 4). */
uint32_t mt_blob_payload_word(const mt_model *m, const void *arena, int32_t param, int32_t index);

static inline void mt_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t mt_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif /* MT_BLOB_H */
