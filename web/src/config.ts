// Where this deployment's Cognito lives: /config.json (the local gateway serves it; in AWS
// Terraform writes it into the web bucket).

export interface AppConfig {
  cognito: { endpoint: string; clientId: string; region: string };
  environment?: string;
  // Local stacks only: presigned upload URLs starting with `from` are sent to `to` instead
  // (the gateway relays them to the emulator's S3).
  uploads?: { rewrite?: { from: string; to: string } };
}

let loaded: AppConfig | undefined;

export async function loadConfig(): Promise<AppConfig> {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  loaded = (await response.json()) as AppConfig;
  return loaded;
}

export function config(): AppConfig {
  if (!loaded) throw new Error("config not loaded yet");
  return loaded;
}
