/* permissions.h — who may speak for a role, and what each role may send: the authorisation
 * table of docs/protocol.md ("Authorisation"), shared by the broker (ids at HELLO) and the actor
 * loop (types on arrival) so the two cannot disagree.
 *
 * An actor id names its role: "coordinator", "evaluator", "store", "launcher", "broker", and
 * "client.K" for client K (K in decimal, no leading zero). The broker registers an id only for
 * the role it names, so a receiver that knows the sender's id (the broker vouches for it)
 * knows its role. Pure functions; no I/O. */
#ifndef FEDPEP_MESSAGES_PERMISSIONS_H
#define FEDPEP_MESSAGES_PERMISSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "messages/protocol.h"

/* The role id names; *index (may be NULL) gets K for "client.K", else 0. MSG_ROLE_ANY for an id
 * that names no role (which no peer may register). */
msg_role msg_id_role(const char *id, uint32_t *index);

/* Whether a peer of role `sender` may send a message of `type` to another actor (not to the
 * broker: the broker decides what it accepts itself). False for MSG_ROLE_ANY. */
bool msg_role_may_send(msg_role sender, msg_type type);

/* Whether HELLO {role, index} from id is a registration the broker may accept: the id names
 * that role (and that client index); the broker's id and role are reserved. */
bool msg_hello_matches_id(const char *id, msg_role role, uint32_t index);

#endif
