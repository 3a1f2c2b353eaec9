#ifndef ORGSYNC_CRC32C_H
#define ORGSYNC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI and ext4.
/// `crc` is the value returned by a previous call (0 to start); the result is final
/// (already inverted), so `orgsync_crc32c(orgsync_crc32c(0, a, n), b, m)` equals the CRC of a‖b.
/// crc32c("123456789") == 0xE3069283.
uint32_t orgsync_crc32c(uint32_t crc, const void *data, size_t length);

#ifdef __cplusplus
}
#endif

#endif
