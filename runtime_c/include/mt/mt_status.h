/* mt_status.h - the one status type every runtime entry point returns.
 *
 * 0 is success; every error is negative, so `if (st < 0)` or `if (st != MT_OK)`
 * both work. Entry points validate all arguments once, before touching memory,
 * and return one of these instead of crashing.
 *
 * (No preprocessor inside the declarations: the host build feeds this file to
 * cffi's cdef parser after stripping the '#' lines.)
 */
#ifndef MT_STATUS_H
#define MT_STATUS_H

typedef enum {
    MT_OK              =  0,
    MT_ERR_NULL        = -1, /* a required pointer is NULL                          */
    MT_ERR_ARG         = -2, /* a parameter value is invalid (stride 0, lr < 0, ...) */
    MT_ERR_SHAPE       = -3, /* tensor dims are non-positive or inconsistent        */
    MT_ERR_ARENA       = -4, /* the caller's arena is smaller than the plan needs    */
    MT_ERR_UNSUPPORTED = -5, /* a valid request this build does not implement        */
    MT_ERR_OVERFLOW    = -6, /* an integer result would not fit its type            */
    MT_ERR_NONFINITE   = -7, /* NaN or Inf appeared (loss, gradient, parameter)     */
    MT_ERR_RANGE       = -8, /* a value is out of its domain (class label, index)   */
    MT_ERR_IO          = -9, /* a flash callback reported a failure                 */
    /* Parameter blobs (mt_persist.h): each way a blob can be wrong has its own code. */
    MT_ERR_BLOB_MAGIC     = -10, /* not a parameter blob                            */
    MT_ERR_BLOB_VERSION   = -11, /* a blob format this runtime does not read        */
    MT_ERR_BLOB_MODEL     = -12, /* the parameters of another model                 */
    MT_ERR_BLOB_TRUNCATED = -13, /* shorter than its header says                    */
    MT_ERR_BLOB_CRC       = -14, /* contents changed since written (CRC-32 mismatch) */
    MT_ERR_NOT_FOUND      = -15  /* no valid parameter slot in the store            */
} mt_status;

/* A short constant English name for a status ("bad argument", ...). */
const char *mt_status_str(mt_status status);

#endif /* MT_STATUS_H */
