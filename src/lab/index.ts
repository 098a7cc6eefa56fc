/** The lab: hosts on one machine (network namespaces on a bridge), network faults, and who may make one. */
export { createLab, type Lab, type LabHost, type LabOptions } from './network.js';
export { labSupported, type LabSupport } from './support.js';
export { blackholePresent, sweepStaleLabs } from './root-namespace.js';
export { LabError } from './ip.js';
export { LAB_RANGE, NS_PREFIX } from './names.js';
export { startLabRedisCluster, type LabRedisCluster, type LabRedisClusterOptions, type LabRedisNode } from './redis-cluster.js';
