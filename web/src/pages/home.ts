import { currentUser } from "../auth";
import { h } from "../dom";
import type { RouteContext } from "../router";

const AREAS = [
  { href: "#/recipes", title: "Recipes", text: "Browse, search and like recipes; share your own." },
  { href: "#/meetings", title: "Meetings", text: "Ask Meety, the assistant, to book a meeting." },
  { href: "#/stocks", title: "Stocks", text: "Live candles with moving averages, Bollinger bands and crossover signals." },
  { href: "#/media", title: "Media", text: "Upload a video and watch it stream at the bitrate your connection allows." },
];

export function homePage({ main }: RouteContext): void {
  const user = currentUser();
  main.append(
    h("h1", {}, "Regatta"),
    h("p", { className: "lead" }, "Five event-driven services, one page to use them."),
    h("ul", { className: "cards areas" },
      AREAS.map((area) =>
        h("li", { className: "card" },
          h("h2", {}, h("a", { href: area.href }, area.title)),
          h("p", {}, area.text))),
      user?.isAdmin
        ? h("li", { className: "card" },
            h("h2", {}, h("a", { href: "#/admin/meetings" }, "Approvals")),
            h("p", {}, "Approve or reject meeting requests; cancel approved meetings."))
        : null,
      user?.isAdmin
        ? h("li", { className: "card" },
            h("h2", {}, h("a", { href: "#/insights" }, "Insights")),
            h("p", {}, "Visitors, pages, countries, funnels and the platform's business events."))
        : null),
  );
}
