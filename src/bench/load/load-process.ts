/**
 * The load generator, in a process of its own so that it never shares an
 * event loop with the server it measures. Started by `runLoad`
 * (run-load.ts): it receives one LoadPlan over IPC, drives its crowd (the
 * closed loop, or an open crowd when the plan has arrivals), sends a
 * progress message a second, and sends back one LoadResult.
 */
import { runClosedLoop } from './closed-loop.js';
import type { LoadPlan } from './load-plan.js';
import { runOpenCrowd } from './open-crowd.js';
import type { LoadProgress } from './run-load.js';

process.once('message', (plan: LoadPlan) => {
  const onProgress = (progress: LoadProgress) => process.send!({ progress });
  (plan.arrival === undefined ? runClosedLoop(plan, onProgress) : runOpenCrowd(plan, plan.arrival, onProgress)).then(
    (result) => process.send!({ result }, () => process.exit(0)),
    (error: Error) => process.send!({ error: error.message }, () => process.exit(1)),
  );
});
