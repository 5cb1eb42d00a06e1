export { serve, type YappiServer } from './server'
export { handler, type RequestHandler } from './handler'
export type { HandlerOptions, ServeOptions } from './options'
