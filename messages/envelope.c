/* envelope.c — see envelope.h. Sends are all-or-nothing: ZeroMQ delivers a multipart message
 * atomically, and with ZMQ_DONTWAIT only the first frame can fail for lack of room. */
#include "messages/envelope.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

bool envelope_frame_id(zframe_t *frame, char *out)
{
    if (!frame)
        return false;
    size_t n = zframe_size(frame);
    const unsigned char *d = zframe_data(frame);
    if (n == 0 || n > MSG_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!id_char(d[i]))
            return false;
    if (out) {
        memcpy(out, d, n);
        out[n] = 0;
    }
    return true;
}

static int send_part(void *handle, const void *data, size_t len, int more)
{
    return zmq_send(handle, data, len, ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)) < 0 ? -1 : 0;
}

static fp_status send_failed(const char *addr, int e, int *errno_out, fp_error *err)
{
    if (errno_out)
        *errno_out = e;
    const char *why = e == EAGAIN         ? "queue full (high-water mark)"
                      : e == EHOSTUNREACH ? "no such connection"
                                          : zmq_strerror(e);
    return fp_fail(err, FP_ENET, "send via '%s': %s", addr, why);
}

/* The routing frames [route][addr], SNDMORE. Only the first can fail for lack of room. */
static int send_head(void *h, zframe_t *route, const char *addr)
{
    int rc = 0;
    if (route)
        rc = send_part(h, zframe_data(route), zframe_size(route), 1);
    if (!rc)
        rc = send_part(h, addr, strlen(addr), 1);
    return rc;
}

fp_status envelope_send(zsock_t *sock, zframe_t *route, const char *addr, const void *payload,
                        size_t len, int *errno_out, fp_error *err)
{
    void *h = zsock_resolve(sock);
    int rc = send_head(h, route, addr);
    if (!rc)
        rc = send_part(h, payload, len, 0);
    if (rc)
        return send_failed(addr, errno, errno_out, err);
    if (errno_out)
        *errno_out = 0;
    return FP_OK;
}

fp_status envelope_send_frame(zsock_t *sock, zframe_t *route, const char *addr, zframe_t **payload,
                              int *errno_out, fp_error *err)
{
    void *h = zsock_resolve(sock);
    int rc = send_head(h, route, addr);
    if (!rc)
        rc = zframe_send(payload, sock, ZFRAME_DONTWAIT);
    if (rc)
        return send_failed(addr, errno, errno_out, err);
    if (errno_out)
        *errno_out = 0;
    return FP_OK;
}

fp_status envelope_send_msg(zsock_t *sock, zframe_t *route, const char *addr, const msg_t *m,
                            const msg_limits *limits, size_t *bytes, int *errno_out, fp_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (errno_out)
        *errno_out = 0;
    fp_status st = msg_encode(m, limits, &buf, &len, err);
    if (!st)
        st = envelope_send(sock, route, addr, buf, len, errno_out, err);
    free(buf);
    if (bytes)
        *bytes = st ? 0 : len;
    return st;
}
