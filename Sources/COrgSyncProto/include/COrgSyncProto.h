/* Umbrella header: the protoc-c output for Protos/orgsync/v1 and the C frame reader. */
#include "orgsync/v1/common.pb-c.h"
#include "orgsync/v1/records.pb-c.h"
#include "orgsync/v1/sync.pb-c.h"
#include "orgsync/v1/rpc.pb-c.h"
#include "orgsync/v1/enrollment.pb-c.h"
#include "orgsync/v1/rollup.pb-c.h"
#include "orgsync_frame.h"
#include "orgsync_interop.h"
