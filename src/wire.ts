/**
 * The layouts and codes of what the engine returns (written by crates/engine/src/read/encode.rs).
 * The engine's test `wire_layout_fixture_is_current` writes its own values to
 * __test__/fixtures/wire-layout.json and __test__/wire.spec.ts compares these with them, so a
 * change on one side that the other does not follow fails a test instead of misreading stats.
 */

/** Checked at run time too: a binary of another version is refused, not misread. */
export const FORMAT_VERSION = 4
export const HEADER_LEN = 6
/** Numbers per function and per edge (their stats), after the header. */
export const FUNC_FIELDS = 6
export const EDGE_FIELDS = 6
/** Integers per function (id, kind, line, column, name and module places, exact flags) and per edge (caller, callee). */
export const FUNC_INTS = 9
export const EDGE_INTS = 2
export const THREAD_HEADER_LEN = 3
export const THREAD_FIELDS = 15
export const TAG_HEADER_LEN = 3
export const TAG_FIELDS = 5
/** Flags of the last integer of a function: which counts are exact (precise coverage). */
export const EXACT_NCALL = 1
export const EXACT_NACTUAL = 2
/** Codes of the kinds a function row can have (the engine's other kinds never reach a row). */
export const FUNC_KIND_CODES = { user: 0, builtin: 1, program: 2, gc: 3 } as const
/** Codes of the session's clock in the headers (0: no session yet). */
export const CLOCK_CODES = { wall: 1, cpu: 2 } as const
/** Codes of the kinds of profiler work in the overhead ledger. */
export const COST_CODES = { rotation: 0, coverage: 1, read: 2, control: 3, fold: 4, ingest: 5 } as const
