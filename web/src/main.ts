import "./styles.css";
import { currentUser, onAuthChange, signOut } from "./auth";
import { loadConfig } from "./config";
import { h } from "./dom";
import { currentPath, navigate, route, start } from "./router";
import { homePage } from "./pages/home";
import { signInPage } from "./pages/signin";
import { recipeListPage, recipePage } from "./pages/recipes";
import { recipeFormPage } from "./pages/recipeForm";
import { chatPage } from "./pages/chat";
import { approvalsPage } from "./pages/approvals";
import { stockListPage, stockPage } from "./pages/stocks";
import { mediaPage } from "./pages/media";
import { insightsPage } from "./pages/insights";

route("/", "home", homePage);
route("/signin", "signin", signInPage);
route("/recipes", "recipes", recipeListPage);
route("/recipes/new", "recipes", recipeFormPage);
route("/recipes/:id", "recipes", recipePage);
route("/recipes/:id/edit", "recipes", recipeFormPage);
route("/meetings", "meetings", chatPage);
route("/admin/meetings", "admin", approvalsPage);
route("/stocks", "stocks", stockListPage);
route("/stocks/:symbol", "stocks", stockPage);
route("/media", "media", mediaPage);
route("/insights", "insights", insightsPage);
// The player (and hls.js) loads only when a video is opened.
route("/media/:guid", "media", async (context) => (await import("./pages/player")).playerPage(context));

function renderAccount(): void {
  const account = document.getElementById("account")!;
  const user = currentUser();
  document.querySelectorAll<HTMLElement>("[data-admin]").forEach((el) => (el.hidden = !user?.isAdmin));
  if (user) {
    account.replaceChildren(
      h("span", { className: "who", "data-testid": "signed-in-as" }, user.username, user.isAdmin ? " (admin)" : ""),
      h("button", {
        type: "button",
        className: "button secondary",
        onclick: async () => {
          await signOut();
          navigate("/");
        },
      }, "Sign out"),
    );
  } else {
    const next = encodeURIComponent(currentPath());
    account.replaceChildren(h("a", { className: "button", href: `#/signin?next=${next}` }, "Sign in"));
  }
}

function wireMenu(): void {
  const toggle = document.querySelector<HTMLButtonElement>(".nav-toggle")!;
  const links = document.getElementById("nav-links")!;
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    links.classList.toggle("open", open);
  });
  window.addEventListener("hashchange", () => {
    toggle.setAttribute("aria-expanded", "false");
    links.classList.remove("open");
    renderAccount();
  });
}

async function boot(): Promise<void> {
  try {
    await loadConfig();
  } catch (error) {
    document.getElementById("main")!.replaceChildren(
      h("h1", {}, "Regatta is not reachable"),
      h("p", { role: "alert" }, `Could not load the app's configuration: ${String(error)}`),
    );
    return;
  }
  wireMenu();
  onAuthChange(renderAccount);
  renderAccount();
  start();
}

void boot();
