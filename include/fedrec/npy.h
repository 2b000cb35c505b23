/* npy.h - float matrices in NumPy's .npy format (item image/text features, user
 * sentence embeddings computed outside fedrec).
 *
 * A .npy file is the magic "\x93NUMPY", a major and a minor version byte, the header
 * length (2 bytes little-endian in version 1.0, 4 bytes in 2.0 and 3.0), a Python dict
 * literal {'descr': '<f4', 'fortran_order': False, 'shape': (R, C), } padded with
 * spaces and a '\n', then the raw array bytes (NumPy's NEP 1, "A Simple File Format
 * for NumPy Arrays"). In Python: np.save(path, x) writes one, np.load(path) reads it.
 *
 * Leaves out: .npz archives, integer/complex/object/structured dtypes, arrays of more
 * than two dimensions, memory mapping (the reader holds the file and the float copy in
 * memory at once), and writing any dtype other than <f4.
 */
#ifndef FEDREC_NPY_H
#define FEDREC_NPY_H

#include <stdint.h>
#include "fedrec/status.h"

/* Reads a 2-D (or 1-D, read as n x 1) .npy array into float32 row-major
 * *data [rows x cols], which the caller frees with fr_free. Supports format versions
 * 1.0, 2.0 and 3.0; dtypes <f4, <f8 and <f2 (converted to float), >f4, >f8 and >f2
 * (byte-swapped); fortran_order True (transposed to row-major). Empty arrays (a zero
 * dimension) are read as such, with *data a valid pointer to free.
 *
 * Everything else is FR_ERR_INPUT with one message naming the file and the field:
 * bad magic, unknown version, a header that is not a dict literal, missing or unknown
 * keys ("PATH: header: missing key 'shape'"), a descr that is not one of the six above
 * ("PATH: descr '<i8' is not a floating-point type ..."), a shape of 0 or 3+
 * dimensions, truncated data or bytes after the data, and values that are NaN, Inf or
 * (from <f8) too large for float32 ("PATH: data: row 2, column 1 (0-based) is NaN").
 * On failure *data is NULL and *rows = *cols = 0. */
fr_status fr_npy_read(const char *path, float **data, int64_t *rows, int64_t *cols,
                      fr_error *err);

/* Writes data [rows x cols] (float32, row-major) as a version 1.0 .npy file of dtype
 * <f4 and shape (rows, cols), atomically (fileio.h): on any failure PATH keeps what
 * it held before and no temporary is left behind. NaN/Inf values and negative sizes
 * are refused before anything is written, with FR_ERR_RUNTIME naming the row and
 * column (fr_npy_read would refuse such a file); a failed write is FR_ERR_IO. */
fr_status fr_npy_write(const char *path, const float *data, int64_t rows, int64_t cols,
                       fr_error *err);

#endif
