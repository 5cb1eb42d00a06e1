// The generated napi-rs loader sits at the package root, beside package.json; compiled
// modules live in dist/src, so the path is fixed relative to this file's compiled place.
import type * as Binding from '../binding'
import { fromNative } from './errors'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding: typeof Binding = require('../../binding.js')

/**
 * Every native function, throwing YappiError with the engine's code instead of napi-rs's Error.
 * Classes (napi-rs names them in PascalCase) are handed on as they are: wrapping a constructor
 * would hide its static factories. The one class, `BindingStatsMark`, serves profile windows,
 * where any error is the HTTP handler's 500.
 */
function throwingYappiErrors(functions: typeof Binding): typeof Binding {
  const wrapped: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(functions)) {
    wrapped[name] =
      typeof value === 'function' && !/^[A-Z]/.test(name)
        ? (...args: unknown[]) => {
            try {
              return (value as (...args: unknown[]) => unknown)(...args)
            } catch (error) {
              throw fromNative(error)
            }
          }
        : value
  }
  return wrapped as typeof Binding
}

export const native: typeof Binding = throwingYappiErrors(binding)
