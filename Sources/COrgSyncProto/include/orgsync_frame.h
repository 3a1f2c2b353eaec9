#ifndef ORGSYNC_FRAME_H
#define ORGSYNC_FRAME_H

/* A frame reader written in plain C from docs/PROTOCOL.md alone, to show that a peer in
 * another language can read what the Swift side writes. Used by the interop tests. */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    OSYNC_OK = 0,
    OSYNC_NEED_MORE = 1,
    OSYNC_BAD_PREFACE = -1,
    OSYNC_TOO_LARGE = -2,
    OSYNC_BAD_CHECKSUM = -3,
    OSYNC_UNKNOWN_TYPE = -4,
    OSYNC_INVALID = -5,
};

typedef struct {
    uint8_t type;
    uint8_t flags;
    uint32_t stream_id;
    uint32_t length;
    const uint8_t *payload; /* points into the caller's buffer */
} osync_frame;

/* Reads the 8-byte preface. On OSYNC_OK sets *major and *minor. */
int osync_read_preface(const uint8_t *buf, size_t len, uint8_t *major, uint8_t *minor);

/* Reads one frame from buf. On OSYNC_OK fills *out and sets *consumed to the frame's size. */
int osync_read_frame(const uint8_t *buf, size_t len, uint32_t max_payload, osync_frame *out,
                     size_t *consumed);

#ifdef __cplusplus
}
#endif

#endif
