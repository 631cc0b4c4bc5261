// The shapes the services return (see each service's models.py).

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Line {
  id: number;
  description: string;
}

export interface Recipe {
  id: string;
  title: string;
  description: string;
  ingredients: Line[];
  steps: Line[];
  tags: string[];
  servings: number | null;
  prep_minutes: number | null;
  author: { id: string; username: string };
  likes: number;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface LikeStatus {
  likes: number;
  liked: boolean;
}

export interface DialogView {
  intent: string | null;
  state: string;
  slot_to_elicit: string | null;
  slots: Record<string, string | number | null>;
  confirmation: string;
}

export interface Meeting {
  id: string;
  status: "pending" | "approved" | "rejected" | "cancelled";
  attendee_name: string;
  email: string;
  date: string;
  start_time: string;
  end_time: string;
  duration_minutes: number;
  timezone: string;
  start: string;
  end: string;
  version: number;
}

export interface ChatReply {
  session_id: string;
  messages: string[];
  dialog: DialogView;
  meeting: Meeting | null;
}

export interface Candle {
  symbol: string;
  start: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  count: number;
}

export interface CandleSeries {
  symbol: string;
  interval: string;
  start: string;
  end: string;
  items: Candle[];
}

export interface TrendSummary {
  symbol: string;
  trend: "up" | "down" | "flat";
  as_of: string | null;
  price: number | null;
  ticks_seen: number;
}

export interface TrendPublic extends TrendSummary {
  indicators: Record<string, number | null>;
}

export interface Signal {
  direction: "up" | "down";
  at: string;
  price: number;
  short: number;
  long: number;
  message: string;
}

export interface SymbolSummary {
  symbol: string;
  first_tick_at: string;
  last_tick_at: string;
  tick_count: number;
}

export interface PresignedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

export interface UploadTicket {
  guid: string;
  key: string;
  bucket: string;
  upload:
    | (PresignedRequest & { method: "PUT"; content_length: number })
    | {
        method: "MULTIPART";
        upload_id: string;
        part_size: number;
        parts: (PresignedRequest & { part_number: number; content_length: number })[];
        complete: PresignedRequest;
        abort: PresignedRequest;
      };
  expires_at: string;
}

export interface Rendition {
  name: string;
  width: number;
  height: number;
  bitrate: number;
  average_bitrate: number;
  codecs: string;
  frame_rate: number;
}

export interface MediaJob {
  guid: string;
  status: string;
  progress: number;
  source: { bucket: string; key: string; size?: number | null } | null;
  mediainfo: { duration?: number; video?: { width?: number; height?: number; codec?: string } } | null;
  renditions: Rendition[];
  outputs: { prefix: string; hls_url: string; dash_url: string; thumbnails: string[]; poster: string | null } | null;
  error: { stage: string; message: string; at: string } | null;
  stages: Record<string, { started_at: string | null; completed_at: string | null; seconds: number | null; runs: number }>;
  submitted_by: { id: string; username: string } | null;
  created_at: string;
  updated_at: string;
}

// insights (the reports of services/insights; every list is {items: [...]}, at most `limit`)

export interface InsightsOverview {
  visitors: number;
  visits: number;
  pageviews: number;
  events: number;
  bounce_rate: number;
  visit_duration: number;
}

export interface InsightsBucket {
  bucket: string;
  value: number;
}

export interface InsightsBreakdownItem {
  value: string | null;
  visitors: number;
  pageviews: number;
  events: number;
}

export interface InsightsFunnelStep {
  step: string;
  visits: number;
  conversion: number;
}

export interface InsightsPlatformItem {
  day: string;
  type: string;
  count: number;
}
