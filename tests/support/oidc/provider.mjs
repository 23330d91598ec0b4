// A real OpenID Connect provider (node-oidc-provider 9.x) shaped like one Microsoft Entra ID
// tenant, for Keywarden's sign-in tests. Never used outside the test suite.
//
//   node provider.mjs <config.json>
//
// config.json: { tenant, client: {client_id, client_secret, redirect_uris,
//   post_logout_redirect_uris}, accounts_file, rollover_file, tls: {cert, key}, ready_file }
// It listens on 127.0.0.1 on a free port, mounts the provider at /<tenant>/v2.0 (so the
// issuer and discovery document sit where Entra's do) and then writes
// {"issuer", "port", "pid"} to ready_file.
//
// Accounts are read from accounts_file on every lookup, so a test can change an account's
// claims (e.g. remove a group) between two sign-ins:
//   { "<account id>": { "claims": {...}, "id_token_signer": "provider" | "impostor" |
//                       "impostor-unknown-kid" | "rollover" } }
// "impostor" re-signs the issued ID token with a key the provider does not publish (keeping
// the published kid); "impostor-unknown-kid" also uses the impostor's own kid. Everything
// else about those tokens (iss, aud, exp, nonce) stays valid, which is what a forged token
// that MSAL accepts looks like. "rollover" signs with the tenant's next key, which the JWKS
// lists only while rollover_file exists (a signing-key rollover, as Entra ID does them).
//
// Applications (confidential clients of the client-credentials grant, e.g. a pipeline's
// service principal) are read from apps_file on every lookup too:
//   { "<client id>": { "client_secret", "object_id", "roles": [...],
//                      "token_claims": { "<claim>": value | null } } }
// Their access tokens are JWTs (RS256, the tenant's key) for the one resource they ask for
// (`resource=api://...`, which becomes `aud`), carrying Entra's app-only claims: tid, oid
// (also sub), azp, idtyp=app, roles, ver. `token_claims` then overrides claims (null removes
// one): a token from another tenant or issuer, an expired one, all validly signed.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import process from 'node:process';

import {
  decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT,
} from 'jose';
import Provider from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function readAccounts() {
  return JSON.parse(readFileSync(config.accounts_file, 'utf8'));
}

function readApps() {
  return existsSync(config.apps_file) ? JSON.parse(readFileSync(config.apps_file, 'utf8')) : {};
}

// Clients other than Keywarden's own come from apps_file; everything else stays in memory.
const memoryAdapter = createMemoryAdapter();

class AppsAdapter {
  async find(clientId) {
    const app = readApps()[clientId];
    if (!app) {
      return undefined;
    }
    return {
      client_id: clientId,
      client_secret: app.client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    };
  }

  async upsert() {}

  async destroy() {}
}

function adapter(model) {
  return model === 'Client' ? new AppsAdapter() : memoryAdapter(model);
}

function appOnlyClaims(clientId) {
  const app = readApps()[clientId];
  if (!app) {
    return undefined;
  }
  return {
    tid: config.tenant, oid: app.object_id, azp: clientId, idtyp: 'app', roles: app.roles, ver: '2.0',
  };
}

async function privateJwk(kid) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

const signingJwk = await privateJwk(`kw-test-${randomBytes(4).toString('hex')}`);
const impostorJwk = await privateJwk(`kw-impostor-${randomBytes(4).toString('hex')}`);
const rolloverJwk = await privateJwk(`kw-rollover-${randomBytes(4).toString('hex')}`);

function providerConfiguration() {
  return {
    clients: [
      {
        ...config.client,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    adapter,
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    // Entra puts oid, tid, groups and preferred_username into the ID token itself.
    conformIdTokenClaims: false,
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: {
      openid: ['sub', 'oid', 'tid', 'groups'],
      profile: ['name', 'preferred_username', 'given_name', 'family_name'],
      email: ['email'],
    },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf,
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, resource) => ({
          scope: '',
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 3600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: { ClientCredentials: 3600 },
    async extraTokenClaims(ctx, token) {
      return token.kind === 'ClientCredentials' ? appOnlyClaims(token.clientId) : undefined;
    },
    formats: {
      customizers: {
        async jwt(ctx, token, structured) {
          if (token.kind !== 'ClientCredentials') {
            return;
          }
          const { payload } = structured;
          payload.sub = payload.oid;
          payload.nbf = payload.iat;
          delete payload.client_id;
          const overrides = readApps()[token.clientId]?.token_claims ?? {};
          for (const [claim, value] of Object.entries(overrides)) {
            if (value === null) {
              delete payload[claim];
            } else {
              payload[claim] = value;
            }
          }
        },
      },
    },
    async findAccount(ctx, id) {
      const account = readAccounts()[id];
      if (!account) {
        return undefined;
      }
      return {
        accountId: id,
        async claims() {
          return { ...account.claims, sub: id };
        },
      };
    },
  };
}

async function impostorSigned(idToken) {
  const payload = decodeJwt(idToken);
  const mode = readAccounts()[payload.sub]?.id_token_signer ?? 'provider';
  if (mode === 'provider') {
    return idToken;
  }
  const signer = mode === 'rollover' ? rolloverJwk : impostorJwk;
  const kid = mode === 'impostor' ? decodeProtectedHeader(idToken).kid : signer.kid;
  const key = await importJWK(signer, 'RS256');
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key);
}

function publicJwk({ kty, n, e, kid, alg, use }) {
  return { kty, n, e, kid, alg, use };
}

function mounted(prefix, handler) {
  // Mount the provider under the tenant path the way express would (oidc-provider reads
  // req.originalUrl to build its own URLs).
  return (req, res) => {
    if (req.url !== prefix && !req.url.startsWith(`${prefix}/`)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    req.originalUrl = req.url;
    req.url = req.url.slice(prefix.length) || '/';
    handler(req, res);
  };
}

const tls = { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) };
let handler = (req, res) => res.writeHead(503).end();
const server = https.createServer(tls, (req, res) => handler(req, res));

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const prefix = `/${config.tenant}/v2.0`;
  const provider = new Provider(`https://localhost:${port}${prefix}`, providerConfiguration());
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'token' && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: await impostorSigned(ctx.body.id_token) };
    }
    if (ctx.oidc?.route === 'jwks' && existsSync(config.rollover_file)) {
      ctx.body = { keys: [...ctx.body.keys, publicJwk(rolloverJwk)] };
    }
  });
  handler = mounted(prefix, provider.callback());
  const ready = `${config.ready_file}.tmp`;
  writeFileSync(ready, JSON.stringify({ issuer: provider.issuer, port, pid: process.pid }));
  renameSync(ready, config.ready_file);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
// The launcher holds our stdin open: if the test run dies without stopping us, so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
