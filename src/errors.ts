/** Raised for misuse of the API: a bad option, a wrong call order, an unreadable file. */
export class YappiError extends Error {
  /** Always `'YappiError'`. */
  override name = 'YappiError'
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
