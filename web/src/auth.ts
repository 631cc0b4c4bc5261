// Sign-in with Cognito's USER_PASSWORD_AUTH over its public JSON API, the same requests
// whether the endpoint is Cognito itself (AWS) or the local gateway's /auth/cognito.
// Tokens live in sessionStorage (gone when the tab closes) and are refreshed with
// REFRESH_TOKEN_AUTH a minute before the access token expires.

import { config } from "./config";

export interface User {
  username: string;
  sub: string;
  groups: string[];
  isAdmin: boolean;
}

interface Session {
  username: string;
  accessToken: string;
  refreshToken: string;
  expiresAt: number; // ms since the epoch
}

const STORAGE_KEY = "regatta.session";
const REFRESH_MARGIN_MS = 60_000;

let session: Session | null = restore();
let refreshTimer: number | undefined;
let refreshing: Promise<void> | null = null;
const listeners = new Set<() => void>();

export class AuthError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

function restore(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function persist(): void {
  if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE_KEY);
  schedule();
  listeners.forEach((listener) => listener());
}

function claims(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  try {
    return JSON.parse(atob(base64)) as Record<string, unknown>;
  } catch {
    return {};
  }
}

async function cognito(action: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(config().cognito.endpoint, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
    },
    body: JSON.stringify(body),
  });
  const payload = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    const code = String(payload.__type ?? payload.title ?? "Error").split("#").pop() ?? "Error";
    const message =
      code === "NotAuthorizedException" || code === "UserNotFoundException"
        ? "Wrong user name or password."
        : String(payload.message ?? payload.detail ?? `Sign-in failed (HTTP ${response.status}).`);
    throw new AuthError(message, code);
  }
  return payload;
}

function accept(result: Record<string, unknown>, username: string, refreshToken?: string): void {
  const accessToken = String(result.AccessToken);
  const expiresIn = Number(result.ExpiresIn ?? 3600);
  const exp = Number(claims(accessToken).exp ?? 0) * 1000;
  session = {
    username: String(claims(accessToken).username ?? username),
    accessToken,
    refreshToken: String(result.RefreshToken ?? refreshToken ?? ""),
    expiresAt: exp || Date.now() + expiresIn * 1000,
  };
  persist();
}

export async function signIn(username: string, password: string): Promise<User> {
  const answer = await cognito("InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: config().cognito.clientId,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  const result = answer.AuthenticationResult as Record<string, unknown> | undefined;
  if (!result) {
    throw new AuthError(`Cognito asks for ${String(answer.ChallengeName ?? "another step")}, which this app does not support.`, "Challenge");
  }
  accept(result, username);
  return currentUser()!;
}

async function refresh(): Promise<void> {
  const current = session;
  if (!current) return;
  try {
    const answer = await cognito("InitiateAuth", {
      AuthFlow: "REFRESH_TOKEN_AUTH",
      ClientId: config().cognito.clientId,
      AuthParameters: { REFRESH_TOKEN: current.refreshToken },
    });
    accept(answer.AuthenticationResult as Record<string, unknown>, current.username, current.refreshToken);
  } catch (error) {
    if (error instanceof AuthError) {
      session = null; // the refresh token expired or was revoked
      persist();
    }
    // A network failure keeps the session; the next call tries again.
  }
}

function schedule(): void {
  window.clearTimeout(refreshTimer);
  if (!session) return;
  const due = Math.max(session.expiresAt - Date.now() - REFRESH_MARGIN_MS, 5_000);
  refreshTimer = window.setTimeout(() => void ensureFresh(true), due);
}

async function ensureFresh(force = false): Promise<void> {
  if (!session) return;
  if (!force && session.expiresAt - Date.now() > REFRESH_MARGIN_MS) return;
  refreshing ??= refresh().finally(() => {
    refreshing = null;
  });
  await refreshing;
}

/** A valid access token (refreshed first when close to expiry), or null when signed out. */
export async function accessToken(): Promise<string | null> {
  await ensureFresh();
  return session?.accessToken ?? null;
}

/** After a 401: refresh once; false when that did not give a new token. */
export async function recover(): Promise<boolean> {
  const before = session?.accessToken;
  await ensureFresh(true);
  return !!session && session.accessToken !== before;
}

export async function signOut(): Promise<void> {
  const current = session;
  session = null;
  persist();
  if (current) {
    // Revokes the refresh token everywhere; the short-lived access token simply expires.
    await cognito("GlobalSignOut", { AccessToken: current.accessToken }).catch(() => undefined);
  }
}

export function currentUser(): User | null {
  if (!session) return null;
  const token = claims(session.accessToken);
  const groups = Array.isArray(token["cognito:groups"]) ? (token["cognito:groups"] as string[]) : [];
  return {
    username: session.username,
    sub: String(token.sub ?? ""),
    groups,
    isAdmin: groups.includes("admins"),
  };
}

export function onAuthChange(listener: () => void): void {
  listeners.add(listener);
}

schedule();
