/**
 * How long attach-server.ts spins per request of each route: the load alternates them, so /hot
 * has 75 % of the spin time. Spins of tens of ms, so that a starved sampler's gap that spans the
 * switch from one request to the next (2 ms and more on a loaded machine) moves little time:
 * with 6 and 2 ms spins the hot share read 4–8 points low on a loaded 2-core machine.
 */
export const HOT_MS = 24
export const COLD_MS = 8

/** How many times each /count request calls `countedCall`: the truth an exact count must give. */
export const COUNTED_CALLS = 1000
