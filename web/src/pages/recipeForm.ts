import { ApiError, request, type FieldError } from "../api";
import { currentUser } from "../auth";
import { h, toast } from "../dom";
import { navigate, type RouteContext } from "../router";
import type { Recipe } from "../types";

interface FieldSpec {
  name: string;
  label: string;
  hint?: string;
  multiline?: boolean;
  type?: string;
}

const FIELDS: FieldSpec[] = [
  { name: "title", label: "Title" },
  { name: "description", label: "Description", multiline: true, hint: "Optional." },
  { name: "ingredients", label: "Ingredients", multiline: true, hint: "One per line." },
  { name: "steps", label: "Steps", multiline: true, hint: "One per line, in order." },
  { name: "tags", label: "Tags", hint: "Comma-separated, e.g. vegan, soup." },
  { name: "servings", label: "Servings", type: "number", hint: "Optional." },
  { name: "prep_minutes", label: "Preparation time (minutes)", type: "number", hint: "Optional." },
];

function lines(text: string): { description: string }[] {
  return text.split("\n").filter((line) => line.trim() !== "").map((description) => ({ description }));
}

function optionalNumber(text: string): number | string | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const value = Number(trimmed);
  // Anything that is not a number goes to the server as typed: its message explains.
  return Number.isFinite(value) ? value : trimmed;
}

/** Which form field a server error belongs to, and the text shown next to it. */
export function placeError(error: FieldError): { field: string; message: string } {
  const [field, index] = error.field.split(".");
  const known = FIELDS.some((f) => f.name === field);
  if (!known) return { field: "", message: `${error.field}: ${error.message}` };
  const position = index !== undefined && /^\d+$/.test(index) ? `Line ${Number(index) + 1}: ` : "";
  return { field, message: `${position}${error.message}` };
}

export async function recipeFormPage({ main, params, signal }: RouteContext): Promise<void> {
  const user = currentUser();
  const editing = params.id;
  if (!user) {
    const next = encodeURIComponent(editing ? `/recipes/${editing}/edit` : "/recipes/new");
    main.append(h("h1", {}, editing ? "Edit recipe" : "Share a recipe"),
      h("p", {}, h("a", { href: `#/signin?next=${next}` }, "Sign in"), " to share recipes."));
    return;
  }
  let recipe: Recipe | null = null;
  let etag: string | null = null;
  if (editing) {
    const response = await request<Recipe>(`/recipes/${encodeURIComponent(editing)}`, { signal });
    recipe = response.data;
    etag = response.headers.get("ETag") ?? `"${recipe.version}"`;
  }
  const initial: Record<string, string> = {
    title: recipe?.title ?? "",
    description: recipe?.description ?? "",
    ingredients: recipe?.ingredients.map((l) => l.description).join("\n") ?? "",
    steps: recipe?.steps.map((l) => l.description).join("\n") ?? "",
    tags: recipe?.tags.join(", ") ?? "",
    servings: recipe?.servings?.toString() ?? "",
    prep_minutes: recipe?.prep_minutes?.toString() ?? "",
  };

  const inputs: Record<string, HTMLInputElement | HTMLTextAreaElement> = {};
  const errors: Record<string, HTMLElement> = {};
  const formError = h("p", { className: "error", role: "alert", id: "form-error" });
  const form = h("form", { className: "form", novalidate: true, id: "recipe-form" });
  for (const spec of FIELDS) {
    const id = `recipe-${spec.name}`;
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const input = spec.multiline
      ? h("textarea", { id, name: spec.name, rows: spec.name === "description" ? 2 : 5 })
      : h("input", { id, name: spec.name, type: spec.type ?? "text", inputmode: spec.type === "number" ? "numeric" : undefined });
    input.value = initial[spec.name];
    input.setAttribute("aria-describedby", [spec.hint ? hintId : "", errorId].filter(Boolean).join(" "));
    inputs[spec.name] = input;
    errors[spec.name] = h("p", { className: "field-error", id: errorId, "data-field": spec.name });
    form.append(h("div", { className: "field" },
      h("label", { for: id }, spec.label),
      spec.hint ? h("p", { className: "hint", id: hintId }, spec.hint) : null,
      input,
      errors[spec.name]));
  }
  const submit = h("button", { type: "submit", className: "button" }, editing ? "Save changes" : "Share recipe");
  form.append(formError, h("div", { className: "actions" }, submit,
    h("a", { className: "button secondary", href: editing ? `#/recipes/${editing}` : "#/recipes" }, "Cancel")));

  function showErrors(list: FieldError[], fallback: string): void {
    let first: HTMLElement | null = null;
    const general: string[] = [];
    for (const item of list) {
      const placed = placeError(item);
      if (!placed.field) {
        general.push(placed.message);
        continue;
      }
      const slot = errors[placed.field];
      slot.textContent = slot.textContent ? `${slot.textContent} ${placed.message}` : placed.message;
      inputs[placed.field].setAttribute("aria-invalid", "true");
      first ??= inputs[placed.field];
    }
    formError.textContent = general.length ? general.join(" ") : list.length ? "Please correct the marked fields." : fallback;
    (first ?? formError).focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const name of Object.keys(errors)) {
      errors[name].textContent = "";
      inputs[name].removeAttribute("aria-invalid");
    }
    formError.textContent = "";
    const body = {
      title: inputs.title.value,
      description: inputs.description.value,
      ingredients: lines(inputs.ingredients.value),
      steps: lines(inputs.steps.value),
      tags: inputs.tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      servings: optionalNumber(inputs.servings.value),
      prep_minutes: optionalNumber(inputs.prep_minutes.value),
    };
    submit.disabled = true;
    try {
      const { data } = editing
        ? await request<Recipe>(`/recipes/${editing}`, { method: "PUT", body, headers: etag ? { "If-Match": etag } : {} })
        : await request<Recipe>("/recipes", { method: "POST", body });
      toast(editing ? "Saved." : "Recipe shared.");
      navigate(`/recipes/${data.id}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) {
        showErrors([], "Someone changed this recipe meanwhile. Reload the page to edit the latest version.");
      } else if (error instanceof ApiError) {
        showErrors(error.errors, error.detail);
      } else {
        showErrors([], `Could not save: ${String(error)}`);
      }
    } finally {
      submit.disabled = false;
    }
  });

  main.append(
    h("p", { className: "crumbs" }, h("a", { href: editing ? `#/recipes/${editing}` : "#/recipes" }, "← Back")),
    h("h1", {}, editing ? `Edit “${recipe?.title}”` : "Share a recipe"),
    form,
  );
  inputs.title.focus();
}

