// The studio's API client: every request the page makes, and one error type that carries the server's
// stable error code (the page shows its own translation of it, the server's English text on hover).

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code || "unknown";
    this.status = status;
  }
}

async function json(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: a proxy's page, say */ }
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
    throw new ApiError(err.message, "unreachable", 0);
  }
  return json(response);
}

export const getInfo = () => request("/api/info");
export const getArchitecture = () => request("/api/architecture");
export const getWeights = (network, layer) => request(`/api/weights/${network}/${layer}`);
export const getStrings = (lang) => request(lang ? `/api/strings?lang=${encodeURIComponent(lang)}` : "/api/strings");
export const getTraining = () => request("/api/train");

// Every layer of both networks for the drawing (a PNG blob); the answers come with them.
export const inside = (png) => request("/api/inside", {
  method: "POST", headers: { "Content-Type": "image/png" }, body: png,
});

export const startTraining = (settings) => request("/api/train", {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(settings),
});

export const stopTraining = (id) => request(`/api/train/${encodeURIComponent(id)}`, { method: "DELETE" });

// Server-Sent Events of a job: handlers.start/step/epoch/done/failed get each event's data. Each event
// has an id, so when EventSource reconnects by itself the server sends only what came after.
// The stream ends with done or failed; the source is closed then (a reconnect would find nothing new).
export function followTraining(eventsUrl, handlers) {
  const source = new EventSource(eventsUrl);
  for (const kind of ["start", "step", "epoch", "done", "failed"]) {
    source.addEventListener(kind, (event) => {
      if (kind === "done" || kind === "failed") source.close();
      handlers[kind]?.(JSON.parse(event.data));
    });
  }
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) handlers.lost?.();
  };
  return source;
}
