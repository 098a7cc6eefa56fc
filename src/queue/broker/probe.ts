import { connect } from 'node:net';

/**
 * Asks a broker for its metadata (Metadata v4, no topics) over a plain
 * socket and says whether it lists a live broker: the listener only answers
 * once the node has started, and the broker list is empty until the node is
 * registered and unfenced. Kept byte-level so the Kafka client stays in src/queue/kafka.ts.
 */
export const brokerAnswers = (host: string, port: number, timeoutMs = 1_000): Promise<boolean> =>
  new Promise((done) => {
    const clientId = Buffer.from('seckill-probe');
    const request = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length + 4 + 1);
    let at = request.writeInt32BE(request.length - 4, 0);
    at = request.writeInt16BE(3, at); // api key: Metadata
    at = request.writeInt16BE(4, at); // version 4, the oldest Kafka 4 still serves
    at = request.writeInt32BE(1, at); // correlation id
    at = request.writeInt16BE(clientId.length, at);
    at += clientId.copy(request, at);
    at = request.writeInt32BE(0, at); // topics: none (an empty array, not null = all)
    request.writeInt8(0, at); // allow_auto_topic_creation: false

    const socket = connect({ port, host });
    let reply = Buffer.alloc(0);
    const finish = (answered: boolean) => {
      socket.destroy();
      done(answered);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      // size, correlation id, throttle_time_ms, then the broker array's length.
      if (reply.length >= 16) finish(reply.readInt32BE(4) === 1 && reply.readInt32BE(12) > 0);
    });
  });
