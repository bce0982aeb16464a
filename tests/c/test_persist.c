/* test_persist.c - parameter blobs and the A/B store, including a power cut at every
 * byte of a save (during the erase and during programming). */
#include <string.h>
#include "mt/mt.h"
#include "mt/mt_persist.h"
#include "mt_test.h"

#define N_A 37
#define N_B 11
static const float init_a[N_A] = {0}, init_b[N_B] = {0};
/* Two trainable parameters after an 8-byte arena header. */
static const mt_param params[2] = {
    { init_a, N_A, 8, {-1, -1} },
    { init_b, N_B, 8 + 4 * N_A, {-1, -1} },
};
static mt_model model;
static float arena[2 + N_A + N_B];            /* header (8 bytes) + values */

static void fill(float *a, float base)
{
    for (int i = 0; i < 2 + N_A + N_B; i++)
        a[i] = base + 0.25f * (float)i;
}

#define BLOB (24 + 4 * (N_A + N_B))
#define SLOT 256
static uint8_t flash_mem[2 * SLOT + 64];

int main(void)
{
    model.n_params = 2;
    model.params = params;
    const uint32_t hash = 0x1234ABCDu;
    uint8_t blob[BLOB + 8];
    float copy[2 + N_A + N_B];

    /* CRC-32 of "123456789" is the standard check value. */
    MT_EXPECT(mt_crc32(0, (const uint8_t *)"123456789", 9) == 0xCBF43926u);
    MT_EXPECT(mt_params_blob_size(&model) == BLOB);

    /* Round trip. */
    fill(arena, 1.0f);
    MT_EXPECT_STATUS(mt_params_export(&model, arena, hash, 7, blob, sizeof blob), MT_OK);
    memset(copy, 0, sizeof copy);
    uint32_t seq = 0;
    MT_EXPECT_STATUS(mt_params_import(&model, copy, hash, blob, BLOB, &seq), MT_OK);
    MT_EXPECT(seq == 7);
    MT_EXPECT(memcmp(copy + 2, arena + 2, 4 * (N_A + N_B)) == 0);
    MT_EXPECT_STATUS(mt_params_export(&model, arena, hash, 7, blob, BLOB - 1), MT_ERR_ARENA);

    /* Every kind of bad blob has its own status, and leaves the arena untouched. */
    uint8_t bad[BLOB];
    fill(copy, 9.0f);
    float before[2 + N_A + N_B];
    memcpy(before, copy, sizeof copy);
    memcpy(bad, blob, BLOB); bad[24 + 13] ^= 0x10;
    MT_EXPECT_STATUS(mt_params_import(&model, copy, hash, bad, BLOB, NULL), MT_ERR_BLOB_CRC);
    memcpy(bad, blob, BLOB); bad[20] ^= 1;
    MT_EXPECT_STATUS(mt_params_import(&model, copy, hash, bad, BLOB, NULL), MT_ERR_BLOB_CRC);
    memcpy(bad, blob, BLOB); bad[0] = 'X';
    MT_EXPECT_STATUS(mt_params_import(&model, copy, hash, bad, BLOB, NULL), MT_ERR_BLOB_MAGIC);
    memcpy(bad, blob, BLOB); bad[4] = 2;
    MT_EXPECT_STATUS(mt_params_import(&model, copy, hash, bad, BLOB, NULL), MT_ERR_BLOB_VERSION);
    MT_EXPECT_STATUS(mt_params_import(&model, copy, hash + 1, blob, BLOB, NULL), MT_ERR_BLOB_MODEL);
    MT_EXPECT_STATUS(mt_params_import(&model, copy, hash, blob, BLOB - 1, NULL), MT_ERR_BLOB_TRUNCATED);
    MT_EXPECT_STATUS(mt_params_import(&model, copy, hash, blob, 10, NULL), MT_ERR_BLOB_TRUNCATED);
    MT_EXPECT(memcmp(copy, before, sizeof copy) == 0);

    /* The A/B store on a RAM flash. */
    mt_ram_flash ram = { flash_mem, (int32_t)sizeof flash_mem, -1, 0 };
    mt_flash flash = { &ram, {0, SLOT + 32}, SLOT, mt_ram_flash_erase, mt_ram_flash_program,
                       mt_ram_flash_read };
    memset(flash_mem, 0xFF, sizeof flash_mem);
    MT_EXPECT_STATUS(mt_store_load(&flash, &model, copy, hash, NULL), MT_ERR_NOT_FOUND);
    MT_EXPECT(memcmp(copy, before, sizeof copy) == 0);

    float v1[2 + N_A + N_B], v2[2 + N_A + N_B], v3[2 + N_A + N_B];
    fill(v1, 100.0f); fill(v2, 200.0f); fill(v3, 300.0f);
    MT_EXPECT_STATUS(mt_store_save(&flash, &model, v1, hash), MT_OK);
    MT_EXPECT_STATUS(mt_store_save(&flash, &model, v2, hash), MT_OK);
    MT_EXPECT_STATUS(mt_store_load(&flash, &model, copy, hash, &seq), MT_OK);
    MT_EXPECT(seq == 2 && memcmp(copy + 2, v2 + 2, 4 * (N_A + N_B)) == 0);

    /* A power cut after every possible number of bytes of the next save: the load
     * afterwards gives exactly v2 or exactly v3, never anything else. */
    uint8_t saved[sizeof flash_mem];
    memcpy(saved, flash_mem, sizeof flash_mem);
    const int32_t total = SLOT + BLOB;            /* erase the slot, then program the blob */
    int got_old = 0, got_new = 0, garbage = 0;
    for (int32_t budget = 0; budget <= total; budget++) {
        memcpy(flash_mem, saved, sizeof flash_mem);
        ram.budget = budget;
        ram.powered_off = 0;
        mt_status st = mt_store_save(&flash, &model, v3, hash);
        mt_ram_flash_power_on(&ram);
        memset(copy, 0, sizeof copy);
        MT_EXPECT(mt_store_load(&flash, &model, copy, hash, &seq) == MT_OK);
        if (memcmp(copy + 2, v3 + 2, 4 * (N_A + N_B)) == 0 && seq == 3)
            got_new++;
        else if (memcmp(copy + 2, v2 + 2, 4 * (N_A + N_B)) == 0 && seq == 2)
            got_old++;
        else
            garbage++;
        MT_EXPECT((st == MT_OK) == (budget == total));
    }
    MT_EXPECT(garbage == 0);
    MT_EXPECT(got_new == 1 && got_old == total);   /* new only once the save completed */

    /* Saves alternate slots, and the sequence keeps counting. */
    memcpy(flash_mem, saved, sizeof flash_mem);
    MT_EXPECT_STATUS(mt_store_save(&flash, &model, v3, hash), MT_OK);
    MT_EXPECT_STATUS(mt_store_save(&flash, &model, v1, hash), MT_OK);
    MT_EXPECT_STATUS(mt_store_load(&flash, &model, copy, hash, &seq), MT_OK);
    MT_EXPECT(seq == 4 && memcmp(copy + 2, v1 + 2, 4 * (N_A + N_B)) == 0);
    /* A blob of another model in the store is not loaded. */
    MT_EXPECT_STATUS(mt_store_load(&flash, &model, copy, hash ^ 1u, NULL), MT_ERR_NOT_FOUND);
    /* A slot too small, or overlapping slots, are refused before touching flash. */
    mt_flash small = flash;
    small.slot_size = BLOB - 1;
    MT_EXPECT_STATUS(mt_store_save(&small, &model, v1, hash), MT_ERR_ARENA);
    mt_flash overlap = flash;
    overlap.slot_addr[1] = 10;
    MT_EXPECT_STATUS(mt_store_save(&overlap, &model, v1, hash), MT_ERR_ARG);
    return mt_test_summary("test_persist");
}
