/* source.h - where the firmware's training samples come from: a host file read
 * through semihosting (input.bin, target.bin), or bytes compiled into flash
 * (dataset.h, written by `pyconvert firmware --data`). One reader for both, so the
 * training loop is the same code either way; on a real device the flash variant is
 * what ships, or a sensor driver fills the same batch buffer.
 *
 *   source in;
 *   source_file(&in, "input.bin")  or  source_memory(&in, bytes, size)
 *   (source_open_training opens the training set's pair either way)
 *   while (source_read(&in, batch, sizeof batch)) ...    whole records only
 *   source_rewind(&in);  source_close(&in);
 */
#ifndef BOARD_SOURCE_H
#define BOARD_SOURCE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    FILE *file;                 /* a host file, or NULL for bytes in flash */
    const uint8_t *data;
    size_t size, at;
} source;

/* 1 if the host file opened. Unbuffered: semihosting moves whole reads anyway,
 * and newlib's buffer would cost heap. */
static inline int source_file(source *s, const char *path)
{
    s->file = fopen(path, "rb");
    s->data = NULL;
    s->size = s->at = 0;
    if (s->file)
        setvbuf(s->file, NULL, _IONBF, 0);
    return s->file != NULL;
}

static inline void source_memory(source *s, const uint8_t *data, size_t size)
{
    s->file = NULL;
    s->data = data;
    s->size = size;
    s->at = 0;
}

/* Copy the next `bytes` bytes into dst: 1 if there were that many, else 0 (and the
 * position stays at the end: a partial record is never returned). */
static inline int source_read(source *s, void *dst, size_t bytes)
{
    if (s->file)
        return fread(dst, 1, bytes, s->file) == bytes;
    if (s->size - s->at < bytes) {
        s->at = s->size;
        return 0;
    }
    memcpy(dst, s->data + s->at, bytes);
    s->at += bytes;
    return 1;
}

static inline void source_rewind(source *s)
{
    if (s->file)
        rewind(s->file);
    s->at = 0;
}

static inline void source_close(source *s)
{
    if (s->file)
        fclose(s->file);
    s->file = NULL;
}

/* The training set: the bytes compiled into flash when dataset.h came first
 * (MT_EMBEDDED_DATA), else the host files input.bin and target.bin. 1 if both are
 * open (nothing is left open otherwise). */
static inline int source_open_training(source *in, source *tg)
{
#ifdef MT_EMBEDDED_DATA
    source_memory(in, dataset_input, sizeof dataset_input);
    source_memory(tg, dataset_target, sizeof dataset_target);
    return 1;
#else
    if (!source_file(in, "input.bin"))
        return 0;
    if (source_file(tg, "target.bin"))
        return 1;
    source_close(in);
    return 0;
#endif
}

#endif /* BOARD_SOURCE_H */
