import type { OrderEvent } from '../sale/order-event.js';

/** A message the order consumer could not apply, as written to the dead-letter queue. */
export interface DeadLetter {
  reason: string;
  /** the order, when the message parsed as one */
  event: OrderEvent | null;
  /** the message as received, when it did not */
  raw: string | null;
  failedAt: number;
}

export const deadLetterOf = (reason: string, event: OrderEvent | null, raw: string | null): DeadLetter => ({
  reason,
  event,
  raw: event === null ? raw : null,
  failedAt: Date.now(),
});

export const parseDeadLetter = (raw: string): DeadLetter | null => {
  try {
    const o = JSON.parse(raw) as DeadLetter;
    return typeof o === 'object' && o !== null && typeof o.reason === 'string' ? o : null;
  } catch {
    return null;
  }
};
