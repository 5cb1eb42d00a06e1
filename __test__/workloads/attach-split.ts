/** How long attach-server.ts spins per request of each route: the load alternates them, so /hot has 75 % of the spin time. */
export const HOT_MS = 6
export const COLD_MS = 2
