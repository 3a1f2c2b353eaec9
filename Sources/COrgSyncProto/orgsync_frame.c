#include "orgsync_frame.h"

#include "crc32c.h"

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

int osync_read_preface(const uint8_t *buf, size_t len, uint8_t *major, uint8_t *minor) {
    static const uint8_t magic[6] = {'O', 'R', 'G', 'S', '\r', '\n'};
    for (size_t i = 0; i < 6 && i < len; i++) {
        if (buf[i] != magic[i]) return OSYNC_BAD_PREFACE;
    }
    if (len < 8) return OSYNC_NEED_MORE;
    *major = buf[6];
    *minor = buf[7];
    return OSYNC_OK;
}

int osync_read_frame(const uint8_t *buf, size_t len, uint32_t max_payload, osync_frame *out,
                     size_t *consumed) {
    if (len < 14) return OSYNC_NEED_MORE;
    uint32_t length = be32(buf);
    uint8_t type = buf[4];
    uint32_t stream = be32(buf + 6);
    uint32_t crc = be32(buf + 10);
    if (length > max_payload) return OSYNC_TOO_LARGE;
    if (type < 0x01 || type > 0x0A) return OSYNC_UNKNOWN_TYPE;
    if (stream & 0x80000000u) return OSYNC_INVALID;
    if (len - 14 < length) return OSYNC_NEED_MORE;
    uint32_t c = orgsync_crc32c(0, buf, 10);
    c = orgsync_crc32c(c, buf + 14, length);
    if (c != crc) return OSYNC_BAD_CHECKSUM;
    out->type = type;
    out->flags = buf[5];
    out->stream_id = stream;
    out->length = length;
    out->payload = buf + 14;
    *consumed = 14 + (size_t)length;
    return OSYNC_OK;
}
