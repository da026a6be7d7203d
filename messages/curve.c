/* curve.c — CurveZMQ key files and socket set-up (see curve.h). Uses CZMQ's zcert for the files
 * and zauth for the ZAP handler; adds only fedpep's folder layout and the metadata that binds a
 * key to one actor id and role. Must never log or copy a secret key. */
#include "messages/curve.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "messages/permissions.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* a DRAFT option of libzmq 4.3; refused at run time if absent   \
                                   */
#endif

/* Keeps DIR/name.cert if it exists, else writes a new pair (and, when allow_role is not NULL,
 * its public half with the id and role into DIR/allow). */
static fp_status ensure_pair(const char *dir, const char *name, const char *allow_role,
                             fp_error *err)
{
    char path[4096], allow[4096];
    snprintf(path, sizeof path, "%s/%s.cert", dir, name);
    snprintf(allow, sizeof allow, "%s/allow/%s.cert", dir, name);
    zcert_t *cert = access(path, F_OK) == 0 ? zcert_load(path) : NULL;
    bool fresh = cert == NULL;
    if (fresh && access(path, F_OK) == 0)
        return fp_fail(err, FP_EIO, "%s: not a readable certificate", path);
    if (fresh && !(cert = zcert_new()))
        return fp_fail(err, FP_ENOMEM, "keygen: cannot create a key pair");
    fp_status st = FP_OK;
    if (allow_role) {
        zcert_set_meta(cert, CURVE_META_ID, "%s", name);
        zcert_set_meta(cert, CURVE_META_ROLE, "%s", allow_role);
    }
    mode_t old = umask(077); /* the secret file is the actor's alone */
    if (fresh && zcert_save(cert, path) != 0)
        st = fp_fail(err, FP_EIO, "%s: cannot write: %s", path, strerror(errno));
    umask(old);
    if (!st && allow_role && zcert_save_public(cert, allow) != 0)
        st = fp_fail(err, FP_EIO, "%s: cannot write: %s", allow, strerror(errno));
    zcert_destroy(&cert);
    return st;
}

fp_status curve_keygen(const char *dir, uint32_t n_clients, fp_error *err)
{
    char allow[4096];
    snprintf(allow, sizeof allow, "%s/allow", dir);
    if (zsys_dir_create("%s", allow) != 0)
        return fp_fail(err, FP_EIO, "%s: cannot create the folder", allow);
    static const char *const NAMED[] = {"coordinator", "store", "evaluator"};
    fp_status st = ensure_pair(dir, "broker", NULL, err);
    for (size_t i = 0; !st && i < sizeof NAMED / sizeof NAMED[0]; i++)
        st = ensure_pair(dir, NAMED[i], msg_role_name(msg_id_role(NAMED[i], NULL)), err);
    for (uint32_t k = 0; !st && k < n_clients; k++) {
        char id[32];
        snprintf(id, sizeof id, "client.%u", k);
        st = ensure_pair(dir, id, msg_role_name(MSG_ROLE_CLIENT), err);
    }
    return st;
}

/* DIR/name.cert with its secret half; NULL with err when missing or unreadable. */
static zcert_t *load_pair(const char *dir, const char *name, fp_error *err)
{
    char path[4096], secret[4200];
    snprintf(path, sizeof path, "%s/%s.cert", dir, name);
    snprintf(secret, sizeof secret, "%s_secret", path);
    zcert_t *cert = access(secret, R_OK) == 0 ? zcert_load(path) : NULL;
    if (!cert)
        fp_fail(err, FP_EIO, "%s: no readable key pair (run fedpep keygen %s)", secret, dir);
    return cert;
}

fp_status curve_server_setup(zsock_t *router, const char *dir, zactor_t **auth, fp_error *err)
{
    *auth = NULL;
    if (!zsys_has_curve())
        return fp_fail(err, FP_EINVAL, "this libzmq has no CURVE support");
    zcert_t *cert = load_pair(dir, "broker", err);
    if (!cert)
        return FP_EIO;
    char allow[4096];
    snprintf(allow, sizeof allow, "%s/allow", dir);
    fp_status st = FP_OK;
    int on = 1;
    if (!zsys_file_exists(allow))
        st = fp_fail(err, FP_EIO, "%s: no allow-list folder", allow);
    else if (!(*auth = zactor_new(zauth, NULL)))
        st = fp_fail(err, FP_ENOMEM, "cannot start zauth");
    else if (zstr_sendx(*auth, "CURVE", allow, NULL) || zsock_wait(*auth) < 0)
        st = fp_fail(err, FP_EINVAL, "zauth refused the allow-list %s", allow);
    else if (zmq_setsockopt(zsock_resolve(router), ZMQ_ZAP_ENFORCE_DOMAIN, &on, sizeof on))
        st = fp_fail(err, FP_EINVAL, "this libzmq cannot enforce the ZAP domain: %s",
                     zmq_strerror(zmq_errno()));
    if (!st) {
        zsock_set_zap_domain(router, CURVE_ZAP_DOMAIN);
        zcert_apply(cert, router);
        zsock_set_curve_server(router, 1);
    } else {
        zactor_destroy(auth);
    }
    zcert_destroy(&cert);
    return st;
}

fp_status curve_client_setup(zsock_t *dealer, const char *dir, const char *id, fp_error *err)
{
    zcert_t *mine = load_pair(dir, id, err);
    if (!mine)
        return FP_EIO;
    char path[4096];
    snprintf(path, sizeof path, "%s/broker.cert", dir);
    zcert_t *broker = zcert_load(path);
    if (!broker) {
        zcert_destroy(&mine);
        return fp_fail(err, FP_EIO, "%s: no readable broker certificate", path);
    }
    zcert_apply(mine, dealer);
    zsock_set_curve_serverkey(dealer, zcert_public_txt(broker));
    zcert_destroy(&mine);
    zcert_destroy(&broker);
    return FP_OK;
}
