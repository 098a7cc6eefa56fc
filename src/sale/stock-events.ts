import type { RedisClient } from '../redis/connection.js';
import { STOCK_EVENTS_CHANNEL } from '../redis/keys.js';

/**
 * What every server process hears of the others: reserve.lua publishes
 * SOLD_OUT when it sells a SKU's last unit, release.lua (and a thaw, a new
 * sale window) ON_SALE when units are back.
 */
export type StockEvent = { kind: 'SOLD_OUT' | 'ON_SALE'; sku: string };

/**
 * Subscribes `subscriber` (a connection of its own) and hands each event to
 * `onEvent`. Messages sent while it was disconnected are lost: `onReconnect`
 * is called each time it is ready again. Resolves once subscribed.
 */
export const followStockEvents = async (subscriber: RedisClient, onEvent: (event: StockEvent) => void, onReconnect: () => void): Promise<void> => {
  subscriber.on('message', (_channel: string, message: string) => {
    const space = message.indexOf(' ');
    const kind = message.slice(0, space);
    if (kind === 'SOLD_OUT' || kind === 'ON_SALE') onEvent({ kind, sku: message.slice(space + 1) });
  });
  subscriber.on('ready', onReconnect);
  await subscriber.subscribe(STOCK_EVENTS_CHANNEL);
};
