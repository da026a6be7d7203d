/* curve.h — CurveZMQ for fedpep's sockets: the key folder `fedpep keygen` writes, the broker's
 * side (zauth with the allow-list, set up before the bind) and an actor's side (its key pair and
 * the broker's public key). Private keys never leave the files they are written to here.
 *
 * Key folder (README, "Security"):
 *   DIR/broker.cert, DIR/broker.cert_secret      the broker's key pair (zcert format)
 *   DIR/ID.cert, DIR/ID.cert_secret              each actor's key pair, ID = its actor id
 *   DIR/allow/ID.cert                            the broker's allow-list: public keys only, each
 *                                                with metadata fedpep-id = ID, fedpep-role = role
 * On a real deployment each host receives only its own ID.cert_secret and broker.cert; the
 * broker's host holds broker.cert_secret and allow/. */
#ifndef FEDPEP_MESSAGES_CURVE_H
#define FEDPEP_MESSAGES_CURVE_H

#include <stdint.h>

#include <czmq.h>

#include "common/status.h"

/* The ZAP domain the broker's socket authenticates in, and the metadata keys zauth copies from
 * an allow-list certificate onto every message of that connection. */
#define CURVE_ZAP_DOMAIN "fedpep"
#define CURVE_META_ID "fedpep-id"
#define CURVE_META_ROLE "fedpep-role"

/* Writes a key folder for the broker, the coordinator, the store, the evaluator and clients
 * 0..n_clients-1 (mkdir -p DIR and DIR/allow, private files 0600). Existing keys are kept, so
 * running it again after adding clients only adds theirs. FP_EIO naming the file on failure. */
fp_status curve_keygen(const char *dir, uint32_t n_clients, fp_error *err);

/* The broker's side, before its socket binds: starts zauth (*auth) accepting only the public
 * keys of DIR/allow, and makes `router` a CURVE server with the broker's key pair in the
 * fedpep ZAP domain, with ZMQ_ZAP_ENFORCE_DOMAIN (without it libzmq lets a connection through
 * when no handler answers). On failure *auth is NULL and err says why. */
fp_status curve_server_setup(zsock_t *router, const char *dir, zactor_t **auth, fp_error *err);

/* An actor's side, before connecting: its key pair DIR/ID.cert_secret and the broker's public
 * key DIR/broker.cert on `dealer`. */
fp_status curve_client_setup(zsock_t *dealer, const char *dir, const char *id, fp_error *err);

#endif
