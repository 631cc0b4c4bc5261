// Hash routes (#/recipes/abc): the paths never collide with the API prefixes that the same
// origin forwards to the services, and a static host needs no rewrite rules. Every route
// change is reported to the insights collector as a page view (analytics.ts), without waiting.

import { reportPageView } from "./analytics";

export type Cleanup = () => void;
export interface RouteContext {
  params: Record<string, string>;
  query: URLSearchParams;
  main: HTMLElement;
  signal: AbortSignal;
}
export type Page = (context: RouteContext) => Promise<Cleanup | void> | Cleanup | void;

interface Route {
  pattern: RegExp;
  keys: string[];
  page: Page;
  section: string;
}

const routes: Route[] = [];
let cleanup: Cleanup | void;
let controller: AbortController | undefined;
// The route last reported: navigate() to the current route renders again without a new view.
let reported: string | undefined;

export function route(path: string, section: string, page: Page): void {
  const keys: string[] = [];
  const pattern = new RegExp(
    "^" + path.replace(/:(\w+)/g, (_, key: string) => (keys.push(key), "([^/]+)")) + "/?$",
  );
  routes.push({ pattern, keys, page, section });
}

export function navigate(path: string): void {
  if (location.hash === `#${path}`) void render();
  else location.hash = path;
}

export function currentPath(): string {
  return location.hash.replace(/^#/, "") || "/";
}

export async function render(): Promise<void> {
  const main = document.getElementById("main")!;
  const full = currentPath();
  const [path, search = ""] = full.split("?");
  // What had focus when the navigation started: if the user moves focus while the page
  // loads, the page does not take it back.
  const focusedBefore = document.activeElement;
  main.dataset.ready = "false";
  main.dataset.route = full;
  if (full !== reported) {
    reported = full;
    reportPageView(path);
  }
  controller?.abort();
  if (typeof cleanup === "function") cleanup();
  cleanup = undefined;
  controller = new AbortController();
  const signal = controller.signal;
  const match = routes.find((r) => r.pattern.test(path));
  document.querySelectorAll<HTMLAnchorElement>("[data-section]").forEach((link) => {
    if (match && link.dataset.section === match.section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
  main.replaceChildren();
  if (!match) {
    main.append(Object.assign(document.createElement("h1"), { textContent: "Page not found" }));
    main.dataset.ready = "true";
    return;
  }
  const values = match.pattern.exec(path)!.slice(1);
  const params = Object.fromEntries(match.keys.map((key, i) => [key, decodeURIComponent(values[i])]));
  try {
    const result = await match.page({ params, query: new URLSearchParams(search), main, signal });
    if (signal.aborted) {
      if (typeof result === "function") result();
      return;
    }
    cleanup = result;
  } catch (error) {
    if (signal.aborted) return;
    main.replaceChildren();
    const heading = Object.assign(document.createElement("h1"), { textContent: "Something went wrong" });
    const detail = Object.assign(document.createElement("p"), {
      className: "error",
      textContent: error instanceof Error ? error.message : String(error),
    });
    detail.setAttribute("role", "alert");
    main.append(heading, detail);
  }
  const heading = main.querySelector("h1");
  if (heading) {
    document.title = `${heading.textContent} · Regatta`;
    heading.setAttribute("tabindex", "-1");
    // Move focus to the new page for keyboard and screen reader users, unless the page
    // focused a field of its own or the user moved focus meanwhile.
    const active = document.activeElement;
    const untouched = active === focusedBefore || active === document.body || !active?.isConnected;
    if (untouched && !main.contains(active)) heading.focus({ preventScroll: true });
  }
  if (!signal.aborted) main.dataset.ready = "true";
}

export function start(): void {
  window.addEventListener("hashchange", () => void render());
  void render();
}
