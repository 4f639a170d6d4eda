// The ESM entry point: the CommonJS implementation, re-exported.
import perflog from './index.js';

export const { PerformanceTracker, findLog, findSocket } = perflog;
export default perflog;
