// Thingbid frontend behaviour. Loaded from /static (CSP forbids inline script).
"use strict";

function csrfToken() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.content : "";
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => ({ error: "bad response" }));
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}

// Batch-bid progress: poll the job until it is done, then show the outcome page.
function watchProgress(box) {
  const bar = box.querySelector("progress");
  const text = box.querySelector(".progress-text");
  const tick = async () => {
    let p;
    try {
      p = await getJSON(box.dataset.url);
    } catch (e) {
      text.textContent = "progress unavailable: " + e.message;
      setTimeout(tick, 1000);
      return;
    }
    bar.max = 100;
    bar.value = p.percent;
    text.textContent = p.state + " · " + p.stage + " · batch " + p.done_batches + " of " + p.total_batches +
      " · " + p.placed + " placed, " + p.skipped + " skipped, " + p.failed + " failed";
    box.dataset.state = p.state;
    if (p.state === "done" || p.state === "failed") {
      if (p.error) text.textContent += " · " + p.error;
      if (box.dataset.doneUrl) window.location.assign(box.dataset.doneUrl);
      return;
    }
    setTimeout(tick, 250);
  };
  tick();
}

// Charts of readings: one line chart per numeric property, data from a same-origin JSON URL.
// A time-range select (data-range-select) asks the same URL with ?range= and redraws.
async function drawCharts(box) {
  const select = box.dataset.rangeSelect ? document.querySelector(box.dataset.rangeSelect) : null;
  if (select && !box.dataset.rangeBound) {
    box.dataset.rangeBound = "1";
    select.addEventListener("change", () => drawCharts(box));
  }
  box.dataset.ready = "0";
  box.querySelectorAll("figure, ul.chart-errors").forEach((el) => {
    const c = el.querySelector && el.querySelector("canvas");
    if (c && typeof Chart !== "undefined" && Chart.getChart(c)) Chart.getChart(c).destroy();
    el.remove();
  });
  const status = box.querySelector(".chart-status");
  status.textContent = "loading readings from the device…";
  const range = select ? select.value : "";
  let data;
  try {
    data = await getJSON(box.dataset.src + (range ? "?range=" + encodeURIComponent(range) : ""));
  } catch (e) {
    status.textContent = "could not read the device: " + e.message;
    return;
  }
  box.dataset.range = range;
  renderCharts(box, data);
}

// Also used by the wallet's data viewer (frontend/js/wallet.js), which POSTs the key it opened.
function renderCharts(box, data) {
  const status = box.querySelector(".chart-status");
  if (typeof Chart === "undefined") {
    status.textContent = "chart library missing";
    return;
  }
  const series = data.series || [];
  const errors = data.errors || [];
  const span = document.getElementById("chart-span");
  if (span) span.textContent = data.range || "";  // the dated range shown, in UTC
  if (series.length) {
    status.textContent = "";
  } else if (errors.length) {
    status.textContent = "the device's readings could not be read:";
  } else {
    status.textContent = "no readings yet in your key's period: the device keeps history from when your key starts; come back later.";
  }
  if (errors.length) {
    const ul = document.createElement("ul");
    ul.className = "chart-errors";
    errors.forEach((msg) => {
      const li = document.createElement("li");
      li.textContent = msg;  // textContent: never markup
      ul.appendChild(li);
    });
    box.appendChild(ul);
  }
  series.forEach((s) => {
    const fig = document.createElement("figure");
    const cap = document.createElement("figcaption");
    cap.textContent = s.name + (s.unit ? " (" + s.unit + ")" : "");  // textContent: never markup
    const canvas = document.createElement("canvas");
    canvas.className = "chart";
    canvas.dataset.property = s.name;
    fig.appendChild(cap);
    fig.appendChild(canvas);
    box.appendChild(fig);
    const chart = new Chart(canvas, {
      type: "line",
      data: { labels: s.labels, datasets: [{ label: s.name, data: s.values, borderColor: "#2563eb", pointRadius: 1, tension: 0.2 }] },
      options: { animation: false, responsive: false, plugins: { legend: { display: false } } },
    });
    canvas.dataset.points = String(chart.data.datasets[0].data.length);
    canvas.dataset.first = s.labels.length ? s.labels[0] : "";
    canvas.dataset.last = s.labels.length ? s.labels[s.labels.length - 1] : "";
  });
  box.dataset.ready = "1";
}

// Live stream readings: poll for new messages, append them as text, and plot each numeric
// property on its own small chart (one shared axis would flatten e.g. -18 °C next to 95 W).
function watchStream(box) {
  const list = box.querySelector("ol");
  const status = box.querySelector(".stream-status");
  const holder = box.querySelector(".live-charts");
  let cursor = box.dataset.cursor || "0";
  const charts = new Map();
  const chartFor = (name) => {
    let c = charts.get(name);
    if (c) return c;
    const fig = document.createElement("figure");
    const cap = document.createElement("figcaption");
    cap.textContent = name;  // textContent: device data is never markup
    const canvas = document.createElement("canvas");
    canvas.className = "chart live";
    canvas.width = 380;
    canvas.height = 180;
    canvas.dataset.property = name;
    fig.appendChild(cap);
    fig.appendChild(canvas);
    holder.appendChild(fig);
    c = new Chart(canvas, {
      type: "line",
      data: { labels: [], datasets: [{ label: name, data: [], borderColor: "#2563eb", pointRadius: 2, tension: 0.2 }] },
      options: { animation: false, responsive: false, plugins: { legend: { display: false } },
                 scales: { x: { title: { display: true, text: "message #" } } } },
    });
    charts.set(name, c);
    return c;
  };
  const plot = (m) => {
    if (!holder || typeof Chart === "undefined" || !m.values) return;
    Object.keys(m.values).forEach((name) => {
      const c = chartFor(name);
      c.data.labels.push(String(m.seq));
      c.data.datasets[0].data.push(m.values[name]);
      c.update();
      c.canvas.dataset.points = String(c.data.labels.length);
    });
  };
  const tick = async () => {
    try {
      const r = await getJSON(box.dataset.url + "?since=" + encodeURIComponent(cursor));
      cursor = String(r.cursor);
      (r.readings || []).forEach((m) => {
        const li = document.createElement("li");
        li.className = "reading";
        li.textContent = m.text;  // textContent: device data is never markup
        list.appendChild(li);
        plot(m);
      });
      box.dataset.count = String(list.children.length);
      let line = r.state + " · " + list.children.length + " reading(s)";
      if (r.sold) line += " of " + r.sold;
      if (r.state !== "ended" && !list.children.length) line += " · waiting for the device's first message";
      if (r.error) line += " · " + r.error;
      status.textContent = line;
      if (r.state === "ended" || r.state === "failed") return;
    } catch (e) {
      status.textContent = "waiting: " + e.message;
    }
    setTimeout(tick, 500);
  };
  tick();
}

// Countdowns (<time class="countdown" data-left=seconds>, from the chain's time when the page
// was made): tick every second; at zero they say so (the page's actions need a reload then).
function timeLeft(s) {
  const pad = (n) => String(n).padStart(2, "0");
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d) return d + " d " + pad(h) + " h";
  if (h) return h + " h " + pad(m) + " min";
  if (m) return m + " min " + pad(sec) + " s";
  return sec + " s";
}

function runCountdowns() {
  const clocks = Array.from(document.querySelectorAll("time.countdown[data-left]"));
  if (!clocks.length) return;
  const started = Date.now();
  const first = clocks.map((c) => Number(c.dataset.left) || 0);
  const tick = () => {
    const gone = Math.floor((Date.now() - started) / 1000);
    clocks.forEach((c, i) => {
      const left = Math.max(0, first[i] - gone);
      c.dataset.now = String(left);
      c.textContent = left > 0 ? "in " + timeLeft(left) : "passed: reload to act";
    });
  };
  tick();
  setInterval(tick, 1000);
}

window.thingbidCharts = renderCharts;

// The catalog map: a click off the markers becomes the radius search's centre (the server
// gives the projection: west edge, Mercator y of the top edge, pixels per radian).
function mapClicks(svg) {
  svg.addEventListener("click", (ev) => {
    if (ev.target.closest("a")) return;  // a device or a cluster: its own link
    const m = svg.getScreenCTM();
    if (!m) return;
    const pt = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
    const margin = Number(svg.dataset.margin), scale = Number(svg.dataset.scale);
    let lon = Number(svg.dataset.west) + ((pt.x - margin) / scale) * 180 / Math.PI;
    const y = Number(svg.dataset.ynorth) - (pt.y - margin) / scale;
    const lat = (2 * Math.atan(Math.exp(y)) - Math.PI / 2) * 180 / Math.PI;
    lon = ((lon + 540) % 360) - 180;
    const url = new URL(svg.dataset.centreUrl, window.location.href);
    url.searchParams.set("lat", lat.toFixed(4));
    url.searchParams.set("lon", lon.toFixed(4));
    url.searchParams.set("radius_km", svg.dataset.radius);
    window.location.assign(url.toString());
  });
  svg.style.cursor = "crosshair";
}

document.addEventListener("DOMContentLoaded", () => {
  runCountdowns();
  document.querySelectorAll("#map svg[data-centre-url]").forEach(mapClicks);
  document.querySelectorAll("[data-progress]").forEach(watchProgress);
  document.querySelectorAll("[data-charts]").forEach(drawCharts);
  document.querySelectorAll("[data-stream]").forEach(watchStream);
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (ev) => {
      if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
    });
  });
  window.thingbidReady = true;
});
