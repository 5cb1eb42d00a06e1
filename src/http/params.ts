import { HttpError } from './reply'

/** Parameters every path accepts. */
const EVERYWHERE = ['token']

/**
 * A request's query parameters, read by name with their checks: a missing one gives the
 * fallback, a bad one a 400 that names it and says what is allowed.
 */
export class Params {
  readonly #search: URLSearchParams

  constructor(search: URLSearchParams) {
    this.#search = search
  }

  /** Refuses parameters this path does not know, so a misspelt one is not silently ignored. */
  only(known: string[]): this {
    for (const name of this.#search.keys()) {
      if (!known.includes(name) && !EVERYWHERE.includes(name)) {
        throw bad(name, `is not a parameter of this path; its parameters: ${known.length > 0 ? known.join(', ') : 'none'}`)
      }
    }
    return this
  }

  /** The parameter's one value; given twice it is refused rather than guessed. */
  string(name: string): string | undefined {
    const values = this.#search.getAll(name)
    if (values.length > 1) throw bad(name, 'is given more than once')
    return values[0]
  }

  whole(name: string, min: number, max: number, fallback: number): number {
    const text = this.string(name)
    if (text === undefined) return fallback
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN
    if (!(value >= min && value <= max)) throw bad(name, `must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`)
    return value
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const text = this.string(name)
    if (text === undefined) return fallback
    if (!(allowed as readonly string[]).includes(text)) throw bad(name, `must be one of ${allowed.join(', ')}, not ${JSON.stringify(text)}`)
    return text as T
  }

  boolean(name: string): boolean | undefined {
    const text = this.string(name)
    if (text === undefined) return undefined
    if (text !== 'true' && text !== 'false') throw bad(name, `must be true or false, not ${JSON.stringify(text)}`)
    return text === 'true'
  }

  /** Thread ids, as `thread=1,2` or `thread=1&thread=2`; undefined for all threads. */
  threads(name: string): number[] | undefined {
    const values = this.#search.getAll(name)
    if (values.length === 0) return undefined
    return values
      .flatMap((value) => value.split(','))
      .map((text) => {
        if (!/^\d{1,10}$/.test(text)) throw bad(name, `must be thread ids (whole numbers, comma-separated), not ${JSON.stringify(text)}`)
        return Number(text)
      })
  }
}

export function bad(name: string, what: string): HttpError {
  return new HttpError(400, `parameter ${name} ${what}`)
}
