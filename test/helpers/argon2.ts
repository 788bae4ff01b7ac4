/** A cheap argon2id cost for credentials made in tests (the default costs ~50 ms per use). */
export const CHEAP_ARGON2 = { m: 1024, t: 1, p: 1 };
