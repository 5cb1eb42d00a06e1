import { randomBytes, createHash } from 'node:crypto'
import * as http from 'node:http'
import type { Socket } from 'node:net'

import { YappiError } from '../errors'

/**
 * The smallest WebSocket client the inspector needs (RFC 6455 over `node:http`'s upgrade):
 * text messages, fragmented or not, ping answered, close. Node 20 has no global WebSocket,
 * and one code path on every version is one path tested; the inspector speaks nothing else.
 */
export interface WebSocketClient {
  send(text: string): void
  /** Sends a close frame and ends the socket; resolves once the socket is closed. */
  close(): Promise<void>
  /** Resolves when the connection is gone, whoever ended it. */
  readonly closed: Promise<void>
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const OP_CONTINUATION = 0x0
const OP_TEXT = 0x1
const OP_CLOSE = 0x8
const OP_PING = 0x9
const OP_PONG = 0xa

function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10
  const out = Buffer.allocUnsafe(header + 4 + length)
  out[0] = 0x80 | opcode
  if (length < 126) out[1] = 0x80 | length
  else if (length < 65536) {
    out[1] = 0x80 | 126
    out.writeUInt16BE(length, 2)
  } else {
    out[1] = 0x80 | 127
    out.writeBigUInt64BE(BigInt(length), 2)
  }
  // Clients must mask (the server closes on an unmasked frame).
  const mask = randomBytes(4)
  mask.copy(out, header)
  for (let i = 0; i < length; i++) out[header + 4 + i] = payload[i] ^ mask[i & 3]
  return out
}

export function connectWebSocket(url: string, onMessage: (text: string) => void, timeoutMs: number): Promise<WebSocketClient> {
  const key = randomBytes(16).toString('base64')
  return new Promise((resolve, reject) => {
    const request = http.get(url.replace(/^ws:/, 'http:'), {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key },
      timeout: timeoutMs,
    })
    request.once('timeout', () => request.destroy(new YappiError(`no WebSocket handshake from ${url} within ${timeoutMs} ms`)))
    request.once('error', reject)
    request.once('response', (response) => {
      response.resume()
      reject(new YappiError(`${url} refused the WebSocket upgrade (HTTP ${response.statusCode})`))
    })
    request.once('upgrade', (response, socket: Socket, head: Buffer) => {
      const accept = createHash('sha1').update(key + GUID).digest('base64')
      if (response.headers['sec-websocket-accept'] !== accept) {
        socket.destroy()
        reject(new YappiError(`${url} answered the WebSocket upgrade with a wrong accept key`))
        return
      }
      socket.setNoDelay(true)
      resolve(client(socket, head, onMessage))
    })
  })
}

function client(socket: Socket, head: Buffer, onMessage: (text: string) => void): WebSocketClient {
  let buffered = head
  let fragments: Buffer[] = []
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  // A reset by a target that exits is an ordinary end of the connection here.
  socket.on('error', () => socket.destroy())
  const write = (opcode: number, payload: Buffer): void => {
    if (socket.writable) socket.write(frame(opcode, payload))
  }
  const parse = (): void => {
    for (;;) {
      if (buffered.length < 2) return
      const fin = (buffered[0] & 0x80) !== 0
      const opcode = buffered[0] & 0x0f
      let length = buffered[1] & 0x7f
      let at = 2
      if (length === 126) {
        if (buffered.length < 4) return
        length = buffered.readUInt16BE(2)
        at = 4
      } else if (length === 127) {
        if (buffered.length < 10) return
        length = Number(buffered.readBigUInt64BE(2))
        at = 10
      }
      // Servers never mask; a masked frame is a protocol error we need not decode.
      if ((buffered[1] & 0x80) !== 0) {
        socket.destroy()
        return
      }
      if (buffered.length < at + length) return
      const payload = buffered.subarray(at, at + length)
      buffered = buffered.subarray(at + length)
      if (opcode === OP_PING) write(OP_PONG, payload)
      else if (opcode === OP_CLOSE) {
        write(OP_CLOSE, Buffer.alloc(0))
        socket.end()
      } else if (opcode === OP_TEXT || opcode === OP_CONTINUATION) {
        fragments.push(Buffer.from(payload))
        if (fin) {
          const text = Buffer.concat(fragments).toString('utf8')
          fragments = []
          onMessage(text)
        }
      }
    }
  }
  socket.on('data', (data: Buffer) => {
    buffered = buffered.length === 0 ? data : Buffer.concat([buffered, data])
    parse()
  })
  if (buffered.length > 0) setImmediate(parse)
  return {
    send: (text) => write(OP_TEXT, Buffer.from(text, 'utf8')),
    close: () => {
      write(OP_CLOSE, Buffer.alloc(0))
      socket.end()
      // A server that does not answer the close frame still loses the socket.
      const timer = setTimeout(() => socket.destroy(), 1000)
      return closed.finally(() => clearTimeout(timer))
    },
    closed,
  }
}
