export * from "./attach-render-job-media"
export * from "./sweep"
