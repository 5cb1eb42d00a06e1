/** Raised for misuse of the API: a bad option, a wrong call order, an unreadable file. */
export class YappiError extends Error {
  /** Always `'YappiError'`. */
  override name = 'YappiError'
  /**
   * What went wrong, when the native engine refused the call: `'ERR_YAPPI_BAD_INPUT'` (a wrong
   * name, a malformed profile or file), `'ERR_YAPPI_STATE'` (the call conflicts with the
   * profiler's state), `'ERR_YAPPI_OUT_OF_MEMORY'` (the memory budget or the allocator said
   * no), `'ERR_YAPPI_NATIVE'` (anything else the engine raised). Undefined for errors found in
   * TypeScript, whose message says what is wrong.
   */
  readonly code: string | undefined

  constructor(message: string, code?: string) {
    super(message)
    this.code = code
  }
}

// The binding leads its messages with their code (crates/binding/src/lib.rs, `Failure`).
const NATIVE_CODE = /^(ERR_YAPPI_[A-Z_]+): /

/** A native function's error as a YappiError, its code taken off the message: the one place that maps them. */
export function fromNative(error: unknown): YappiError {
  if (error instanceof YappiError) return error
  const message = messageOf(error)
  const code = NATIVE_CODE.exec(message)?.[1]
  return code ? new YappiError(message.slice(code.length + 2), code) : new YappiError(message, 'ERR_YAPPI_NATIVE')
}

/** Describes a value for an error message without risking another throw. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'function') return 'a function'
  if (value === null || typeof value !== 'object') return String(value)
  try {
    return Array.isArray(value) ? 'an array' : 'an object'
  } catch {
    return 'a revoked Proxy'
  }
}

/** The message of anything thrown, without risking another throw (a thrown Proxy, a getter that throws). */
export function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? String(error.message) : String(error)
  } catch {
    return 'an error that cannot be printed'
  }
}
