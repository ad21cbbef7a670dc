import { MedusaError } from "@medusajs/framework/utils"

/** The engine's error codes that mean "the request was wrong": 400 invalid data. */
const INVALID_DATA_CODES = new Set([
  "E_VALIDATION",
  "E_UNSUPPORTED_FORMAT",
  "E_IMAGE_DECODE",
  "E_IMAGE_TOO_LARGE",
])

type EngineError = Error & {
  code?: unknown
  fields?: Array<{ field: string; message: string }>
}

/** Whether `e` carries one of render-engine's stable `E_...` codes. */
export function isEngineError(e: unknown): e is EngineError & { code: string } {
  return (
    e instanceof Error &&
    typeof (e as EngineError).code === "string" &&
    /^E_[A-Z_]+$/.test((e as EngineError).code as string)
  )
}

/**
 * Translates a render-engine error into a `MedusaError` whose type sets the HTTP
 * status and whose `code` (the engine's `E_...` code) is kept in the response body.
 * The per-field details of `E_VALIDATION` go into the message, since Medusa's error
 * handler keeps only `code`, `type` and `message`.
 */
export function toMedusaError(e: unknown): unknown {
  if (!isEngineError(e)) {
    return e
  }
  const fields = Array.isArray(e.fields) && e.fields.length
    ? e.fields.map((f) => `${f.field}: ${f.message}`).join("; ")
    : ""
  const message = fields && !e.message.includes(fields) ? `${e.message} (${fields})` : e.message
  let type: string
  if (INVALID_DATA_CODES.has(e.code)) {
    type = MedusaError.Types.INVALID_DATA
  } else if (e.code === "E_NOT_FOUND") {
    type = MedusaError.Types.NOT_FOUND
  } else if (e.code === "E_INVALID_TRANSITION") {
    type = MedusaError.Types.NOT_ALLOWED
  } else {
    // 500 with the engine's code in the body.
    type = MedusaError.Types.UNEXPECTED_STATE
  }
  return new MedusaError(type, message, e.code)
}

/** Runs `fn`, rethrowing engine errors as `MedusaError`s. */
export async function mapEngineErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    throw toMedusaError(e)
  }
}
