// A real, third-party OpenID provider (panva's oidc-provider) set up to behave like ID-porten, so
// that altinn_async's ID-porten client can be tested against code we did not write.
//
//   node provider.mjs CONFIG.json
//
// CONFIG.json (snake_case; everything but `clients` and `persons` has a default):
//   host, port (0 = any free port), issuer, clients[], persons[], default_person, api_scopes[],
//   access_token_format ("jwt" | "opaque"), access_token_audience, clock_tolerance,
//   lifetimes { access_token, refresh_token, authorization, id_token, authorization_code,
//               session, interaction }  (seconds)
// A client entry is oidc-provider client metadata plus an optional `consumer_orgno`.
// A person is { pid, locale, amr }.
//
// Once listening it prints one line, `READY <issuer>`, on stdout; everything else goes to stderr.
//
// oidc-provider 9 warns "Unsupported runtime" on Node 20 (it is tested on 22+), but it runs there;
// it needs Node >= 20.18 (URL.parse), hence package.json's engines.

import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors, interactionPolicy } from 'oidc-provider';

// oidc-provider prints notices with console.info; stdout is reserved for the READY line so the
// parent can read it without draining a pipe forever.
console.info = console.error;
console.log = console.error;

if (process.argv.length !== 3) {
  console.error('usage: node provider.mjs CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const host = config.host ?? '127.0.0.1';
const lifetimes = {
  // ID-porten's client-registration defaults (access 120 s, refresh 600 s of inactivity, at most
  // 7200 s for the whole authorization); the id_token in Digdir's example lives 120 s.
  access_token: 120,
  refresh_token: 600,
  authorization: 7200,
  id_token: 120,
  authorization_code: 60,
  session: 7200,
  interaction: 600,
  ...config.lifetimes,
};
const API_SCOPES = config.api_scopes ?? ['altinn:instances.read', 'altinn:instances.write'];
const JWT_ACCESS_TOKENS = (config.access_token_format ?? 'jwt') === 'jwt';
const ACR_VALUES = ['idporten-loa-substantial', 'idporten-loa-high'];
const DEFAULT_AUDIENCE = JWT_ACCESS_TOKENS
  ? config.access_token_audience ?? 'https://altinn.test/'
  : undefined;

const persons = new Map(config.persons.map((person) => [person.pid, person]));
const defaultPerson = config.default_person ?? config.persons[0].pid;
const consumerOrgno = new Map(config.clients.map((c) => [c.client_id, c.consumer_orgno]));
const clients = config.clients.map(({ consumer_orgno: _, ...metadata }) => metadata);

// ID-porten's subject is pairwise per client; the salt keeps it stable for one server's lifetime
// only, which is all a test needs.
const pairwiseSalt = crypto.randomBytes(16).toString('hex');

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

// ID-porten's acr_values is a minimum level: ask for high and you get high, otherwise substantial.
function acrFor(acrValues) {
  const requested = (acrValues ?? '').split(' ');
  return requested.includes('idporten-loa-high') ? 'idporten-loa-high' : 'idporten-loa-substantial';
}

function resourceServer(audience) {
  return {
    audience,
    // openid and profile belong here too: ID-porten's access token lists every granted scope.
    scope: ['openid', 'profile', ...API_SCOPES].join(' '),
    accessTokenTTL: lifetimes.access_token,
    accessTokenFormat: JWT_ACCESS_TOKENS ? 'jwt' : 'opaque',
    jwt: { sign: { alg: 'RS256' } },
  };
}

// The clients are native apps so that any loopback port matches their redirect_uri (RFC 8252),
// but oidc-provider then wants a consent screen on every login, which ID-porten never shows: with
// an SSO session, prompt=none must come back with a code.
function policy() {
  const prompts = interactionPolicy.base();
  prompts.get('consent').checks.remove('native_client_prompt');
  return prompts;
}

async function start(port) {
  const issuer = config.issuer ?? `http://${host}:${port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey()] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    clockTolerance: config.clock_tolerance ?? 5,

    responseTypes: ['code'],
    pkce: { required: () => true }, // oidc-provider only implements S256, as ID-porten demands
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256'],
      idTokenSigningAlgValues: ['RS256'],
    },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: 'RS256',
      subject_type: 'pairwise',
    },
    subjectTypes: ['public', 'pairwise'],
    async pairwiseIdentifier(ctx, accountId, client) {
      return crypto.hash('sha256', `${client.clientId}:${accountId}:${pairwiseSalt}`, 'base64url');
    },

    // Opaque access tokens carry the API scopes as plain OIDC scopes; JWT ones get them from the
    // resource server below.
    scopes: ['openid', 'profile', ...(JWT_ACCESS_TOKENS ? [] : API_SCOPES)],
    acrValues: ACR_VALUES,
    claims: {
      // ID-porten's id_token always has these, whatever the scopes and without a claims request.
      openid: ['sub', 'pid', 'locale', 'acr', 'amr', 'auth_time'],
      profile: ['pid', 'locale'],
      sid: null,
    },
    conformIdTokenClaims: false,
    async findAccount(ctx, sub) {
      const person = persons.get(sub);
      if (!person) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, pid: person.pid, locale: person.locale ?? 'nb' };
        },
      };
    },
    async extraTokenClaims(ctx, token) {
      if (token.kind !== 'AccessToken') return undefined;
      const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
      const orgno = consumerOrgno.get(token.clientId);
      return {
        pid: token.accountId,
        acr: source?.acr,
        client_amr: ctx.oidc.client.clientAuthMethod,
        ...(orgno && { consumer: { authority: 'iso6523-actorid-upis', ID: `0192:${orgno}` } }),
      };
    },

    // ID-porten issues refresh tokens to every client registered for the grant (no
    // offline_access), rotates them on each use, and ties them to the authorization rather than
    // to the SSO session.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    expiresWithSession: async () => false,
    // Revoking any token of a grant revokes the whole grant (ID-porten's rule); logging out does
    // not (undocumented there, so we keep tokens alive).
    revokeGrantPolicy: (ctx) => ctx.oidc.route === 'revocation',

    async assertJwtClientAuthClaimsAndHeader(ctx, claims) {
      // oidc-provider checks iss; ID-porten also wants sub = client_id and the client_id field.
      if (claims.sub !== claims.iss) {
        throw new errors.InvalidClientAuth('sub (JWT subject) must be the client_id');
      }
      if (ctx.oidc.body?.client_id === undefined) {
        throw new errors.InvalidRequest('client_id must be sent with client_assertion');
      }
    },

    interactions: { policy: policy() },
    features: {
      devInteractions: { enabled: false }, // replaced by the scripted login below
      pushedAuthorizationRequests: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource },
      revocation: { enabled: true },
      introspection: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Every access token is for one audience unless the client asks for another (RFC 8707);
        // oidc-provider can only sign access tokens as JWTs when they have an audience.
        defaultResource: async (ctx, client, oneOf) => oneOf ?? DEFAULT_AUDIENCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource) => resourceServer(resource),
      },
    },

    // ID-porten's paths, all on one host (ID-porten serves /authorize and /logout from login.*).
    routes: {
      authorization: '/authorize',
      token: '/token',
      userinfo: '/userinfo',
      jwks: '/jwks.json',
      pushed_authorization_request: '/par',
      end_session: '/logout',
      revocation: '/token/revoke',
      introspection: '/token/introspect',
    },
    discovery: { ui_locales_supported: ['nb', 'nn', 'en', 'se'] },

    ttl: {
      AccessToken: lifetimes.access_token,
      AuthorizationCode: lifetimes.authorization_code,
      IdToken: lifetimes.id_token,
      Interaction: lifetimes.interaction,
      Session: lifetimes.session,
      Grant: lifetimes.authorization,
      // The refresh lifetime counts from the last use, capped by the authorization's lifetime
      // counted from the first token (iiat survives rotation).
      RefreshToken(ctx, token) {
        const used = Math.floor(Date.now() / 1000) - token.iiat;
        return Math.max(1, Math.min(lifetimes.refresh_token, lifetimes.authorization - used));
      },
    },
  });

  // ID-porten puts sid in the id_token of clients registered for front-channel logout with
  // session; oidc-provider ties it to back-channel logout, which would have it call the clients.
  provider.Client.prototype.includeSid = () => true;

  // The scripted login: a GET on the interaction URL logs in a test person and consents at once,
  // so a plain HTTP client following redirects ends at the redirect_uri. Query parameters:
  // person=<pid> picks the person, deny=1 ends the flow as if the user cancelled.
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'GET' || !/^\/interaction\/[^/]+$/.test(ctx.path)) return next();

    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params, session, grantId } = details;
    let result;
    if (ctx.query.deny) {
      result = { error: 'access_denied', error_description: 'The user cancelled the login' };
    } else if (prompt.name === 'login') {
      const pid = ctx.query.person ?? defaultPerson;
      const person = persons.get(pid);
      if (!person) {
        ctx.status = 400;
        ctx.body = `unknown test person ${pid}`;
        return undefined;
      }
      const acr = acrFor(params.acr_values);
      result = { login: { accountId: pid, acr, amr: person.amr ?? ['TestID'] } };
    } else {
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
    }
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result));
    return undefined;
  });

  return provider;
}

// ID-porten logs out without asking; oidc-provider insists on a confirmation form. This one says
// yes and posts itself in a browser; a test client submits it as it is (the fixture's logout()).
async function logoutSource(ctx, form) {
  const yes = '<input type="hidden" name="logout" value="yes"/></form>';
  ctx.body = `<!DOCTYPE html><html><head><title>Logout</title></head>
<body onload="document.forms[0].submit()">${form.replace('</form>', yes)}</body></html>`;
}

// Bind first: with port 0 the issuer is only known once the OS has picked the port.
let handler = (req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handler(req, res));
server.on('error', (err) => {
  console.error(`provider: ${err.message}`);
  process.exit(1);
});
server.listen(config.port ?? 0, host, async () => {
  const provider = await start(server.address().port);
  handler = provider.callback();
  process.stdout.write(`READY ${provider.issuer}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
