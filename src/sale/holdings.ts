/**
 * A user's holding of one SKU, as reserve.lua keeps it in the holders hash:
 * `"<orderId>:<qty> <orderId>:<qty> …"`, one token per live reservation,
 * oldest first (lua/includes/holdings.lua). The per-user limit counts the
 * units of all of them.
 */
export interface HeldOrder {
  orderId: string;
  qty: number;
}

export const parseHolding = (raw: string | null | undefined): HeldOrder[] => {
  if (!raw) return [];
  return raw.split(' ').flatMap((token) => {
    const colon = token.lastIndexOf(':');
    const qty = Number(token.slice(colon + 1));
    return colon > 0 && Number.isSafeInteger(qty) ? [{ orderId: token.slice(0, colon), qty }] : [];
  });
};

export const formatHolding = (orders: readonly HeldOrder[]): string => orders.map((o) => `${o.orderId}:${o.qty}`).join(' ');

export const heldUnits = (orders: readonly HeldOrder[]): number => orders.reduce((n, o) => n + o.qty, 0);
