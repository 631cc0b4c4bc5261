// Insights (admins): the collector's events and the platform's business events over a date
// range, every number computed by the insights API (DuckDB over the lake). The page asks for
// aggregates only and renders at most `limit` rows per panel, so 60 days of a million events
// cost it no more than a quiet week; each panel draws as soon as its own answer is in.

import { ApiError, get, query } from "../api";
import { currentUser } from "../auth";
import { timeSeriesChart } from "../chart";
import { h, uniqueId } from "../dom";
import type { RouteContext } from "../router";
import type {
  InsightsBreakdownItem,
  InsightsBucket,
  InsightsFunnelStep,
  InsightsOverview,
  InsightsPlatformItem,
} from "../types";

const BASE = "/insights/reports";
const ROWS = 10;
const PRESETS = [
  { days: 1, label: "Today" },
  { days: 7, label: "Last 7 days" },
  { days: 30, label: "Last 30 days" },
  { days: 60, label: "Last 60 days" },
  { days: 90, label: "Last 90 days" },
];
const METRICS = ["visitors", "visits", "pageviews", "events"] as const;
type Metric = (typeof METRICS)[number];
const DEFAULT_STEPS = ["/home", "/product", "/cart", "event:purchase"];
// How the event mix names page views (they are funnel steps by path, not by event name).
const PAGE_EVENTS = new Set(["page", "pageview"]);

interface Range {
  from: string;
  to: string;
  tz: string;
}

/** YYYY-MM-DD of `date` in the time zone. */
export function isoDay(date: Date, timeZone: string): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
}

function addDays(day: string, days: number): string {
  const [y, m, d] = day.split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1, d + days));
  return date.toISOString().slice(0, 10);
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;
}

function localZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function rangeOf(search: URLSearchParams): Range {
  const tz = search.get("tz") || localZone();
  const today = isoDay(new Date(), tz);
  const valid = (v: string | null) => (v && /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : null);
  let to = valid(search.get("to")) ?? today;
  let from = valid(search.get("from")) ?? addDays(to, -29);
  if (from > to) [from, to] = [to, from];
  return { from, to, tz };
}

function format(n: number): string {
  return n.toLocaleString(undefined, { maximumFractionDigits: 0 });
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return "0 s";
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m ? `${m} min ${s} s` : `${s} s`;
}

function percent(ratio: number): string {
  return `${(ratio * 100).toLocaleString(undefined, { maximumFractionDigits: 1 })} %`;
}

/** dev.regatta.recipes.recipe.created.v1 -> "Recipe created". */
export function eventLabel(type: string): string {
  const parts = type.replace(/\.v\d+$/, "").split(".");
  const words = parts.length > 3 ? parts.slice(3) : parts;
  const text = words.join(" ").replace(/[_-]/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A panel: a section with a heading, a status line and a body that its loader fills. */
function panel(id: string, title: string, className = ""): { section: HTMLElement; body: HTMLElement; status: HTMLElement } {
  const heading = uniqueId("h");
  const status = h("p", { className: "status", role: "status" }, "Loading…");
  const body = h("div", { className: "panel-body" });
  const section = h("section", { className: `panel ${className}`.trim(), id, "aria-labelledby": heading, "aria-busy": "true" },
    h("h2", { id: heading }, title), status, body);
  return { section, body, status };
}

async function fill(target: { section: HTMLElement; body: HTMLElement; status: HTMLElement }, load: () => Promise<Node[] | string>): Promise<void> {
  try {
    const result = await load();
    target.status.textContent = typeof result === "string" ? result : "";
    if (typeof result !== "string") target.body.replaceChildren(...result);
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") return;
    target.status.textContent = "";
    target.body.replaceChildren(h("p", { className: "error", role: "alert" },
      error instanceof ApiError ? `${error.title}: ${error.detail}` : String(error)));
  } finally {
    target.section.setAttribute("aria-busy", "false");
    target.section.dataset.loaded = "true";
  }
}

/** A bar of `ratio` (0..1) of its cell: the width is set through the CSSOM, which the
 *  Content-Security-Policy (style-src 'self', no inline style attributes) allows. */
function bar(ratio: number): HTMLElement {
  const element = h("span", { className: "bar", "aria-hidden": "true" });
  element.style.width = `${(Math.max(0, Math.min(1, ratio)) * 100).toFixed(1)}%`;
  return element;
}

type Measure = "visitors" | "pageviews" | "events";
const MEASURE_LABEL: Record<Measure, string> = { visitors: "Visitors", pageviews: "Page views", events: "Events" };

/** Rows with a proportional bar on `key` (and, after it, the `also` columns): at most ROWS
 *  of them, in the API's order. */
function barTable(caption: string, items: InsightsBreakdownItem[], key: Measure, name: string,
                  empty = "(none)", also: Measure[] = []): HTMLElement {
  const top = Math.max(1, ...items.map((i) => i[key]));
  const columns = [key, ...also];
  return h("div", { className: "table-wrap" },
    h("table", { className: "bars", "data-rows": items.length },
      h("caption", { className: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, name),
        columns.map((c) => h("th", { scope: "col", className: "num" }, MEASURE_LABEL[c])))),
      h("tbody", {}, items.map((item) =>
        h("tr", {},
          h("th", { scope: "row" },
            bar(item[key] / top),
            h("span", { className: "bar-label" }, item.value ?? empty)),
          columns.map((c) => h("td", { className: "num" }, format(item[c]))))))));
}

export async function insightsPage({ main, query: search, signal }: RouteContext): Promise<void> {
  const user = currentUser();
  main.append(h("h1", {}, "Insights"));
  if (!user?.isAdmin) {
    main.append(h("p", {}, "Only admins see the insights. ",
      h("a", { href: "#/signin?next=%2Finsights" }, "Sign in as an admin"), "."));
    return;
  }
  const range = rangeOf(search);
  const days = daysBetween(range.from, range.to);
  const interval: "hour" | "day" = days <= 2 ? "hour" : "day";
  const metric: Metric = (METRICS as readonly string[]).includes(search.get("metric") ?? "") ? (search.get("metric") as Metric) : "visitors";
  const common = { from: range.from, to: range.to, tz: range.tz };
  const report = <T>(name: string, extra: Record<string, string | number> = {}) =>
    get<T>(`${BASE}/${name}${query({ ...common, ...extra })}`, signal);

  // --- the range -------------------------------------------------------------------------------
  const go = (next: Partial<Range & { metric: Metric }>) => {
    const params = new URLSearchParams({ from: next.from ?? range.from, to: next.to ?? range.to, tz: range.tz, metric: next.metric ?? metric });
    location.hash = `/insights?${params}`;
  };
  const fromInput = h("input", { type: "date", id: "insights-from", value: range.from, max: range.to, required: true });
  const toInput = h("input", { type: "date", id: "insights-to", value: range.to, required: true });
  const today = isoDay(new Date(), range.tz);
  const preset = h("select", { id: "insights-preset" },
    h("option", { value: "" }, "Custom"),
    PRESETS.map((p) => h("option", { value: String(p.days), selected: range.to === today && days === p.days }, p.label)));
  preset.addEventListener("change", () => {
    if (!preset.value) return;
    go({ from: addDays(today, 1 - Number(preset.value)), to: today });
  });
  const form = h("form", { className: "filters", id: "insights-range", "aria-label": "Date range" },
    h("div", { className: "field" }, h("label", { for: "insights-preset" }, "Range"), preset),
    h("div", { className: "field" }, h("label", { for: "insights-from" }, "From"), fromInput),
    h("div", { className: "field" }, h("label", { for: "insights-to" }, "To"), toInput),
    h("div", { className: "field" }, h("span", { className: "meta" }, `Days in ${range.tz}`),
      h("button", { type: "submit", className: "button" }, "Apply")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go({ from: fromInput.value, to: toInput.value });
  });

  // --- the panels -------------------------------------------------------------------------------
  const overview = panel("insights-overview", "Overview", "wide");
  const series = panel("insights-timeseries", "Over time", "wide");
  const pages = panel("insights-pages", "Top pages");
  const referrers = panel("insights-referrers", "Top referrers");
  const continents = panel("insights-continents", "Continents");
  const countries = panel("insights-countries", "Countries");
  const devices = panel("insights-devices", "Devices");
  const browsers = panel("insights-browsers", "Browsers");
  const mix = panel("insights-events", "Event mix");
  const funnel = panel("insights-funnel", "Funnel", "wide");
  const business = panel("insights-business", "Business", "wide");

  const metricSelect = h("select", { id: "insights-metric" },
    METRICS.map((m) => h("option", { value: m, selected: m === metric }, m.charAt(0).toUpperCase() + m.slice(1))));
  metricSelect.addEventListener("change", () => go({ metric: metricSelect.value as Metric }));
  series.section.insertBefore(h("div", { className: "field inline" }, h("label", { for: "insights-metric" }, "Metric"), metricSelect), series.status);

  main.append(
    h("p", { className: "hint" }, "Visitors are counted without cookies (a daily hash that cannot follow anyone across days); bots are left out. Figures come from the lake, a minute or so behind."),
    form,
    h("div", { className: "panels" },
      overview.section, series.section, pages.section, referrers.section, continents.section, countries.section,
      devices.section, browsers.section, mix.section, funnel.section, business.section),
  );

  const breakdown = (by: string) => report<{ items: InsightsBreakdownItem[] }>("breakdown", { by, limit: ROWS });
  const emptyText = "Nothing in this range.";

  // The funnel builder: ordered steps, each a page path or event:<name>.
  const stepList = h("ol", { className: "funnel-steps", id: "funnel-steps" });
  const suggestions = h("datalist", { id: uniqueId("funnel-options") });
  const result = h("div", { id: "funnel-result", "aria-live": "polite" });
  const funnelError = h("p", { className: "error", role: "alert" });
  const initialSteps = (search.get("steps") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const addStep = (value = "") => {
    const id = uniqueId("funnel-step");
    const input = h("input", { id, type: "text", value, list: suggestions.id, placeholder: "/path or event:name", className: "funnel-step" });
    const item = h("li", {},
      h("label", { for: id, className: "visually-hidden" }, "Step"), input,
      h("button", { type: "button", className: "button secondary", "aria-label": "Remove this step", onclick: () => item.remove() }, "✕"));
    stepList.append(item);
    return input;
  };
  (initialSteps.length ? initialSteps : DEFAULT_STEPS).forEach((s) => addStep(s));
  const runFunnel = async (): Promise<void> => {
    const steps = [...stepList.querySelectorAll<HTMLInputElement>("input")].map((i) => i.value.trim()).filter(Boolean);
    funnelError.textContent = "";
    if (steps.length < 2) {
      funnelError.textContent = "A funnel needs at least two steps.";
      return;
    }
    result.setAttribute("aria-busy", "true");
    try {
      const answer = await report<{ items: InsightsFunnelStep[] }>("funnel", { steps: steps.join(",") });
      const top = Math.max(1, ...answer.items.map((s) => s.visits));
      result.replaceChildren(h("ol", { className: "funnel", "data-steps": answer.items.length },
        answer.items.map((s) => h("li", {},
          bar(s.visits / top),
          h("span", { className: "bar-label" }, h("strong", {}, s.step), ` ${format(s.visits)} visits · ${percent(s.conversion)}`)))));
    } catch (error) {
      if (!(error instanceof DOMException && error.name === "AbortError")) {
        funnelError.textContent = error instanceof ApiError ? `${error.title}: ${error.detail}` : String(error);
      }
    } finally {
      result.setAttribute("aria-busy", "false");
    }
  };
  const funnelForm = h("form", { className: "funnel-builder", id: "funnel-builder", "aria-label": "Funnel steps" },
    stepList, suggestions,
    h("div", { className: "actions" },
      h("button", { type: "button", className: "button secondary", onclick: () => addStep().focus() }, "Add step"),
      h("button", { type: "submit", className: "button" }, "Show funnel")),
    funnelError);
  funnelForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void runFunnel();
  });

  await Promise.allSettled([
    fill(overview, async () => {
      const o = await report<InsightsOverview>("overview");
      const tile = (key: string, label: string, value: string) =>
        h("div", { className: "tile", "data-metric": key }, h("dt", {}, label), h("dd", {}, value));
      return [h("dl", { className: "tiles" },
        tile("visitors", "Visitors", format(o.visitors)),
        tile("visits", "Visits", format(o.visits)),
        tile("pageviews", "Page views", format(o.pageviews)),
        tile("events", "Events", format(o.events)),
        tile("bounce_rate", "Bounce rate", percent(o.bounce_rate)),
        tile("visit_duration", "Visit duration", duration(o.visit_duration)))];
    }),
    fill(series, async () => {
      const answer = await report<{ items: InsightsBucket[] }>("timeseries", { metric, interval });
      return [h("figure", { className: "chart-box" },
        timeSeriesChart(answer.items, { metric, interval, timeZone: range.tz }),
        h("figcaption", { className: "meta" }, `${metric} per ${interval}, ${range.from} to ${range.to}`))];
    }),
    fill(pages, async () => {
      const { items } = await breakdown("page");
      suggestions.append(...items.map((i) => h("option", { value: i.value ?? "" })));
      return items.length ? [barTable("Top pages", items, "visitors", "Page", "(none)", ["pageviews"])] : emptyText;
    }),
    fill(referrers, async () => {
      const { items } = await breakdown("referrer");
      return items.length ? [barTable("Top referrers by visitors", items, "visitors", "Referrer", "(direct)")] : emptyText;
    }),
    fill(continents, async () => {
      const { items } = await breakdown("continent");
      return items.length ? [barTable("Visitors by continent", items, "visitors", "Continent", "Unknown")] : emptyText;
    }),
    fill(countries, async () => {
      const { items } = await breakdown("country");
      return items.length ? [barTable("Visitors by country", items, "visitors", "Country", "Unknown")] : emptyText;
    }),
    fill(devices, async () => {
      const { items } = await breakdown("device");
      return items.length ? [barTable("Visitors by device", items, "visitors", "Device", "other")] : emptyText;
    }),
    fill(browsers, async () => {
      const { items } = await breakdown("browser");
      return items.length ? [barTable("Visitors by browser", items, "visitors", "Browser", "Unknown")] : emptyText;
    }),
    fill(mix, async () => {
      const { items } = await breakdown("event");
      suggestions.append(...items.filter((i) => i.value && !PAGE_EVENTS.has(i.value)).map((i) => h("option", { value: `event:${i.value}` })));
      return items.length ? [barTable("Events by name", items, "events", "Event")] : emptyText;
    }),
    fill(funnel, async () => {
      await runFunnel();
      return [funnelForm, result];
    }),
    fill(business, async () => {
      const { items } = await report<{ items: InsightsPlatformItem[] }>("platform", { limit: 1000 });
      if (!items.length) return "No business events in this range.";
      const totals = new Map<string, number>();
      for (const item of items) totals.set(item.type, (totals.get(item.type) ?? 0) + item.count);
      const sorted = [...totals.entries()].sort((a, b) => b[1] - a[1]);
      return [h("dl", { className: "tiles kpis" }, sorted.map(([type, count]) =>
        h("div", { className: "tile", "data-type": type, title: type }, h("dt", {}, eventLabel(type)), h("dd", {}, format(count)))))];
    }),
  ]);
}
