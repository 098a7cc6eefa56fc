import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { AnswerSample } from '../src/bench/load/load-plan.js';

/**
 * openapi.json, the description of `seckill serve`'s HTTP API, held to what
 * the server answers: the shared HTTP helpers (helpers.ts) pass every answer
 * of a `seckill serve` the tests started through `checkAnswer`, which throws,
 * naming the route and the status, when the document does not list the
 * answer or its body, headers or content type do not fit. The document is
 * the one file; nothing here repeats what it says.
 */

export const OPENAPI_FILE = new URL('../openapi.json', import.meta.url);

/** The two ports of `seckill serve`: the buyers' (`--port`) and the operator port (`--metrics-port`). */
export type ServerPort = 'buyers' | 'operator';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export const openApiDocument = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as JsonObject;

/** The id ajv knows the document by; `#/components/schemas/X` inside it resolve against it. */
const DOCUMENT_ID = 'https://seckill.local/openapi.json';
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * JSON Schema 2020-12, as OpenAPI 3.1 (`jsonSchemaDialect`) uses it, strict:
 * a keyword ajv does not know, or a type a keyword does not apply to, is an
 * error in the document, not something silently ignored. The document's
 * top-level OpenAPI fields are declared as keywords with no meaning, so that
 * the document itself is the schema every `$ref` resolves in.
 */
const newAjv = (): Ajv2020 => {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats.default(ajv);
  ajv.addVocabulary(Object.keys(openApiDocument));
  ajv.addSchema(openApiDocument, DOCUMENT_ID);
  return ajv;
};
const ajv = newAjv();

const escapePart = (part: string) => part.replaceAll('~', '~0').replaceAll('/', '~1');
const unescapePart = (part: string) => part.replaceAll('~1', '/').replaceAll('~0', '~');

export class OpenApiMismatch extends Error {
  override name = 'OpenApiMismatch';
}

/** `look` of each pointer worked out once: the document does not change while the suite runs. */
const oncePerPointer = <T>(look: (pointer: string) => T): ((pointer: string) => T) => {
  const seen = new Map<string, T>();
  return (pointer) => {
    if (!seen.has(pointer)) seen.set(pointer, look(pointer));
    return seen.get(pointer)!;
  };
};

const walkTo = (pointer: string): Json => {
  let value: Json = openApiDocument;
  for (const part of pointer.split('/').slice(1).map(unescapePart)) {
    const next: Json | undefined = typeof value === 'object' && value !== null ? (value as Record<string, Json>)[part] : undefined;
    if (next === undefined) throw new OpenApiMismatch(`openapi.json has nothing at ${pointer} (no "${part}")`);
    value = next;
  }
  return value;
};

/** The value at a JSON pointer (`/paths/~1reserve`) of the document; throws naming the pointer when there is none. */
export const valueAt = oncePerPointer(walkTo);

/** A pointer past `$ref`s (`#/...` only): where the object it names really is. */
export const followRefs = oncePerPointer((pointer: string): string => {
  for (let hops = 0; hops < 20; hops++) {
    const value = valueAt(pointer);
    const ref = typeof value === 'object' && value !== null && !Array.isArray(value) ? value.$ref : undefined;
    if (typeof ref !== 'string') return pointer;
    if (!ref.startsWith('#/')) throw new OpenApiMismatch(`openapi.json: ${pointer} refers outside the document (${ref})`);
    pointer = ref.slice(1);
  }
  throw new OpenApiMismatch(`openapi.json: ${pointer} is a loop of $refs`);
});

const objectAt = (pointer: string): JsonObject => valueAt(followRefs(pointer)) as JsonObject;

/** The compiled schema at a pointer of the document. */
export const schemaAt = oncePerPointer((pointer: string): ValidateFunction => {
  const validate = ajv.getSchema(`${DOCUMENT_ID}#${pointer}`);
  if (!validate) throw new OpenApiMismatch(`openapi.json: no schema at ${pointer}`);
  return validate;
});

/** The ports a path is served on: its own `servers`, else the document's, each tagged `x-seckill-port`. */
const portsOf = (pathItem: JsonObject): ServerPort[] => {
  const servers = (pathItem.servers ?? openApiDocument.servers) as JsonObject[];
  return servers.map((server) => server['x-seckill-port'] as ServerPort);
};

/** `/orders/{orderId}/pay` → a regex for the paths it covers (a parameter is one path segment). */
const templateRegex = (template: string): RegExp => new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);

const pathTemplates = Object.keys(openApiDocument.paths as JsonObject).map((template) => ({
  template,
  pointer: `/paths/${escapePart(template)}`,
  regex: templateRegex(template),
}));

/** The documented path a request path falls under, on a port (null when none is). */
export const routeOf = (port: ServerPort, path: string): { template: string; pointer: string } | null => {
  for (const route of pathTemplates) {
    if (route.regex.test(path) && portsOf(objectAt(route.pointer)).includes(port)) return route;
  }
  return null;
};

/** The methods a path item lists, upper case. */
export const methodsOf = (pointer: string): string[] =>
  Object.keys(objectAt(pointer))
    .filter((key) => HTTP_METHODS.includes(key))
    .map((method) => method.toUpperCase());

export interface AnswerSeen {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface RequestSent {
  port: ServerPort;
  method: string;
  /** as sent: the path and any query */
  path: string;
  /** the body sent, if any */
  body?: string | Buffer;
}

const mediaType = (contentType: string | undefined): string | undefined => contentType?.split(';')[0].trim().toLowerCase();

const schemaErrors = (validate: ValidateFunction): string => ajv.errorsText(validate.errors, { dataVar: 'body', separator: '; ' });

/** The answer against one Response object of the document: its headers, its content type and its body. */
const checkResponse = (what: string, method: string, responsePointer: string, answer: AnswerSeen): void => {
  const pointer = followRefs(responsePointer);
  const response = valueAt(pointer) as JsonObject;
  const shown = `${what} answered ${answer.status}`;
  for (const [name, header] of Object.entries((response.headers ?? {}) as JsonObject)) {
    const headerPointer = followRefs(`${pointer}/headers/${escapePart(name)}`);
    const value = answer.headers[name.toLowerCase()];
    if (value === undefined) {
      if ((header as JsonObject).required === true) throw new OpenApiMismatch(`${shown} without the ${name} header openapi.json says it carries`);
      continue;
    }
    const validate = schemaAt(`${headerPointer}/schema`);
    if (!validate(value)) throw new OpenApiMismatch(`${shown} with ${name}: ${String(value)}, not as openapi.json says: ${schemaErrors(validate)}`);
  }
  const content = response.content as JsonObject | undefined;
  // An answer to HEAD is the head of the GET's answer, without its body.
  if (method === 'HEAD') return;
  if (content === undefined) {
    if (answer.text !== '') throw new OpenApiMismatch(`${shown} with a body, where openapi.json says it has none: ${answer.text.slice(0, 200)}`);
    return;
  }
  const type = mediaType(answer.headers['content-type']);
  const entry = Object.keys(content).find((key) => mediaType(key) === type);
  if (entry === undefined) {
    throw new OpenApiMismatch(`${shown} as ${String(type)}, where openapi.json lists ${Object.keys(content).join(', ')}: ${answer.text.slice(0, 200)}`);
  }
  let body: unknown = answer.text;
  if (type === 'application/json') {
    try {
      body = JSON.parse(answer.text);
    } catch {
      throw new OpenApiMismatch(`${shown} with a body that is not JSON: ${answer.text.slice(0, 200)}`);
    }
  }
  const validate = schemaAt(`${pointer}/content/${escapePart(entry)}/schema`);
  if (!validate(body)) throw new OpenApiMismatch(`${shown} not as openapi.json says (${schemaErrors(validate)}): ${answer.text.slice(0, 300)}`);
};

/** A documented status of a responses map: the exact code, else its class (`4XX`), else `default`. */
const responseFor = (responsesPointer: string, status: number): string | null => {
  const responses = objectAt(responsesPointer);
  const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => k in responses);
  return key === undefined ? null : `${followRefs(responsesPointer)}/${key}`;
};

/**
 * Throws an OpenApiMismatch, naming the route and the status, unless
 * openapi.json describes this answer to this request: a listed status of the
 * operation with its headers, content type and body, or the answer the
 * port gives to a path or a method not listed (with an `Allow` naming the
 * path's methods), or node's own 400/408 before any route. A request the
 * server accepted (2xx) must also have had a body the document accepts.
 */
export const checkAnswer = (request: RequestSent, answer: AnswerSeen): void => {
  const method = request.method.toUpperCase();
  const path = request.path.split('?')[0];
  const portPointer = `/x-seckill-ports/${request.port}`;
  const beforeRouting = `${portPointer}/beforeRouting`;
  if (answer.headers['content-type'] === undefined && answer.text === '' && String(answer.status) in objectAt(beforeRouting)) {
    return checkResponse(`${method} ${path} (before any route)`, method, `${beforeRouting}/${answer.status}`, answer);
  }
  const route = routeOf(request.port, path);
  const documented = (responsesPointer: string, what: string) => {
    const response = responseFor(responsesPointer, answer.status);
    if (response === null) {
      throw new OpenApiMismatch(
        `${what} answered ${answer.status}, a status openapi.json does not list (it lists ${Object.keys(objectAt(responsesPointer)).join(', ')}): ${answer.text.slice(0, 200)}`,
      );
    }
    checkResponse(what, method, response, answer);
  };
  if (route === null) return documented(`${portPointer}/unlistedPath`, `${method} ${path} (a path openapi.json does not list on the ${request.port} port)`);
  const methods = methodsOf(route.pointer);
  if (!methods.includes(method)) {
    documented(`${portPointer}/unlistedMethod`, `${method} ${route.template} (a method openapi.json does not list)`);
    const allow = String(answer.headers.allow).split(/, */).sort();
    if (answer.status === 405 && allow.join() !== [...methods].sort().join()) {
      throw new OpenApiMismatch(`${method} ${route.template} answered Allow: ${String(answer.headers.allow)}, where openapi.json lists ${methods.join(', ')}`);
    }
    return;
  }
  const operation = `${followRefs(route.pointer)}/${method.toLowerCase()}`;
  const what = `${method} ${route.template}`;
  documented(`${operation}/responses`, what);
  if (answer.status < 300) checkAcceptedBody(what, operation, request.body);
};

/** The body of a request the server accepted, against the operation's request body (JSON): an accepted body the document refuses is drift too. */
const checkAcceptedBody = (what: string, operationPointer: string, sent: string | Buffer | undefined): void => {
  const operation = objectAt(operationPointer);
  if (operation.requestBody === undefined || sent === undefined || sent.length === 0) return;
  const bodyPointer = followRefs(`${operationPointer}/requestBody`);
  let body: unknown;
  try {
    body = JSON.parse(sent.toString());
  } catch {
    throw new OpenApiMismatch(`${what} accepted a body that is not JSON, where openapi.json asks for JSON: ${sent.toString().slice(0, 200)}`);
  }
  const validate = schemaAt(`${bodyPointer}/content/application~1json/schema`);
  if (!validate(body)) throw new OpenApiMismatch(`${what} accepted a body openapi.json refuses (${schemaErrors(validate)}): ${sent.toString().slice(0, 200)}`);
};

// --- which servers the tests talk to ----------------------------------------

/** origin (`http://127.0.0.1:PORT`) → the port of a running `seckill serve` it is */
const describedOrigins = new Map<string, ServerPort>();

/** From now on, answers from this address are checked against openapi.json (`seckill serve`'s buyers' or operator port). */
export const describeOrigin = (url: string, port: ServerPort): void => void describedOrigins.set(new URL(url).origin, port);

/** The server at this address has stopped: its port may be taken by something else next. */
export const forgetOrigin = (url: string): void => void describedOrigins.delete(new URL(url).origin);

/**
 * How an answer from `url` departs from openapi.json, or null when it does
 * not (or `url` is not the port of a `seckill serve` the tests started: other
 * servers are not described).
 */
export const answerMismatch = (url: string, method: string, body: string | Buffer | undefined, answer: AnswerSeen): OpenApiMismatch | null => {
  const { origin, pathname, search } = new URL(url);
  const port = describedOrigins.get(origin);
  if (port === undefined) return null;
  try {
    checkAnswer({ port, method, path: `${pathname}${search}`, body }, answer);
    return null;
  } catch (error) {
    if (error instanceof OpenApiMismatch) return error;
    throw error;
  }
};

/**
 * The answers a bench run's buyers got — its `answerSamples`, the first of
 * each status and outcome, whole, with the POST /reserve body it answered —
 * each held to openapi.json as the HTTP tests' answers are.
 */
export const checkBenchAnswers = (samples: readonly AnswerSample[]): void => {
  for (const sample of samples) {
    checkAnswer(
      { port: 'buyers', method: 'POST', path: '/reserve', body: sample.requestBody },
      { status: sample.status, headers: sample.headers, text: sample.body },
    );
  }
};
