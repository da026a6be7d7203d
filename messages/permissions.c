/* permissions.c — the authorisation table (see permissions.h). Derived from the directions of
 * docs/protocol.md: a type not listed for a role is refused on arrival, whatever its payload.
 * This file must stay a pure table: the checks live where the messages arrive. */
#include "messages/permissions.h"

#include <string.h>

#define BIT(r) (1u << (r))
#define ANY_ACTOR                                                                                  \
    (BIT(MSG_ROLE_COORDINATOR) | BIT(MSG_ROLE_CLIENT) | BIT(MSG_ROLE_EVALUATOR) |                  \
     BIT(MSG_ROLE_STORE) | BIT(MSG_ROLE_LAUNCHER))

/* The roles that may send each type to another actor. HELLO, DIRECTORY_REQUEST (to the broker
 * only), WELCOME, DIRECTORY and PEER_STATE (the broker's own) never travel between actors. */
static const uint32_t MAY_SEND[MSG_TYPE_COUNT] = {
    [MSG_HEARTBEAT] = ANY_ACTOR | BIT(MSG_ROLE_BROKER),
    [MSG_BYE] = ANY_ACTOR | BIT(MSG_ROLE_BROKER),
    [MSG_ERROR] = ANY_ACTOR | BIT(MSG_ROLE_BROKER),
    [MSG_WELCOME] = BIT(MSG_ROLE_BROKER),
    [MSG_DIRECTORY] = BIT(MSG_ROLE_BROKER),
    [MSG_PEER_STATE] = BIT(MSG_ROLE_BROKER),
    [MSG_SCORE_REQUEST] = BIT(MSG_ROLE_COORDINATOR) | BIT(MSG_ROLE_EVALUATOR),
    [MSG_SCORE_REPLY] = BIT(MSG_ROLE_CLIENT),
    [MSG_SELECTION] = BIT(MSG_ROLE_EVALUATOR),
    [MSG_TRAIN] = BIT(MSG_ROLE_COORDINATOR),
    [MSG_UPDATE] = BIT(MSG_ROLE_CLIENT),
    [MSG_EVAL_REQUEST] = BIT(MSG_ROLE_COORDINATOR) | BIT(MSG_ROLE_EVALUATOR),
    [MSG_EVAL_REPLY] = BIT(MSG_ROLE_CLIENT) | BIT(MSG_ROLE_EVALUATOR),
    [MSG_RUN] = BIT(MSG_ROLE_COORDINATOR),
    [MSG_SAVE] = BIT(MSG_ROLE_COORDINATOR),
    [MSG_SAVE_CLIENT] = BIT(MSG_ROLE_CLIENT),
    [MSG_SAVED] = BIT(MSG_ROLE_STORE),
    [MSG_LOAD] = BIT(MSG_ROLE_COORDINATOR) | BIT(MSG_ROLE_CLIENT),
    [MSG_STATE] = BIT(MSG_ROLE_STORE),
};

static const struct {
    const char *id;
    msg_role role;
} NAMED[] = {
    {"coordinator", MSG_ROLE_COORDINATOR},
    {"evaluator", MSG_ROLE_EVALUATOR},
    {"store", MSG_ROLE_STORE},
    {"launcher", MSG_ROLE_LAUNCHER},
    {"broker", MSG_ROLE_BROKER},
};

#define CLIENT_PREFIX "client."

msg_role msg_id_role(const char *id, uint32_t *index)
{
    if (index)
        *index = 0;
    if (!id)
        return MSG_ROLE_ANY;
    for (size_t i = 0; i < sizeof NAMED / sizeof NAMED[0]; i++)
        if (!strcmp(id, NAMED[i].id))
            return NAMED[i].role;
    size_t p = strlen(CLIENT_PREFIX), n = strlen(id);
    /* 1..10 digits, no leading zero (one spelling per client), at most UINT32_MAX */
    if (n <= p || n - p > 10 || strncmp(id, CLIENT_PREFIX, p) || (id[p] == '0' && n - p > 1))
        return MSG_ROLE_ANY;
    uint64_t k = 0;
    for (size_t i = p; i < n; i++) {
        if (id[i] < '0' || id[i] > '9')
            return MSG_ROLE_ANY;
        k = 10 * k + (uint64_t)(id[i] - '0');
    }
    if (k > UINT32_MAX)
        return MSG_ROLE_ANY;
    if (index)
        *index = (uint32_t)k;
    return MSG_ROLE_CLIENT;
}

bool msg_role_may_send(msg_role sender, msg_type type)
{
    if ((unsigned)sender >= MSG_ROLE_COUNT || sender == MSG_ROLE_ANY ||
        (unsigned)type >= MSG_TYPE_COUNT)
        return false;
    return (MAY_SEND[type] & BIT(sender)) != 0;
}

bool msg_hello_matches_id(const char *id, msg_role role, uint32_t index)
{
    uint32_t k = 0;
    msg_role named = msg_id_role(id, &k);
    return named != MSG_ROLE_ANY && named != MSG_ROLE_BROKER && named == role &&
           (role != MSG_ROLE_CLIENT || k == index);
}
