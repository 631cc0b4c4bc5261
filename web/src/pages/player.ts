import Hls, { type Level } from "hls.js/light";
import { ApiError, get } from "../api";
import { fill, formatBitrate, formatDateTime, h } from "../dom";
import type { RouteContext } from "../router";
import type { MediaJob } from "../types";
import { playable } from "../upload";
import { FINISHED, jobProgress, STAGES } from "./media";

const POLL_MS = 1000;
const THUMBNAIL_SECONDS = 5; // the encoder captures a thumbnail every 5 s, from t = 0

function levelName(level: Pick<Level, "width" | "height" | "bitrate">): string {
  return `${level.width}×${level.height} · ${formatBitrate(level.bitrate)}`;
}

export async function playerPage({ main, params, signal }: RouteContext): Promise<() => void> {
  const guid = params.guid;
  let job: MediaJob;
  try {
    job = await get<MediaJob>(`/media/jobs/${encodeURIComponent(guid)}`, signal);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      main.append(h("h1", {}, "Video not found"), h("p", {}, h("a", { href: "#/media" }, "Back to media")));
      return () => undefined;
    }
    if (error instanceof ApiError && error.status === 401) {
      // A job reads for its submitter and admins only.
      main.append(h("h1", {}, "Sign in to watch"),
        h("p", {}, h("a", { href: `#/signin?next=${encodeURIComponent(`/media/${guid}`)}` }, "Sign in")));
      return () => undefined;
    }
    throw error;
  }
  const title = decodeURIComponent(job.source?.key.split("/").pop() ?? guid);
  const status = h("div", { id: "job-status", "aria-live": "polite" });
  const playerBox = h("div", { id: "player-box" });
  const details = h("div", { id: "job-details" });
  main.append(
    h("p", { className: "crumbs" }, h("a", { href: "#/media" }, "← All videos")),
    h("h1", {}, title),
    status, playerBox, details,
  );

  let hls: Hls | null = null;
  let timer: number | undefined;
  let stopped = false;

  function showDetails(current: MediaJob): void {
    const stages = STAGES.map((stage) => {
      const run = current.stages[stage];
      const state = run?.completed_at ? "done" : run?.started_at ? "running" : "waiting";
      return h("li", { className: `stage ${state}` }, `${stage}: ${state}${run?.seconds ? ` (${run.seconds.toFixed(1)} s)` : ""}`);
    });
    fill(details,
      h("section", { "aria-labelledby": "stages-heading" },
        h("h2", { id: "stages-heading" }, "Stages"), h("ol", { className: "stages" }, stages)),
      current.renditions.length
        ? h("section", { "aria-labelledby": "renditions-heading" },
            h("h2", { id: "renditions-heading" }, "Renditions"),
            h("div", { className: "table-wrap" }, h("table", {},
              h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Size"),
                h("th", { scope: "col" }, "Peak"), h("th", { scope: "col" }, "Average"), h("th", { scope: "col" }, "Codecs"))),
              h("tbody", {}, current.renditions.map((r) => h("tr", {},
                h("th", { scope: "row" }, r.name), h("td", {}, `${r.width}×${r.height}`),
                h("td", {}, formatBitrate(r.bitrate)), h("td", {}, formatBitrate(r.average_bitrate)), h("td", {}, r.codecs)))))))
        : null,
      h("p", { className: "meta" }, `Uploaded ${formatDateTime(current.created_at)}${current.submitted_by ? ` by ${current.submitted_by.username}` : ""}.`),
    );
  }

  function startPlayer(current: MediaJob): void {
    const outputs = current.outputs!;
    const video = h("video", { id: "video", controls: true, playsinline: true, muted: true, preload: "auto" });
    video.muted = true;
    if (outputs.poster) video.poster = playable(outputs.poster);
    const rendition = h("output", { id: "current-rendition", "data-level": "", "aria-live": "polite" }, "—");
    const pin = h("select", { id: "rendition-pin", disabled: true }, h("option", { value: "-1" }, "Auto (ABR)"));
    const playerError = h("p", { className: "error", role: "alert" });
    const thumbs = h("ul", { className: "thumbnails", "aria-label": "Thumbnails" },
      outputs.thumbnails.map((url, i) =>
        h("li", {}, h("button", {
          type: "button", className: "thumb", "aria-label": `Jump to ${i * THUMBNAIL_SECONDS} s`,
          onclick: () => {
            video.currentTime = i * THUMBNAIL_SECONDS;
            void video.play().catch(() => undefined);
          },
        }, h("img", { src: playable(url), alt: "", loading: "lazy", width: 160, height: 90 })))));

    fill(playerBox,
      h("div", { className: "player" }, video),
      h("div", { className: "player-controls" },
        h("div", { className: "field inline" }, h("label", { for: "rendition-pin" }, "Rendition"), pin),
        h("p", {}, "Playing: ", rendition)),
      playerError,
      outputs.thumbnails.length ? h("section", { "aria-labelledby": "thumbs-heading" }, h("h2", { id: "thumbs-heading" }, "Thumbnails"), thumbs) : null,
      h("p", { className: "meta" }, "Streams: ",
        h("a", { href: playable(outputs.hls_url) }, "HLS master playlist"), " · ",
        h("a", { href: playable(outputs.dash_url) }, "DASH manifest")),
    );

    const source = playable(outputs.hls_url);
    if (Hls.isSupported()) {
      hls = new Hls({ enableWorker: true, startLevel: -1, capLevelToPlayerSize: false });
      const instance = hls;
      const describe = () => {
        const level = instance.levels[instance.currentLevel];
        if (!level) return;
        rendition.textContent = `${levelName(level)}${instance.autoLevelEnabled ? " (auto)" : " (pinned)"}`;
        rendition.dataset.level = String(instance.currentLevel);
        rendition.dataset.auto = String(instance.autoLevelEnabled);
      };
      instance.on(Hls.Events.MANIFEST_PARSED, () => {
        pin.replaceChildren(h("option", { value: "-1" }, "Auto (ABR)"),
          ...instance.levels.map((level, i) => h("option", { value: String(i) }, levelName(level))));
        pin.disabled = false;
        pin.dataset.levels = String(instance.levels.length);
      });
      instance.on(Hls.Events.LEVEL_SWITCHED, describe);
      instance.on(Hls.Events.ERROR, (_, data) => {
        if (data.fatal) playerError.textContent = `Playback failed: ${data.details}`;
      });
      pin.addEventListener("change", () => {
        // currentLevel switches now (flushing the buffer); -1 hands control back to ABR.
        instance.currentLevel = Number(pin.value);
        describe();
      });
      instance.loadSource(source);
      instance.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = source; // Safari's own HLS: it picks renditions itself
      pin.replaceChildren(h("option", {}, "Chosen by the browser"));
    } else {
      playerError.textContent = "This browser cannot play HLS.";
    }
  }

  async function update(): Promise<void> {
    if (stopped) return;
    try {
      job = await get<MediaJob>(`/media/jobs/${encodeURIComponent(guid)}`, signal);
    } catch {
      // keep the last known state; try again
    }
    status.replaceChildren(jobProgress(job, "player-job-progress"));
    showDetails(job);
    if (job.status === "complete" && job.outputs && !hls) startPlayer(job);
    if (!FINISHED.has(job.status)) timer = window.setTimeout(() => void update(), POLL_MS);
  }
  await update();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    hls?.destroy();
  };
}
