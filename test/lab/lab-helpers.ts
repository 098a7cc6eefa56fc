import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { LabHost } from '../../src/lab/index.js';
import { labSupported } from '../../src/lab/index.js';

/** Whether the lab runs here; the reason is printed once when it does not (the tests are then skipped, not failed). */
export const support = await labSupported();
if (!support.ok) console.warn(`lab tests skipped: ${support.reason}`);
export const skipReason = support.ok ? '' : ` (skipped: ${support.reason})`;

/** What a TCP connect from inside a lab host met: an answer from our server (its greeting), silence, or an error. */
export interface ConnectSeen {
  outcome: 'answered' | 'timeout' | 'error';
  code?: string;
  greeting?: string;
  ms: number;
}

const CONNECT_CODE = `
import { connect } from 'node:net';
const [host, port, timeoutMs] = process.argv.slice(1);
const started = Date.now();
const done = (seen) => { console.log(JSON.stringify({ ...seen, ms: Date.now() - started })); process.exit(0); };
const socket = connect(Number(port), host);
socket.setTimeout(Number(timeoutMs), () => done({ outcome: 'timeout' }));
let greeting = '';
socket.on('data', (chunk) => { greeting += chunk; if (greeting.endsWith('\\n')) done({ outcome: 'answered', greeting: greeting.trim() }); });
socket.on('error', (error) => done({ outcome: 'error', code: error.code }));
`;

/** A TCP connect from `from` to `to`:port, given up after `timeoutMs` of silence. */
export const connectFrom = async (from: LabHost, to: LabHost, port: number, timeoutMs = 1_500): Promise<ConnectSeen> =>
  JSON.parse(await from.runNode({ code: CONNECT_CODE }, [to.address, String(port), String(timeoutMs)])) as ConnectSeen;

/** A TCP server in `host` that greets every connection with `greeting` (so an answer is known to come from it); resolves once it listens. */
export const greeter = async (host: LabHost, port: number, greeting: string): Promise<ChildProcess> => {
  const code = `
    import { createServer } from 'node:net';
    createServer((s) => { s.on('error', () => {}); s.end(${JSON.stringify(`${greeting}\n`)}); }).listen(${port}, ${JSON.stringify(host.address)}, () => console.log('listening'));
  `;
  const child = host.spawn([process.execPath, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  return child;
};

/** Not answered: silence or "no route", never a connection, never an answer from someone else. */
export const UNANSWERED = ['timeout', 'error:EHOSTUNREACH', 'error:ENETUNREACH'];
export const seen = (s: ConnectSeen): string => (s.outcome === 'error' ? `error:${s.code}` : s.outcome);
