// The studio's API client: every request the page makes, and one error type that carries the server's
// stable error code (the page shows its own translation of it, the server's English text on hover).

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code || "unknown";
    this.status = status;
  }
}

// Seeds go up to 2^64 and JSON numbers past 2^53 lose digits in JSON.parse: a "seed" keeps the digits
// the server sent (as a string) where the browser hands the reviver the number's source text.
function keepSeed(key, value, context) {
  return key === "seed" && typeof value === "number" && context?.source ? context.source : value;
}

async function json(response) {
  let body = null;
  try { body = JSON.parse(await response.text(), keepSeed); } catch { /* not JSON: a proxy's page, say */ }
  if (!response.ok) {
    throw new ApiError(body?.error || `HTTP ${response.status}`, body?.code, response.status);
  }
  return body;
}

async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    if (err.name === "AbortError") throw err;  // the page gave up on it: not the server's fault
    throw new ApiError(err.message, "unreachable", 0);
  }
  return json(response);
}

export const getInfo = () => request("/api/info");
export const getArchitecture = () => request("/api/architecture");
export const getWeights = (network, layer) => request(`/api/weights/${network}/${layer}`);
export const getStrings = (lang) => request(lang ? `/api/strings?lang=${encodeURIComponent(lang)}` : "/api/strings");
export const getTraining = () => request("/api/train");

// Every layer of both networks for the drawing (a PNG blob); the answers come with them. `signal`
// aborts it (the drawing was cleared meanwhile).
export const inside = (png, signal) => request("/api/inside", {
  method: "POST", headers: { "Content-Type": "image/png" }, body: png, signal,
});

// `settings.seed` is sent as typed (a string of digits), as a JSON number: Number() would round it
// above 2^53 and the server takes seeds up to 2^64 − 1.
export function startTraining({ seed, ...settings }) {
  let body = JSON.stringify(settings);
  if (seed !== undefined) {
    if (!/^[0-9]+$/.test(seed)) throw new ApiError(`the seed must be a whole number (got ${seed})`, "bad_settings", 0);
    body = `${body.slice(0, -1)}${body === "{}" ? "" : ","}"seed":${seed}}`;
  }
  return request("/api/train", { method: "POST", headers: { "Content-Type": "application/json" }, body });
}

export const stopTraining = (id) => request(`/api/train/${encodeURIComponent(id)}`, { method: "DELETE" });

// The job's own failure event: `error` before the server renamed it (it clashed with EventSource's
// connection error), `failed` after.
const FAILURES = ["failed", "error"];

// Server-Sent Events of a job: handlers.start/step/epoch/done/failed get each event's data, and
// handlers.lost() runs when the connection is gone for good (EventSource retries a dropped one itself).
// The stream ends with done or a failure; it is closed then, or EventSource would reconnect.
export function followTraining(eventsUrl, handlers) {
  const source = new EventSource(eventsUrl);
  let ended = false;
  for (const kind of ["start", "step", "epoch", "done", ...FAILURES]) {
    source.addEventListener(kind, (event) => {
      if (!(event instanceof MessageEvent) || !event.data) return;  // a connection error, not the job's
      if (ended) return;
      const failed = FAILURES.includes(kind);
      if (kind === "done" || failed) { ended = true; source.close(); }
      handlers[failed ? "failed" : kind]?.(JSON.parse(event.data, keepSeed));
    });
  }
  source.onerror = (event) => {
    if (ended || event instanceof MessageEvent) return;  // the job's own `error` event, handled above
    if (source.readyState === EventSource.CLOSED) { ended = true; handlers.lost?.(); }
  };
  return source;
}

// The run picker: what each network can answer with ({runs, serving, offered}), and choosing one.
export const getRuns = () => request("/api/runs");
export const useRun = (network, run) => request("/api/use", {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ network, run }),
});
