// Browser uploads straight to S3 through the presigned request(s) of an upload ticket.

import { config } from "./config";
import type { PresignedRequest, UploadTicket } from "./types";

export type Progress = (sent: number, total: number) => void;

/** The URL to send a presigned request to (see AppConfig.uploads). */
export function uploadUrl(url: string): string {
  const rewrite = config().uploads?.rewrite;
  return rewrite && url.startsWith(rewrite.from) ? rewrite.to + url.slice(rewrite.from.length) : url;
}

function put(target: PresignedRequest, body: Blob, onProgress: (sent: number) => void): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(target.method, uploadUrl(target.url));
    for (const [name, value] of Object.entries(target.headers)) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.getResponseHeader("ETag"));
      else reject(new Error(`upload failed: HTTP ${xhr.status}`));
    });
    xhr.addEventListener("error", () => reject(new Error("upload failed: network error")));
    xhr.addEventListener("abort", () => reject(new Error("upload aborted")));
    xhr.send(body);
  });
}

/** Send `file` as the ticket says (one PUT, or parts then CompleteMultipartUpload). */
export async function sendFile(ticket: UploadTicket, file: File, onProgress: Progress): Promise<void> {
  const plan = ticket.upload;
  // Each URL is signed with the exact byte count it must carry (S3 refuses any other).
  const signed = plan.method === "PUT" ? plan.content_length
    : plan.parts.reduce((total, part) => total + part.content_length, 0);
  if (file.size !== signed) throw new Error(`the file is ${file.size} bytes, the upload was signed for ${signed}`);
  if (plan.method === "PUT") {
    await put(plan, file, (sent) => onProgress(sent, file.size));
    onProgress(file.size, file.size);
    return;
  }
  // Parts go three at a time; S3 needs each part's ETag (the bucket's CORS must expose it).
  const sent = new Map<number, number>();
  const report = () => onProgress([...sent.values()].reduce((a, b) => a + b, 0), file.size);
  const etags = new Map<number, string>();
  const queue = [...plan.parts];
  const worker = async () => {
    for (let part = queue.shift(); part; part = queue.shift()) {
      const start = (part.part_number - 1) * plan.part_size;
      const number = part.part_number;
      const etag = await put(part, file.slice(start, start + plan.part_size), (n) => {
        sent.set(number, n);
        report();
      });
      if (!etag) throw new Error("S3 did not expose the part's ETag (bucket CORS ExposeHeaders)");
      etags.set(number, etag);
    }
  };
  try {
    await Promise.all([worker(), worker(), worker()]);
  } catch (error) {
    await fetch(uploadUrl(plan.abort.url), { method: plan.abort.method, headers: plan.abort.headers }).catch(() => undefined);
    throw error;
  }
  const xml = [...etags].sort(([a], [b]) => a - b)
    .map(([n, etag]) => `<Part><PartNumber>${n}</PartNumber><ETag>${etag}</ETag></Part>`).join("");
  const done = await fetch(uploadUrl(plan.complete.url), {
    method: plan.complete.method,
    headers: plan.complete.headers,
    body: `<CompleteMultipartUpload>${xml}</CompleteMultipartUpload>`,
  });
  if (!done.ok) throw new Error(`completing the upload failed: HTTP ${done.status}`);
}

/**
 * Playback and image URLs, served from this origin when they are the platform's outputs:
 * /media/outputs/... is the CDN path in AWS (the same CloudFront distribution as the app)
 * and the gateway's route to the media-jobs pass-through locally.
 */
export function playable(url: string): string {
  const parsed = new URL(url, location.href);
  return parsed.pathname.startsWith("/media/outputs/") ? `${parsed.pathname}${parsed.search}` : url;
}
