import { ApiError, get, query, request } from "../api";
import { currentUser } from "../auth";
import { fill, formatBytes, formatDateTime, h, toast } from "../dom";
import type { RouteContext } from "../router";
import type { MediaJob, Page, UploadTicket } from "../types";
import { sendFile } from "../upload";

const POLL_MS = 1000;
export const FINISHED = new Set(["complete", "error"]);
export const STAGES = ["ingest", "probe", "profile", "encode", "validate", "archive", "publish"];

export function stageLabel(job: MediaJob): string {
  if (job.status === "pending") return "Waiting for the upload";
  if (job.status === "complete") return "Complete";
  if (job.status === "error") return `Failed in ${job.error?.stage ?? "a stage"}: ${job.error?.message ?? ""}`;
  const index = STAGES.indexOf(job.status);
  return `Stage ${index + 1} of ${STAGES.length}: ${job.status}`;
}

/** The job's progress as a labelled progress bar and stage text. */
export function jobProgress(job: MediaJob, id: string): HTMLElement {
  return h("div", { className: "job-progress", "data-status": job.status },
    h("label", { for: id }, stageLabel(job)),
    h("progress", { id, max: 100, value: job.progress }, `${job.progress}%`),
    h("span", { className: "meta" }, ` ${job.progress}%`));
}

export async function mediaPage({ main, signal }: RouteContext): Promise<() => void> {
  const user = currentUser();
  const file = h("input", { id: "video-file", type: "file", accept: "video/*,.mkv,.mov,.mp4,.m4v,.webm,.avi,.mts,.ts", required: true });
  const submit = h("button", { type: "submit", className: "button" }, "Upload");
  const uploadBar = h("progress", { id: "upload-progress", max: 100, value: 0 });
  const uploadText = h("span", { id: "upload-text", className: "meta" });
  const uploadBox = h("div", { className: "upload-progress", hidden: true },
    h("label", { for: "upload-progress" }, "Upload"), uploadBar, uploadText);
  const jobBox = h("div", { id: "current-job", "aria-live": "polite" });
  const watchError = h("p", { className: "error", role: "alert", id: "watch-error" });
  const error = h("p", { className: "error", role: "alert" });
  const form = h("form", { className: "form", id: "upload-form" },
    h("div", { className: "field" }, h("label", { for: "video-file" }, "Video file"),
      h("p", { className: "hint", id: "video-hint" }, "MP4, MOV, MKV, WebM… It is encoded into an HLS/DASH ladder that never upscales."),
      file),
    submit, uploadBox, error, jobBox, watchError);
  file.setAttribute("aria-describedby", "video-hint");
  const jobsBody = h("tbody", { id: "job-rows" });
  const jobsStatus = h("p", { className: "status", role: "status" });

  main.append(
    h("h1", {}, "Media"),
    user
      ? h("section", { "aria-labelledby": "upload-heading" }, h("h2", { id: "upload-heading" }, "Upload a video"), form)
      : h("p", {}, h("a", { href: "#/signin?next=%2Fmedia" }, "Sign in"), " to upload videos."),
    h("section", { "aria-labelledby": "jobs-heading" },
      h("h2", { id: "jobs-heading" }, "Jobs"), jobsStatus,
      h("div", { className: "table-wrap" }, h("table", {},
        h("caption", { className: "visually-hidden" }, "Media jobs, newest first"),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Video"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Progress"),
          h("th", { scope: "col" }, "By"), h("th", { scope: "col" }, "Created"))),
        jobsBody))),
  );

  let timers: number[] = [];
  let jobsTimer: number | undefined;
  let stopped = false;
  const later = (fn: () => void, ms: number) => {
    if (!stopped) timers.push(window.setTimeout(fn, ms));
  };

  async function watch(guid: string): Promise<void> {
    if (stopped) return;
    let job: MediaJob;
    try {
      job = await get<MediaJob>(`/media/jobs/${guid}`, signal);
    } catch (failure) {
      if (signal.aborted) return; // the page was left while the poll was under way
      // 404: the job is not recorded yet. Anything else may pass (a 503 says so): keep going.
      if (!(failure instanceof ApiError && failure.status === 404)) {
        watchError.textContent = `Could not follow the job: ${(failure as Error).message}. Trying again…`;
      }
      later(() => void watch(guid), POLL_MS);
      return;
    }
    watchError.textContent = "";
    fill(jobBox, jobProgress(job, "job-progress"),
      job.status === "complete" ? h("p", {}, h("a", { className: "button", href: `#/media/${guid}`, id: "watch-link" }, "Watch it")) : null);
    if (!FINISHED.has(job.status)) later(() => void watch(guid), POLL_MS);
    else void refreshJobs();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    error.textContent = "";
    if (!chosen) {
      error.textContent = "Choose a video file first.";
      file.focus();
      return;
    }
    submit.disabled = true;
    uploadBox.hidden = false;
    uploadBar.value = 0;
    try {
      const { data: ticket } = await request<UploadTicket>("/media/uploads", {
        method: "POST",
        body: { filename: chosen.name, size: chosen.size, content_type: chosen.type || undefined },
      });
      jobBox.replaceChildren(h("p", { className: "meta" }, `Job ${ticket.guid}`));
      await sendFile(ticket, chosen, (sent, total) => {
        uploadBar.value = Math.round((sent / total) * 100);
        uploadText.textContent = ` ${formatBytes(sent)} of ${formatBytes(total)}`;
      });
      uploadText.textContent = ` ${formatBytes(chosen.size)} uploaded`;
      toast("Uploaded; encoding starts.");
      void refreshJobs();
      await watch(ticket.guid);
    } catch (failure) {
      error.textContent = failure instanceof ApiError && failure.errors.length
        ? failure.errors.map((e) => e.message).join(" ")
        : `Could not upload: ${(failure as Error).message}`;
    } finally {
      submit.disabled = false;
    }
  });

  // Runs on its own (a timer, a finished job), never awaited by a caller that could catch:
  // every failure ends here, and none reaches the console as an unhandled rejection.
  async function refreshJobs(): Promise<void> {
    let page: Page<MediaJob>;
    try {
      page = await get<Page<MediaJob>>(`/media/jobs${query({ limit: 20 })}`, signal);
    } catch (failure) {
      if (signal.aborted) return; // the page was left while the list was loading
      jobsStatus.textContent = `Could not load the jobs: ${(failure as Error).message}. Trying again…`;
      window.clearTimeout(jobsTimer);
      if (!stopped) jobsTimer = window.setTimeout(() => void refreshJobs(), 3000);
      return;
    }
    jobsBody.replaceChildren(...page.items.map((job) => {
      const name = job.source?.key.split("/").pop() ?? job.guid;
      return h("tr", { "data-guid": job.guid },
        h("th", { scope: "row" }, h("a", { href: `#/media/${job.guid}` }, decodeURIComponent(name))),
        h("td", {}, job.status),
        h("td", {}, h("progress", { max: 100, value: job.progress, "aria-label": `${name}: ${job.progress}%` })),
        h("td", {}, job.submitted_by?.username ?? "—"),
        h("td", {}, formatDateTime(job.created_at)));
    }));
    jobsStatus.textContent = page.items.length ? "" : "No jobs yet.";
    window.clearTimeout(jobsTimer);
    if (!stopped && page.items.some((job) => !FINISHED.has(job.status))) {
      jobsTimer = window.setTimeout(() => void refreshJobs(), 3000);
    }
  }
  // GET /media/jobs lists the caller's own jobs (an admin's: everyone's); signed out, none.
  if (user) await refreshJobs();
  else jobsStatus.textContent = "Sign in to see your jobs.";
  return () => {
    stopped = true;
    timers.forEach((t) => window.clearTimeout(t));
    window.clearTimeout(jobsTimer);
    timers = [];
  };
}
