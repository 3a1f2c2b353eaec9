#include "orgsync_interop.h"

#include <protobuf-c/protobuf-c.h>
#include <stdlib.h>
#include <string.h>

#include "orgsync/v1/common.pb-c.h"
#include "orgsync/v1/records.pb-c.h"
#include "orgsync/v1/rpc.pb-c.h"
#include "orgsync/v1/enrollment.pb-c.h"
#include "orgsync/v1/rollup.pb-c.h"
#include "orgsync/v1/sync.pb-c.h"

static const ProtobufCMessageDescriptor *const all[] = {
#include "orgsync_descriptors.inc"
};

size_t osync_message_count(void) { return sizeof all / sizeof all[0]; }

const char *osync_message_name(size_t index) {
    return index < osync_message_count() ? all[index]->name : NULL;
}

static const ProtobufCMessageDescriptor *find(const char *name) {
    for (size_t i = 0; i < osync_message_count(); i++) {
        if (strcmp(all[i]->name, name) == 0) return all[i];
    }
    return NULL;
}

/* Position of field `f` among the members of its oneof (fields sharing a quantifier offset). */
static unsigned oneof_position(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                               unsigned *members) {
    unsigned pos = 0, count = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *g = &d->fields[i];
        if ((g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && g->quantifier_offset == f->quantifier_offset) {
            if (g == f) pos = count;
            count++;
        }
    }
    *members = count;
    return pos;
}

unsigned osync_variant_count(const char *name) {
    const ProtobufCMessageDescriptor *d = find(name);
    if (!d) return 0;
    unsigned most = 1;
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            unsigned members;
            oneof_position(d, &d->fields[i], &members);
            if (members > most) most = members;
        }
    }
    return most;
}

static const char *sample_text = "太平村党支部「创先争优」第三季度检查 🌾";

static ProtobufCMessage *fill(const ProtobufCMessageDescriptor *d, unsigned variant, int depth);

/* Writes one value of field f at dst (a scalar slot or an array element). */
static void set_value(const ProtobufCFieldDescriptor *f, void *dst, int element, int depth) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *)dst = -123456 - element;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)dst = 4000000000u + element;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)dst = -9000000000000LL - element;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)dst = 0xF00DFACECAFE0000ULL + element;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)dst = -1.5f;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)dst = -2.25;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)dst = 1;
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int *)dst = e->values[e->n_values - 1 - (element % e->n_values)].value;
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        *(char **)dst = strdup(sample_text);
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = dst;
        b->len = 16;
        b->data = malloc(16);
        for (int i = 0; i < 16; i++) b->data[i] = (uint8_t)(0xF0 + i + element);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)dst = fill(f->descriptor, 0, depth + 1);
        break;
    }
}

static size_t value_size(ProtobufCType type) {
    switch (type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 8;
}

static ProtobufCMessage *fill(const ProtobufCMessageDescriptor *d, unsigned variant, int depth) {
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    protobuf_c_message_init(d, m);
    if (depth > 4) return m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *base = (char *)m;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            unsigned members, pos = oneof_position(d, f, &members);
            if (pos != variant % members) continue;
            *(uint32_t *)(base + f->quantifier_offset) = f->id;
            set_value(f, base + f->offset, 0, depth);
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t size = value_size(f->type);
            char *array = calloc(2, size);
            for (int k = 0; k < 2; k++) set_value(f, array + k * size, k, depth);
            *(size_t *)(base + f->quantifier_offset) = 2;
            *(void **)(base + f->offset) = array;
        } else {
            set_value(f, base + f->offset, 0, depth);
        }
    }
    return m;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *length) {
    *length = protobuf_c_message_get_packed_size(m);
    uint8_t *out = malloc(*length ? *length : 1);
    protobuf_c_message_pack(m, out);
    return out;
}

uint8_t *osync_fill_pack(const char *name, unsigned variant, size_t *length) {
    const ProtobufCMessageDescriptor *d = find(name);
    if (!d) return NULL;
    ProtobufCMessage *m = fill(d, variant, 0);
    uint8_t *out = pack(m, length);
    protobuf_c_message_free_unpacked(m, NULL);
    return out;
}

int osync_reencode(const char *name, const uint8_t *in, size_t length, uint8_t **out, size_t *out_length) {
    const ProtobufCMessageDescriptor *d = find(name);
    if (!d) return -1;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, length, in);
    if (!m) return -1;
    *out = pack(m, out_length);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
