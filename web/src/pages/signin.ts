import { AuthError, signIn } from "../auth";
import { config } from "../config";
import { append, h } from "../dom";
import { navigate, type RouteContext } from "../router";

export function signInPage({ main, query }: RouteContext): void {
  const next = query.get("next");
  const error = h("p", { className: "error", role: "alert", id: "signin-error" });
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true, autocapitalize: "none" });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", className: "button" }, "Sign in");
  const form = h("form", { className: "form narrow", "aria-describedby": "signin-error" },
    h("div", { className: "field" }, h("label", { for: "username" }, "User name"), username),
    h("div", { className: "field" }, h("label", { for: "password" }, "Password"), password),
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      await signIn(username.value.trim(), password.value);
      navigate(next && next.startsWith("/") && !next.startsWith("/signin") ? next : "/recipes");
    } catch (failure) {
      error.textContent = failure instanceof AuthError ? failure.message : `Sign-in failed: ${String(failure)}`;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  append(main, [
    h("h1", {}, "Sign in"),
    form,
    config().environment === "local"
      ? h("p", { className: "hint" }, "Local demo users: alice / Regatta-alice-1, admin / Regatta-admin-1.")
      : null,
  ]);
  username.focus();
}
