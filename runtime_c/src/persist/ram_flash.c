/* ram_flash.c - a NOR flash in RAM with a simulated power cut (for tests and
 * emulated boards): erase sets bytes to 0xFF, program ANDs bytes in (it can only
 * clear bits, as real NOR flash), and after `budget` bytes the power "goes": the
 * operation stops where it is and every later one fails until power_on. */
#include "mt/mt_persist.h"
#include "../support/check.h"

static mt_status range_ok(const mt_ram_flash *f, uint32_t addr, int32_t size)
{
    MT_CHECK(f && f->mem, MT_ERR_NULL);
    MT_CHECK(size >= 0 && addr <= (uint32_t)f->size && (uint32_t)size <= (uint32_t)f->size - addr,
             MT_ERR_RANGE);
    MT_CHECK(!f->powered_off, MT_ERR_IO);
    return MT_OK;
}

/* One more byte may change; 0 when the power goes now. */
static int spend(mt_ram_flash *f)
{
    if (f->budget < 0)
        return 1;
    if (f->budget == 0) {
        f->powered_off = 1;
        return 0;
    }
    f->budget--;
    return 1;
}

mt_status mt_ram_flash_erase(void *ctx, uint32_t addr, int32_t size)
{
    mt_ram_flash *f = (mt_ram_flash *)ctx;
    mt_status st = range_ok(f, addr, size);
    MT_CHECK(st == MT_OK, st);
    for (int32_t i = 0; i < size; i++) {
        if (!spend(f))
            return MT_ERR_IO;
        f->mem[addr + (uint32_t)i] = 0xFF;
    }
    return MT_OK;
}

mt_status mt_ram_flash_program(void *ctx, uint32_t addr, const uint8_t *data, int32_t size)
{
    mt_ram_flash *f = (mt_ram_flash *)ctx;
    MT_CHECK(data || size == 0, MT_ERR_NULL);
    mt_status st = range_ok(f, addr, size);
    MT_CHECK(st == MT_OK, st);
    for (int32_t i = 0; i < size; i++) {
        if (!spend(f))
            return MT_ERR_IO;
        f->mem[addr + (uint32_t)i] &= data[i];
    }
    return MT_OK;
}

mt_status mt_ram_flash_read(void *ctx, uint32_t addr, uint8_t *data, int32_t size)
{
    mt_ram_flash *f = (mt_ram_flash *)ctx;
    MT_CHECK(data || size == 0, MT_ERR_NULL);
    mt_status st = range_ok(f, addr, size);
    MT_CHECK(st == MT_OK, st);
    for (int32_t i = 0; i < size; i++)
        data[i] = f->mem[addr + (uint32_t)i];
    return MT_OK;
}

void mt_ram_flash_power_on(mt_ram_flash *f)
{
    if (f) {
        f->powered_off = 0;
        f->budget = -1;
    }
}
