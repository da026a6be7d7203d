/* actor_agent.h — private to actors/: the thread that holds an actor's DEALER socket to the
 * broker (register, heartbeat, presume the broker dead, reconnect with back-off) so that heartbeats
 * go on while the role computes.
 *
 * Pipe protocol between actor.c (main) and the agent:
 *   main -> agent: [to][payload]  send payload to actor `to` (dropped when not registered)
 *                  ["$BYE"]        say BYE if registered, then signal
 *                  ["$TERM"]       end (zactor_destroy)
 *   agent -> main: [source][payload]          a message from actor `source`
 *                  ["$UP"][epoch, decimal]     registered (WELCOME received)
 *                  ["$DOWN"][reason]           the broker is lost; reconnecting
 *                  ["$GIVEUP"][reason]         no broker for give_up_ms
 * Control words start with '$', which no actor id may contain. */
#ifndef FEDPEP_ACTORS_ACTOR_AGENT_H
#define FEDPEP_ACTORS_ACTOR_AGENT_H

#include <czmq.h>

#include "actors/actor.h"

/* The zactor body; arg is a const actor_options_t * that must outlive the agent. */
void actor_agent(zsock_t *pipe, void *arg);

#endif
