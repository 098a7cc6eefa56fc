/** `node crowd-main.js '<CrowdPlan JSON>'`: runs the crowd (in the lab's buyers host) and prints its CrowdResult as JSON. */
import { runCrowd, type CrowdPlan } from './crowd.js';

process.stdout.write(`${JSON.stringify(await runCrowd(JSON.parse(process.argv[2]) as CrowdPlan))}\n`);
