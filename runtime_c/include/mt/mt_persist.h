/* mt_persist.h - keeping what the device learned: parameter blobs and an A/B store.
 *
 * A blob holds a model's trainable parameters (mt_model.params, in table order) as
 * written by training, with a header that lets a reader reject anything else:
 *
 *   offset  size  field
 *        0     4  magic "MTP1" (bytes 'M' 'T' 'P' '1')
 *        4     2  format version (1)
 *        6     2  header size (24)
 *        8     4  model hash: the converter's hash of the parameter layout
 *                 (<NAME>_PARAMS_HASH), so a blob never loads into another model
 *       12     4  payload bytes (4 per parameter value)
 *       16     4  sequence number (the A/B store's "newer than")
 *       20     4  CRC-32 (IEEE, as zlib) of bytes 0..19 and the payload
 *       24     -  payload: every parameter value as a 4-byte little-endian word
 *
 * All fields little-endian. Import checks everything before it writes a byte of
 * the arena: a rejected blob leaves the parameters as they were.
 *
 * The A/B store keeps two slots on a flash device the user describes with erase /
 * program / read callbacks. Saving writes the slot that does not hold the newest
 * valid blob (erase, payload, header last) with the next sequence number; loading
 * takes the valid slot with the highest sequence. A power cut at any point of a
 * save leaves the other slot intact, and the torn slot fails its checks, so a load
 * returns either the previous or the new parameters, never a mixture.
 */
#ifndef MT_PERSIST_H
#define MT_PERSIST_H

#include <stdint.h>
#include "mt_status.h"
#include "mt_model.h"

/* Bytes of the blob of this model's trainable parameters (0 if it has none). */
int32_t mt_params_blob_size(const mt_model *model);

/* Serialise the parameters in the arena into blob (blob_size >= mt_params_blob_size). */
mt_status mt_params_export(const mt_model *model, const void *arena, uint32_t model_hash,
                           uint32_t sequence, uint8_t *blob, int32_t blob_size);

/* Check a blob and, only if it is valid for this model, copy it into the arena;
 * *sequence (may be NULL) receives its sequence number. */
mt_status mt_params_import(const mt_model *model, void *arena, uint32_t model_hash,
                           const uint8_t *blob, int32_t blob_size, uint32_t *sequence);

/* CRC-32 (IEEE 802.3, reflected, as zlib.crc32): crc = mt_crc32(crc, data, n), start at 0. */
uint32_t mt_crc32(uint32_t crc, const uint8_t *data, int32_t size);

/* A flash device: two slots of slot_size bytes at slot_addr[0] (A) and [1] (B).
 * erase sets a range to 0xFF; program writes bytes into an erased range; read
 * copies bytes out. Each returns MT_OK or an error (a power cut, a driver fault). */
typedef struct {
    void *ctx;
    uint32_t slot_addr[2];
    int32_t slot_size;
    mt_status (*erase)(void *ctx, uint32_t addr, int32_t size);
    mt_status (*program)(void *ctx, uint32_t addr, const uint8_t *data, int32_t size);
    mt_status (*read)(void *ctx, uint32_t addr, uint8_t *data, int32_t size);
} mt_flash;

/* Save the arena's parameters to the older slot with the next sequence number. */
mt_status mt_store_save(const mt_flash *flash, const mt_model *model, const void *arena,
                        uint32_t model_hash);

/* Load the newest valid slot into the arena (MT_ERR_NOT_FOUND if neither is valid;
 * the arena is then untouched). *sequence (may be NULL) receives its number. */
mt_status mt_store_load(const mt_flash *flash, const mt_model *model, void *arena,
                        uint32_t model_hash, uint32_t *sequence);

/* A flash device in RAM, for tests and emulated boards: NOR semantics (erase to
 * 0xFF, program can only clear bits) and an optional simulated power cut after
 * `budget` more bytes have been erased or programmed (-1: never). After the cut
 * every operation fails until mt_ram_flash_power_on. */
typedef struct {
    uint8_t *mem;
    int32_t size;
    int32_t budget;
    int32_t powered_off;
} mt_ram_flash;

mt_status mt_ram_flash_erase(void *ram_flash, uint32_t addr, int32_t size);
mt_status mt_ram_flash_program(void *ram_flash, uint32_t addr, const uint8_t *data, int32_t size);
mt_status mt_ram_flash_read(void *ram_flash, uint32_t addr, uint8_t *data, int32_t size);
void mt_ram_flash_power_on(mt_ram_flash *ram_flash);

#endif /* MT_PERSIST_H */
