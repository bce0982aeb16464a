/* status.c - names for status codes, and shape helpers shared by all kernels. */
#include "mt/mt_status.h"
#include "mt/mt_types.h"
#include "check.h"

const char *mt_status_str(mt_status status)
{
    switch (status) {
    case MT_OK:              return "ok";
    case MT_ERR_NULL:        return "null pointer";
    case MT_ERR_ARG:         return "bad argument";
    case MT_ERR_SHAPE:       return "bad shape";
    case MT_ERR_ARENA:       return "arena too small";
    case MT_ERR_UNSUPPORTED: return "unsupported";
    case MT_ERR_OVERFLOW:    return "numeric overflow";
    case MT_ERR_NONFINITE:   return "non-finite value";
    case MT_ERR_RANGE:       return "value out of range";
    case MT_ERR_IO:          return "flash i/o failed";
    case MT_ERR_BLOB_MAGIC:     return "not a parameter blob";
    case MT_ERR_BLOB_VERSION:   return "unknown blob version";
    case MT_ERR_BLOB_MODEL:     return "blob of another model";
    case MT_ERR_BLOB_TRUNCATED: return "blob truncated";
    case MT_ERR_BLOB_CRC:       return "blob CRC mismatch";
    case MT_ERR_NOT_FOUND:      return "no valid parameters stored";
    }
    return "unknown status";
}
