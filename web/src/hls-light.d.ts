// hls.js ships types for its full build only; the light build has the same API (no
// subtitles, alternate audio or DRM, none of which the player uses).
declare module "hls.js/light" {
  export * from "hls.js";
  export { default } from "hls.js";
}
