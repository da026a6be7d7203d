/* envelope.h — the routing envelope shared by the broker and the actor loop: ids checked as
 * frames, messages encoded into frames, and multipart sends that never block.
 *
 * Actor -> broker: [destination id][payload]. Broker -> actor: [source id][payload]. The
 * broker's ROUTER adds/strips the connection's routing id in front. See docs/actors.md.
 * This module must never block on a full queue (every send is ZMQ_DONTWAIT) and never trust a
 * frame's length. */
#ifndef FEDPEP_MESSAGES_ENVELOPE_H
#define FEDPEP_MESSAGES_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "common/status.h"
#include "messages/protocol.h"

/* The broker's own actor id: destination of HELLO/HEARTBEAT/BYE/DIRECTORY_REQUEST, source of
 * WELCOME/DIRECTORY/PEER notices and of routing ERRORs (unknown destination, full queue). */
#define ENVELOPE_BROKER_ID "broker"

/* ZMQ_MAXMSGSIZE of every broker and actor socket is the largest message plus this slack: a frame
 * within it reaches the decoder, which refuses an oversized message with a reason; a larger one
 * makes libzmq drop the connection before we see a byte of it. Options are refused when
 * max_message_bytes + ENVELOPE_FRAME_SLACK does not fit an int (ZeroMQ's option type). */
#define ENVELOPE_FRAME_SLACK 1024

/* Whether a frame holds a valid actor id (1..MSG_ID_MAX bytes of [A-Za-z0-9._:-]); if so and out
 * is not NULL, copies it NUL-terminated into out (MSG_ID_CAP bytes). */
bool envelope_frame_id(zframe_t *frame, char *out);

/* Sends the frames [route (if not NULL)][addr][payload] on sock without blocking. route and
 * payload are not consumed. FP_ENET with the reason when the queue is full (EAGAIN) or the route
 * is unknown to a ROUTER_MANDATORY socket (EHOSTUNREACH); *errno_out (may be NULL) gets errno. */
fp_status envelope_send(zsock_t *sock, zframe_t *route, const char *addr, const void *payload,
                        size_t len, int *errno_out, fp_error *err);

/* The same with the payload as a frame, moved without copying: on success *payload is sent
 * and set to NULL; on failure it is left to the caller (nothing was sent). */
fp_status envelope_send_frame(zsock_t *sock, zframe_t *route, const char *addr, zframe_t **payload,
                              int *errno_out, fp_error *err);

/* msg_encode into a frame-ready buffer and envelope_send it; *bytes (may be NULL) gets the
 * encoded size. */
fp_status envelope_send_msg(zsock_t *sock, zframe_t *route, const char *addr, const msg_t *m,
                            const msg_limits *limits, size_t *bytes, int *errno_out, fp_error *err);

#endif
