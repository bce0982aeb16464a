/* params_blob.c - the parameter blob: CRC-32, export, checks, import. */
#include <string.h>
#include "mt/mt_persist.h"
#include "../support/check.h"
#include "blob.h"

/* CRC-32, reflected polynomial 0xEDB88320, one nibble at a time: a 16-entry table
 * (64 bytes of flash) instead of the usual 1 KB, at two table steps per byte. */
uint32_t mt_crc32(uint32_t crc, const uint8_t *data, int32_t size)
{
    static const uint32_t nibble[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
    };
    crc = ~crc;
    for (int32_t i = 0; data && i < size; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ nibble[crc & 15u];
        crc = (crc >> 4) ^ nibble[crc & 15u];
    }
    return ~crc;
}

static int32_t payload_bytes(const mt_model *m)
{
    int64_t words = 0;
    for (int32_t i = 0; i < m->n_params; i++)
        words += m->params[i].size;
    return words * 4 > INT32_MAX - MT_BLOB_HEADER ? -1 : (int32_t)(words * 4);
}

int32_t mt_params_blob_size(const mt_model *m)
{
    if (!m || m->n_params <= 0 || !m->params)
        return 0;
    int32_t payload = payload_bytes(m);
    return payload < 0 ? 0 : MT_BLOB_HEADER + payload;
}

uint32_t mt_blob_payload_word(const mt_model *m, const void *arena, int32_t param, int32_t index)
{
    uint32_t word;
    memcpy(&word, (const char *)arena + m->params[param].offset + 4 * index, 4);
    return word;
}

void mt_blob_header(const mt_model *m, const void *arena, uint32_t model_hash,
                    uint32_t sequence, uint8_t header[MT_BLOB_HEADER])
{
    mt_put_u32(header + 0, MT_BLOB_MAGIC);
    header[4] = (uint8_t)MT_BLOB_VERSION;  header[5] = 0;
    header[6] = (uint8_t)MT_BLOB_HEADER;   header[7] = 0;
    mt_put_u32(header + 8, model_hash);
    mt_put_u32(header + 12, (uint32_t)payload_bytes(m));
    mt_put_u32(header + 16, sequence);
    uint32_t crc = mt_crc32(0, header, 20);
    for (int32_t p = 0; p < m->n_params; p++) {
        for (int32_t i = 0; i < m->params[p].size; i++) {
            uint8_t w[4];
            mt_put_u32(w, mt_blob_payload_word(m, arena, p, i));
            crc = mt_crc32(crc, w, 4);
        }
    }
    mt_put_u32(header + 20, crc);
}

mt_status mt_params_export(const mt_model *m, const void *arena, uint32_t model_hash,
                           uint32_t sequence, uint8_t *blob, int32_t blob_size)
{
    MT_CHECK(m && arena && blob, MT_ERR_NULL);
    const int32_t need = mt_params_blob_size(m);
    MT_CHECK(need > 0, MT_ERR_ARG);                 /* a frozen model has nothing to save */
    MT_CHECK(blob_size >= need, MT_ERR_ARENA);
    mt_blob_header(m, arena, model_hash, sequence, blob);
    uint8_t *out = blob + MT_BLOB_HEADER;
    for (int32_t p = 0; p < m->n_params; p++)
        for (int32_t i = 0; i < m->params[p].size; i++, out += 4)
            mt_put_u32(out, mt_blob_payload_word(m, arena, p, i));
    return MT_OK;
}

static mt_status source_read(const mt_blob_source *s, int32_t offset, uint8_t *dst, int32_t n)
{
    if (offset < 0 || n < 0 || offset > s->size - n)
        return MT_ERR_BLOB_TRUNCATED;
    if (s->mem) {
        memcpy(dst, s->mem + offset, (size_t)n);
        return MT_OK;
    }
    return s->flash->read(s->flash->ctx, s->addr + (uint32_t)offset, dst, n) == MT_OK ? MT_OK
                                                                                     : MT_ERR_IO;
}

mt_status mt_blob_check(const mt_model *m, uint32_t model_hash, const mt_blob_source *src,
                        uint32_t *sequence)
{
    uint8_t h[MT_BLOB_HEADER];
    mt_status st = source_read(src, 0, h, MT_BLOB_HEADER);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(mt_get_u32(h) == MT_BLOB_MAGIC, MT_ERR_BLOB_MAGIC);
    MT_CHECK(h[4] == MT_BLOB_VERSION && h[5] == 0 && h[6] == MT_BLOB_HEADER && h[7] == 0,
             MT_ERR_BLOB_VERSION);
    MT_CHECK(mt_get_u32(h + 8) == model_hash, MT_ERR_BLOB_MODEL);
    const uint32_t payload = mt_get_u32(h + 12);
    MT_CHECK(payload <= (uint32_t)(INT32_MAX - MT_BLOB_HEADER), MT_ERR_BLOB_TRUNCATED);
    MT_CHECK((int64_t)MT_BLOB_HEADER + payload <= src->size, MT_ERR_BLOB_TRUNCATED);
    MT_CHECK((int32_t)payload == payload_bytes(m), MT_ERR_BLOB_MODEL);

    uint32_t crc = mt_crc32(0, h, 20);
    uint8_t chunk[64];
    for (uint32_t done = 0; done < payload;) {
        const int32_t n = payload - done < sizeof chunk ? (int32_t)(payload - done) : (int32_t)sizeof chunk;
        st = source_read(src, MT_BLOB_HEADER + (int32_t)done, chunk, n);
        MT_CHECK(st == MT_OK, st);
        crc = mt_crc32(crc, chunk, n);
        done += (uint32_t)n;
    }
    MT_CHECK(crc == mt_get_u32(h + 20), MT_ERR_BLOB_CRC);
    if (sequence)
        *sequence = mt_get_u32(h + 16);
    return MT_OK;
}

mt_status mt_blob_copy_in(const mt_model *m, void *arena, const mt_blob_source *src)
{
    int32_t offset = MT_BLOB_HEADER;
    for (int32_t p = 0; p < m->n_params; p++) {
        uint8_t *dst = (uint8_t *)arena + m->params[p].offset;
        for (int32_t i = 0; i < m->params[p].size; i++, offset += 4) {
            uint8_t w[4];
            mt_status st = source_read(src, offset, w, 4);
            MT_CHECK(st == MT_OK, st);
            const uint32_t word = mt_get_u32(w);
            memcpy(dst + 4 * i, &word, 4);
        }
    }
    return MT_OK;
}

mt_status mt_params_import(const mt_model *m, void *arena, uint32_t model_hash,
                           const uint8_t *blob, int32_t blob_size, uint32_t *sequence)
{
    MT_CHECK(m && arena && blob, MT_ERR_NULL);
    MT_CHECK(m->n_params > 0 && m->params, MT_ERR_ARG);
    MT_CHECK(blob_size >= 0, MT_ERR_BLOB_TRUNCATED);
    const mt_blob_source src = { blob, blob_size, NULL, 0 };
    mt_status st = mt_blob_check(m, model_hash, &src, sequence);
    MT_CHECK(st == MT_OK, st);
    return mt_blob_copy_in(m, arena, &src);
}
