// Training from the page: the settings form, Start and Stop, and while a job runs a live uPlot chart
// of the per-step loss and its running average over 60 steps (the practice's own figure), progress,
// images/s and the test accuracy after each epoch.

import uPlot from "./vendor/uPlot.esm.js";
import { followTraining, getTraining, startTraining, stopTraining } from "./api.js";
import { number, percent, statusLine, t } from "./i18n.js";
import { sourceName } from "./answers.js";

const SPEED_WINDOW_SECONDS = 3;  // images/s is the mean over the step events of the last few seconds
const CHART_HEIGHT = 240;

const form = document.getElementById("train-form");
const startButton = document.getElementById("train-start");
const stopButton = document.getElementById("train-stop");
const status = document.querySelector(".train-status");  // hidden until a job starts
const progress = document.getElementById("train-progress");
const stepsText = document.getElementById("train-steps");
const speedText = document.getElementById("train-speed");
const message = document.getElementById("train-message");
const epochRows = document.querySelector("#train-epochs tbody");
const results = document.querySelector(".train-results");  // hidden until a job starts
const chartBox = document.getElementById("train-chart");
const useButton = document.getElementById("train-use");  // "Use this run", after a training the page offers

const say = statusLine(message);
let chart = null;
let series = [[], [], []];  // steps, loss per step, running average
let job = null;             // the job this page follows
let source = null;
let speed = null;           // images/s over the last seconds: a Throughput, made by reset()
let displayNames = {};      // registry name -> display name, from /api/info
let onFinished = { trained: async () => true, use: async () => {} };

// Axis numbers in the page's language (uPlot would use the browser's), with the decimals the ticks'
// spacing needs.
export function axisNumbers(u, splits) {
  const spacing = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 1;
  const digits = Math.min(4, Math.max(0, -Math.floor(Math.log10(spacing || 1) + 1e-9)));
  return splits.map((v) => (v == null ? "" : number(v, digits)));
}
const WHOLE_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

function makeChart() {
  chartBox.replaceChildren();
  chart = new uPlot({
    width: Math.max(200, chartBox.clientWidth), height: CHART_HEIGHT,
    scales: { x: { time: false } },
    axes: [{ label: t("chart_step"), values: axisNumbers, incrs: WHOLE_STEPS },
           { label: t("chart_loss_axis"), values: axisNumbers }],
    series: [
      { label: t("chart_step") },
      { label: t("chart_loss"), stroke: "rgba(47, 111, 222, 0.35)", width: 1 },
      { label: t("chart_average"), stroke: "#d92d20", width: 2 },
    ],
    legend: { live: false },
  }, series, chartBox);
}

new ResizeObserver(() => {
  if (chart && chartBox.clientWidth && Math.abs(chart.width - chartBox.clientWidth) > 1) {
    chart.setSize({ width: Math.max(200, chartBox.clientWidth), height: CHART_HEIGHT });
  }
}).observe(chartBox);

function setRunning(running) {
  startButton.disabled = running;
  stopButton.disabled = !running;
  form.querySelectorAll("select, input").forEach((field) => { field.disabled = running; });
}

function settings() {
  const data = new FormData(form);
  const chosen = { model: data.get("model"), recipe: data.get("recipe") };
  for (const name of ["epochs", "max_steps"]) {
    const value = data.get(name);
    if (value !== null && value !== "") chosen[name] = Number(value);
  }
  const seed = String(data.get("seed") ?? "").trim();
  if (seed !== "") chosen.seed = seed;  // as typed: startTraining sends its digits, not a rounded Number
  return chosen;
}

// The form shows `chosen` (a job's settings: what a reload mid-training finds running).
function showSettings(chosen) {
  for (const name of ["model", "recipe", "epochs", "seed", "max_steps"]) {
    const field = form.elements[name];
    if (field && chosen[name] != null) field.value = String(chosen[name]);
    else if (field && name === "max_steps") field.value = "";
  }
}

function reset() {
  results.hidden = false;
  status.hidden = false;
  series = [[], [], []];
  speed = new Throughput();
  epochRows.replaceChildren();
  progress.value = 0;
  stepsText.textContent = "";
  speedText.textContent = "";
  delete message.dataset.run;
  useButton.hidden = true;
  makeChart();
}

// Images per second over the last `window` seconds of step events (each alone jumps around: the
// first one includes the start, and events come every 0.1 s from a process sharing the CPU).
export class Throughput {
  constructor(window = SPEED_WINDOW_SECONDS) { this.window = window; this.recent = []; }

  // One step event: `images` trained at `rate` images/s; answers the mean rate over the window.
  add(images, rate) {
    this.recent.push({ images, seconds: images / Math.max(rate, 1e-9) });
    let seconds = 0;
    let kept = 0;
    for (let i = this.recent.length - 1; i >= 0 && seconds < this.window; i--, kept++) seconds += this.recent[i].seconds;
    this.recent = this.recent.slice(-kept);
    return this.recent.reduce((sum, event) => sum + event.images, 0) / seconds;
  }
}

const handlers = {
  start(data) {
    job.settings = data.settings;
    progress.max = data.total_steps;
    showSettings(data.settings);
    const network = displayNames[data.settings.model] ?? data.settings.model;
    const cap = data.settings.max_steps;
    if (cap != null && cap > data.total_steps) {  // epochs chosen that end before the cap
      say("training_capped", { network, epochs: data.settings.epochs, total: number(data.total_steps) });
    } else {
      say("training_running", { network });
    }
  },
  step(data) {
    for (const [step, loss, average] of data.points) {
      series[0].push(step);
      series[1].push(loss);
      series[2].push(average);
    }
    chart.setData(series);
    chartBox.dataset.points = String(series[0].length);
    progress.max = data.total_steps;
    progress.value = data.step;
    stepsText.textContent = t("progress", { step: number(data.step), total: number(data.total_steps) });
    const rate = speed.add(data.points.length * (job.settings?.batch_size ?? 1), data.images_per_second);
    speedText.dataset.rate = String(rate);
    speedText.textContent = t("speed", { rate: number(rate) });
  },
  epoch(data) {
    const row = document.createElement("tr");
    row.dataset.accuracy = String(data.test_accuracy);
    row.dataset.epoch = String(data.epoch);
    row.dataset.step = String(data.step);
    row.dataset.loss = String(data.loss);
    for (const text of ["", "", "", ""]) row.appendChild(document.createElement("td")).textContent = text;
    row.lastElementChild.className = "accuracy";
    epochRows.appendChild(row);
    relabelRow(row);
  },
  async done(data) {
    setRunning(false);
    message.dataset.run = data.run;
    const values = { percent: percent(data.test_accuracy, 2), run: sourceName(data.run) };
    const used = await onFinished.trained(data);
    say(used ? "training_done" : "training_done_offer", values);
    useButton.hidden = used;
    useButton.onclick = async () => {
      useButton.disabled = true;
      try {
        await onFinished.use(job.settings?.model ?? data.model, values.run);
        useButton.hidden = true;
        say("training_done", values);
      } catch (err) {
        say.error(err);
      } finally {
        useButton.disabled = false;
      }
    };
  },
  failed(data) {
    setRunning(false);
    if (data.code === "cancelled") say("training_stopped");
    else say.error({ code: data.code, message: data.error });
  },
  lost() {
    setRunning(false);
    say("unreachable", {}, { error: true });
  },
};

function relabelRow(row) {
  const cells = row.children;
  cells[0].textContent = number(Number(row.dataset.epoch));
  cells[1].textContent = number(Number(row.dataset.step));
  cells[2].textContent = number(Number(row.dataset.loss), 4);
  cells[3].textContent = percent(Number(row.dataset.accuracy), 2);
}

function follow(description) {
  if (results.hidden) reset();
  job = description;
  source?.close();
  setRunning(true);
  source = followTraining(job.events, handlers);
}

function fillNetworks(models) {
  const select = form.elements.model;
  const chosen = select.value;
  select.replaceChildren(...models.map((model) => new Option(model.display_name, model.name)));
  if (chosen) select.value = chosen;
}

export function relabelTraining() {
  epochRows.querySelectorAll("tr").forEach(relabelRow);
  if (chart) {
    const data = series;
    makeChart();
    chart.setData(data);
  }
}

// `info`: /api/info (the networks one may train). When a job ends well, `finished.trained(doneData)`
// answers whether the page now uses its run; if not, the page offers it and `finished.use(network, run)`
// takes it.
export async function setupTraining(info, finished) {
  onFinished = finished;
  results.hidden = true;
  const state = await getTraining();
  displayNames = Object.fromEntries(info.models.map((model) => [model.name, model.display_name]));
  fillNetworks(info.models);
  if (!state.allowed) {
    setRunning(true);
    stopButton.disabled = true;
    say("training_off", {}, { error: true });
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    reset();
    say("training_starting");
    try {
      follow(await startTraining(settings()));
    } catch (err) {
      setRunning(false);
      say.error(err);
    }
  });
  stopButton.addEventListener("click", async () => {
    if (!job) return;
    stopButton.disabled = true;
    try {
      await stopTraining(job.id);
    } catch (err) {
      stopButton.disabled = false;  // it may be tried again
      say.error(err);
    }
  });
  if (state.job && !state.job.finished) {  // a reload while a job runs: its settings, then its events
    showSettings(state.job.settings);
    follow(state.job);
  }
}
