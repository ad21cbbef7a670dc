import { ContainerRegistrationKeys, MedusaError } from "@medusajs/framework/utils"
import type { MedusaContainer } from "@medusajs/framework/types"

/** A product option is its colour option when its title is one of these (any case). */
export const COLOR_OPTION_TITLE = /^\s*(colou?rs?|garment colou?r)\s*$/i

/**
 * Garment colour names a colour option's values commonly use, as `#rrggbb`. A value
 * that is not here needs its hex in the option value's metadata (`hex`) or as the
 * value itself (`#1f2a44`).
 */
export const GARMENT_COLORS: Record<string, string> = {
  white: "#ffffff",
  "off white": "#f4f1ea",
  natural: "#efe6d2",
  cream: "#f3ead7",
  sand: "#d8c8a8",
  black: "#1a1a1a",
  grey: "#9e9e9e",
  gray: "#9e9e9e",
  "heather grey": "#b5b5b5",
  "heather gray": "#b5b5b5",
  "sport grey": "#a8a8a8",
  "sport gray": "#a8a8a8",
  charcoal: "#36454f",
  "dark grey": "#4a4a4a",
  "dark gray": "#4a4a4a",
  navy: "#1f2a44",
  blue: "#2f5fb3",
  "royal blue": "#2b4eb0",
  royal: "#2b4eb0",
  "light blue": "#a7c6ed",
  "sky blue": "#87ceeb",
  teal: "#1f7a7a",
  green: "#2e7d32",
  "kelly green": "#2e9a4a",
  "forest green": "#1f4d2b",
  olive: "#6b6b3a",
  "military green": "#5b5e3a",
  yellow: "#f4d03f",
  gold: "#e0a526",
  orange: "#f57c00",
  red: "#c8102e",
  maroon: "#6d1a2d",
  burgundy: "#800020",
  pink: "#f4a6c1",
  "light pink": "#f8c8d8",
  purple: "#6a3d9a",
  brown: "#6f4e37",
}

type OptionValue = { id: string; value: string; metadata?: Record<string, unknown> | null }
type ProductOption = { id: string; title: string; values?: OptionValue[] | null }
type Variant = { id: string; title?: string | null; options?: { id: string; value: string; option_id?: string | null }[] | null }
export type ProductForColors = {
  id: string
  options?: ProductOption[] | null
  variants?: Variant[] | null
}

/** One colour of a product's colour option: its value, garment colour and variants. */
export type ColorTarget = {
  option_id: string
  option_title: string
  value: string
  hex: string
  variant_ids: string[]
}

const HEX = /^#[0-9a-fA-F]{6}$/

/** The product's colour option (titled Color/Colour, any case), or null. */
export function colorOptionOf(product: ProductForColors): ProductOption | null {
  return (product.options ?? []).find((o) => COLOR_OPTION_TITLE.test(o.title)) ?? null
}

/** The garment colour of an option value: its metadata `hex`, the value itself, or a known name. */
export function hexOfValue(v: OptionValue): string | null {
  const meta = v.metadata ?? {}
  for (const key of ["hex", "color", "colour"]) {
    const m = meta[key]
    if (typeof m === "string" && HEX.test(m.trim())) return m.trim().toLowerCase()
  }
  if (HEX.test(v.value.trim())) return v.value.trim().toLowerCase()
  const name = v.value.trim().toLowerCase().replace(/[\s_-]+/g, " ")
  return GARMENT_COLORS[name] ?? null
}

/**
 * The colours to render: every value of the product's colour option, or the one named
 * (case-insensitive). Each with its garment colour and the variants that have it.
 * 400 `E_VALIDATION` when the product has no colour option, the value is not one of
 * it, or a value's garment colour is unknown.
 */
export function colorTargets(product: ProductForColors, which: { every: true } | { value: string }): ColorTarget[] {
  const option = colorOptionOf(product)
  const field = "every" in which ? "every_color" : "color_value"
  if (!option) {
    const titles = (product.options ?? []).map((o) => `"${o.title}"`).join(", ") || "none"
    throw new MedusaError(
      MedusaError.Types.INVALID_DATA,
      `${field}: product ${product.id} has no colour option (an option titled "Color" or "Colour"; its options: ${titles})`,
      "E_VALIDATION"
    )
  }
  let values = option.values ?? []
  if (!("every" in which)) {
    const wanted = which.value.trim().toLowerCase()
    values = values.filter((v) => v.value.trim().toLowerCase() === wanted)
    if (!values.length) {
      throw new MedusaError(
        MedusaError.Types.INVALID_DATA,
        `color_value: "${which.value}" is not a value of the option "${option.title}" (${(option.values ?? [])
          .map((v) => `"${v.value}"`)
          .join(", ")})`,
        "E_VALIDATION"
      )
    }
  }
  if (!values.length) {
    throw new MedusaError(
      MedusaError.Types.INVALID_DATA,
      `every_color: the option "${option.title}" of product ${product.id} has no values`,
      "E_VALIDATION"
    )
  }
  const unknown = values.filter((v) => !hexOfValue(v))
  if (unknown.length) {
    throw new MedusaError(
      MedusaError.Types.INVALID_DATA,
      `${field}: no garment colour known for ${unknown
        .map((v) => `"${v.value}"`)
        .join(", ")}; name the value as #rrggbb or set the option value's metadata "hex" (e.g. {"hex": "#1f2a44"})`,
      "E_VALIDATION"
    )
  }
  return values.map((v) => ({
    option_id: option.id,
    option_title: option.title,
    value: v.value,
    hex: hexOfValue(v)!,
    variant_ids: variantsWithValue(product, option.id, v.value),
  }))
}

/** The ids of the product's variants whose colour option has this value. */
export function variantsWithValue(product: ProductForColors, optionId: string, value: string): string[] {
  const wanted = value.trim().toLowerCase()
  return (product.variants ?? [])
    .filter((variant) =>
      (variant.options ?? []).some(
        (o) => (o.option_id == null || o.option_id === optionId) && o.value.trim().toLowerCase() === wanted
      )
    )
    .map((variant) => variant.id)
}

export const PRODUCT_COLOR_FIELDS = [
  "id",
  "options.id",
  "options.title",
  "options.values.id",
  "options.values.value",
  "options.values.metadata",
  "variants.id",
  "variants.title",
  "variants.options.id",
  "variants.options.value",
  "variants.options.option_id",
]

/** The product with its options and variants, or 404 `E_NOT_FOUND`. */
export async function productForColors(scope: MedusaContainer, productId: string): Promise<ProductForColors> {
  const query = scope.resolve(ContainerRegistrationKeys.QUERY)
  const { data } = await query.graph({
    entity: "product",
    fields: PRODUCT_COLOR_FIELDS,
    filters: { id: productId },
  })
  const product = data[0] as ProductForColors | undefined
  if (!product) {
    throw new MedusaError(MedusaError.Types.NOT_FOUND, `product_id: product ${productId} does not exist`, "E_NOT_FOUND")
  }
  return product
}
