// Page views for the insights collector: one `page` event per route change, sent with
// navigator.sendBeacon (or a keepalive fetch) and never awaited, so reporting can neither
// block nor break a page. Nothing identifies the visitor: the collector derives a daily
// visitor hash itself and leaves it out when the browser sends DNT or Sec-GPC; under either,
// the event carries no client-side hint at all (no screen size, no language).

const ENDPOINT = "/insights/events";

let previousUrl: string | null = null;

interface PageEvent {
  type: "page";
  id: string;
  path: string;
  referrer: string | null;
  properties: Record<string, string | number | boolean | null>;
}

function eventId(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

/** The browser asked not to be tracked (Do Not Track or Global Privacy Control). */
export function doNotTrack(): boolean {
  const nav = navigator as Navigator & { globalPrivacyControl?: boolean; msDoNotTrack?: string };
  const windowDnt = (window as Window & { doNotTrack?: string }).doNotTrack;
  return nav.globalPrivacyControl === true || [nav.doNotTrack, windowDnt, nav.msDoNotTrack].some((v) => v === "1" || v === "yes");
}

/** An absolute http(s) URL without its query and fragment, or null. */
function cleanUrl(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return null;
  }
}

function send(body: string): void {
  try {
    const blob = new Blob([body], { type: "application/json" });
    if (typeof navigator.sendBeacon === "function" && navigator.sendBeacon(ENDPOINT, blob)) return;
  } catch {
    // fall through to fetch
  }
  try {
    void fetch(ENDPOINT, {
      method: "POST",
      body,
      keepalive: true,
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
    }).catch(() => undefined);
  } catch {
    // reporting never throws into the page
  }
}

/** Report a view of the app's route `path` (e.g. "/recipes/abc", query left out). The first
 *  view's referrer is the page the browser came from; later ones the previous route. */
export function reportPageView(path: string): void {
  const clean = `/${path.split("?")[0].replace(/^\/+/, "")}`;
  const url = `${location.origin}${clean === "/" ? "/" : clean}`;
  const referrer = previousUrl ?? cleanUrl(document.referrer);
  previousUrl = url;
  const event: PageEvent = { type: "page", id: eventId(), path: clean, referrer, properties: {} };
  if (!doNotTrack()) event.properties.screen = window.innerWidth >= 1024 ? "wide" : window.innerWidth >= 600 ? "medium" : "narrow";
  send(JSON.stringify(event));
}
