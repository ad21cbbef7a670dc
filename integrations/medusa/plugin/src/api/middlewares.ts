import {
  defineMiddlewares,
  validateAndTransformBody,
  validateAndTransformQuery,
  type MedusaNextFunction,
  type MedusaRequest,
  type MedusaResponse,
} from "@medusajs/framework/http"
import { MedusaError } from "@medusajs/framework/utils"
import multer from "multer"
import {
  AdminCreateRenderJob,
  AdminListProductRenderJobs,
  AdminListRenderJobs,
  AdminPreflightRenderJob,
} from "./admin/render-jobs/validators"

/** The largest design upload the routes accept (the module's `maxDesignBytes` may lower it). */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024

const upload = multer({
  storage: multer.memoryStorage(),
  limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 20 },
})

/** multer for the `design` field, its errors turned into 400s with a stable code. */
function designUpload(req: MedusaRequest, res: MedusaResponse, next: MedusaNextFunction) {
  upload.single("design")(req as any, res as any, (err?: unknown) => {
    if (!err) return next()
    if (err instanceof multer.MulterError) {
      if (err.code === "LIMIT_FILE_SIZE") {
        return next(
          new MedusaError(
            MedusaError.Types.INVALID_DATA,
            `design: the file is larger than ${MAX_UPLOAD_BYTES} bytes (10 MiB)`,
            "E_IMAGE_TOO_LARGE"
          )
        )
      }
      return next(
        new MedusaError(
          MedusaError.Types.INVALID_DATA,
          `${err.field ?? "design"}: ${err.message} (send one file as the multipart field \`design\`)`,
          "E_VALIDATION"
        )
      )
    }
    next(err)
  })
}

export default defineMiddlewares({
  routes: [
    {
      method: ["POST"],
      matcher: "/admin/render-jobs",
      middlewares: [designUpload, validateAndTransformBody(AdminCreateRenderJob)],
    },
    {
      method: ["POST"],
      matcher: "/admin/render-jobs/preflight",
      middlewares: [designUpload, validateAndTransformBody(AdminPreflightRenderJob)],
    },
    {
      method: ["GET"],
      matcher: "/admin/render-jobs",
      middlewares: [validateAndTransformQuery(AdminListRenderJobs, {})],
    },
    {
      method: ["GET"],
      matcher: "/admin/products/:id/render-jobs",
      middlewares: [validateAndTransformQuery(AdminListProductRenderJobs, {})],
    },
  ],
})
