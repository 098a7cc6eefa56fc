/** `node probe-main.js <host> <port>`: prints yes when the broker answers a metadata request (run inside a lab host by node.ts). */
import { brokerAnswers } from './probe.js';

const [host, port] = process.argv.slice(2);
process.stdout.write((await brokerAnswers(host, Number(port))) ? 'yes\n' : 'no\n');
