import { newOrderId } from '../../sale/ids.js';
import { Outcome } from '../../sale/outcomes.js';
import type { ReserveStrategy } from './strategy.js';

/**
 * The ceiling: the same HTTP path (body limit, parsing, validation, the
 * answer) with no storage behind it. What seckill reaches as a share of this
 * is what its admission and Redis call cost.
 */
export const ceilingStrategy = (): ReserveStrategy => ({
  name: 'ceiling',
  dependency: 'none',
  reserve: (request, now) => Promise.resolve({ outcome: Outcome.OK, orderId: newOrderId(request.sku, now), remaining: 1 }),
});
