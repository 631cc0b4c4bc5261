import { ApiError, get, query, request } from "../api";
import { currentUser } from "../auth";
import { append, formatDateTime, h, toast } from "../dom";
import { navigate, type RouteContext } from "../router";
import type { LikeStatus, Page, Recipe } from "../types";

const SORTS: [string, string][] = [
  ["newest", "Newest first"],
  ["-likes", "Most liked first"],
  ["likes", "Least liked first"],
];
const PAGE_SIZE = 12;

function listPath(params: { q?: string; tag?: string; sort?: string }): string {
  const search = new URLSearchParams();
  if (params.q) search.set("q", params.q);
  if (params.tag) search.set("tag", params.tag);
  if (params.sort && params.sort !== "newest") search.set("sort", params.sort);
  const text = search.toString();
  return `/recipes${text ? `?${text}` : ""}`;
}

// Likes the signed-in user gave in this tab (the API says "liked" only when asked to change it).
const LIKED_KEY = "regatta.liked";
function likedIds(): Set<string> {
  const user = currentUser();
  const all = JSON.parse(sessionStorage.getItem(LIKED_KEY) ?? "{}") as Record<string, string[]>;
  return new Set(user ? all[user.sub] ?? [] : []);
}
function rememberLike(id: string, liked: boolean): void {
  const user = currentUser();
  if (!user) return;
  const all = JSON.parse(sessionStorage.getItem(LIKED_KEY) ?? "{}") as Record<string, string[]>;
  const ids = new Set(all[user.sub] ?? []);
  if (liked) ids.add(id);
  else ids.delete(id);
  all[user.sub] = [...ids];
  sessionStorage.setItem(LIKED_KEY, JSON.stringify(all));
}

function tagButton(tag: string, current: { q: string; sort: string }): HTMLElement {
  return h("a", { className: "tag", href: `#${listPath({ ...current, tag })}`, "aria-label": `Only recipes tagged ${tag}` }, tag);
}

function recipeCard(recipe: Recipe, current: { q: string; sort: string }): HTMLElement {
  return h("li", { className: "card recipe-card", "data-recipe-id": recipe.id },
    h("h2", {}, h("a", { href: `#/recipes/${recipe.id}` }, recipe.title)),
    h("p", { className: "meta" },
      `by ${recipe.author.username} · `,
      h("span", { "data-testid": "likes" }, `${recipe.likes} ${recipe.likes === 1 ? "like" : "likes"}`),
      ` · ${formatDateTime(recipe.created_at, { timeStyle: undefined })}`),
    recipe.description ? h("p", {}, recipe.description) : null,
    recipe.tags.length ? h("p", { className: "tags" }, recipe.tags.map((t) => tagButton(t, current))) : null,
  );
}

export async function recipeListPage({ main, query: params, signal }: RouteContext): Promise<() => void> {
  const q = params.get("q") ?? "";
  const tag = params.get("tag") ?? "";
  const sort = params.get("sort") ?? "newest";
  const user = currentUser();

  const search = h("input", { id: "recipe-q", type: "search", name: "q", value: q, placeholder: "tomato soup" });
  const tagInput = h("input", { id: "recipe-tag", name: "tag", value: tag, placeholder: "vegan"});
  const sortSelect = h("select", { id: "recipe-sort", name: "sort" },
    SORTS.map(([value, label]) => h("option", { value, selected: value === sort }, label)));
  const form = h("form", { className: "filters", role: "search", "aria-label": "Recipes" },
    h("div", { className: "field" }, h("label", { for: "recipe-q" }, "Search"), search),
    h("div", { className: "field" }, h("label", { for: "recipe-tag" }, "Tag"), tagInput),
    h("div", { className: "field" }, h("label", { for: "recipe-sort" }, "Sort"), sortSelect),
    h("button", { type: "submit", className: "button" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(listPath({ q: search.value.trim(), tag: tagInput.value.trim().toLowerCase(), sort: sortSelect.value }));
  });
  sortSelect.addEventListener("change", () => form.requestSubmit());

  const list = h("ul", { className: "cards", id: "recipe-list", "aria-live": "polite", "aria-busy": "true" });
  const status = h("p", { className: "status", id: "recipe-status", role: "status" }, "Loading recipes…");
  const more = h("button", { type: "button", className: "button secondary", hidden: true }, "Load more");
  const sentinel = h("div", { className: "sentinel", "aria-hidden": "true" });
  const filtersSummary = tag || q
    ? h("p", { className: "hint" }, `Showing recipes${q ? ` matching “${q}”` : ""}${tag ? ` tagged “${tag}”` : ""}. `,
        h("a", { href: "#/recipes" }, "Show all"))
    : null;

  append(main, [
    h("div", { className: "page-head" },
      h("h1", {}, "Recipes"),
      user ? h("a", { className: "button", href: "#/recipes/new" }, "Share a recipe") : h("a", { href: "#/signin?next=%2Frecipes%2Fnew" }, "Sign in to share a recipe")),
    form, filtersSummary, status, list, more, sentinel,
  ]);

  let cursor: string | null = null;
  let loading = false;
  let count = 0;
  const current = { q, sort };
  async function load(): Promise<void> {
    if (loading) return;
    loading = true;
    more.disabled = true;
    list.setAttribute("aria-busy", "true");
    try {
      const page = await get<Page<Recipe>>(
        `/recipes${query({ q, tag, sort, limit: PAGE_SIZE, cursor })}`, signal);
      list.append(...page.items.map((r) => recipeCard(r, current)));
      count += page.items.length;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.textContent = count === 0
        ? (q || tag ? "No recipe matches." : "No recipes yet.")
        : `${count} recipe${count === 1 ? "" : "s"}${cursor ? " so far" : ""}.`;
    } catch (error) {
      if (!signal.aborted) status.textContent = `Could not load recipes: ${(error as Error).message}`;
    } finally {
      loading = false;
      more.disabled = false;
      list.setAttribute("aria-busy", "false");
    }
  }
  more.addEventListener("click", () => void load());
  // Infinite scroll: the next page loads when the end of the list comes into view.
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && cursor && !loading) void load();
  });
  observer.observe(sentinel);
  await load();
  return () => observer.disconnect();
}

export async function recipePage({ main, params, signal }: RouteContext): Promise<void> {
  let recipe: Recipe;
  try {
    recipe = await get<Recipe>(`/recipes/${encodeURIComponent(params.id)}`, signal);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      main.append(h("h1", {}, "Recipe not found"), h("p", {}, h("a", { href: "#/recipes" }, "Back to recipes")));
      return;
    }
    throw error;
  }
  const user = currentUser();
  const mayChange = !!user && (user.sub === recipe.author.id || user.isAdmin);
  const likes = h("span", { id: "like-count" }, `${recipe.likes} ${recipe.likes === 1 ? "like" : "likes"}`);
  let liked = likedIds().has(recipe.id);
  const likeButton = h("button", { type: "button", className: "button like", "aria-pressed": String(liked), id: "like-button" },
    liked ? "♥ Liked" : "♡ Like");
  likeButton.addEventListener("click", async () => {
    likeButton.disabled = true;
    try {
      const { data } = await request<LikeStatus>(`/recipes/${recipe.id}/likes`, { method: liked ? "DELETE" : "POST" });
      liked = data.liked;
      rememberLike(recipe.id, liked);
      likeButton.setAttribute("aria-pressed", String(liked));
      likeButton.textContent = liked ? "♥ Liked" : "♡ Like";
      likes.textContent = `${data.likes} ${data.likes === 1 ? "like" : "likes"}`;
      toast(liked ? "Liked." : "Like taken back.");
    } catch (error) {
      toast(`Could not change the like: ${(error as Error).message}`);
    } finally {
      likeButton.disabled = false;
    }
  });

  const actions = h("div", { className: "actions" },
    user ? likeButton : h("a", { href: `#/signin?next=${encodeURIComponent(`/recipes/${recipe.id}`)}` }, "Sign in to like"),
    mayChange ? h("a", { className: "button secondary", href: `#/recipes/${recipe.id}/edit` }, "Edit") : null,
    mayChange ? deleteControl(recipe) : null,
  );

  main.append(
    h("p", { className: "crumbs" }, h("a", { href: "#/recipes" }, "← All recipes")),
    h("article", { className: "recipe" },
      h("h1", {}, recipe.title),
      h("p", { className: "meta" }, `by ${recipe.author.username} · `, likes,
        recipe.servings ? ` · serves ${recipe.servings}` : "",
        recipe.prep_minutes ? ` · ${recipe.prep_minutes} min` : "",
        ` · ${formatDateTime(recipe.created_at)}`),
      recipe.description ? h("p", { className: "lead" }, recipe.description) : null,
      actions,
      h("div", { className: "columns" },
        h("section", { "aria-labelledby": "ingredients-heading" },
          h("h2", { id: "ingredients-heading" }, "Ingredients"),
          h("ul", {}, recipe.ingredients.map((line) => h("li", {}, line.description)))),
        h("section", { "aria-labelledby": "steps-heading" },
          h("h2", { id: "steps-heading" }, "Steps"),
          h("ol", {}, recipe.steps.map((line) => h("li", {}, line.description))))),
      recipe.tags.length
        ? h("p", { className: "tags" }, "Tags: ", recipe.tags.map((t) => h("a", { className: "tag", href: `#/recipes?tag=${encodeURIComponent(t)}` }, t)))
        : null,
    ),
  );
}

function deleteControl(recipe: Recipe): HTMLElement {
  const box = h("span", { className: "confirm" });
  const ask = h("button", { type: "button", className: "button danger" }, "Delete");
  const error = h("span", { className: "error", role: "alert" });
  ask.addEventListener("click", () => {
    const yes = h("button", { type: "button", className: "button danger" }, "Yes, delete it");
    const no = h("button", { type: "button", className: "button secondary" }, "Keep it");
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await request(`/recipes/${recipe.id}`, { method: "DELETE" });
        toast(`Deleted “${recipe.title}”.`);
        navigate("/recipes");
      } catch (failure) {
        error.textContent = `Could not delete: ${(failure as Error).message}`;
        yes.disabled = false;
      }
    });
    no.addEventListener("click", () => box.replaceChildren(ask));
    box.replaceChildren(h("span", {}, "Delete this recipe for good? "), yes, no, error);
    no.focus();
  });
  box.append(ask);
  return box;
}
