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
async function drawCharts(box) {
  const status = box.querySelector(".chart-status");
  let data;
  try {
    data = await getJSON(box.dataset.src);
  } catch (e) {
    status.textContent = "could not read the device: " + e.message;
    return;
  }
  if (typeof Chart === "undefined") {
    status.textContent = "chart library missing";
    return;
  }
  const series = data.series || [];
  status.textContent = series.length ? "" : "no numeric readings";
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
  });
  box.dataset.ready = "1";
}

// Live stream readings: poll for new messages and append them as text.
function watchStream(box) {
  const list = box.querySelector("ol");
  const status = box.querySelector(".stream-status");
  let cursor = box.dataset.cursor || "0";
  const canvas = box.querySelector("canvas");
  let chart = null;
  const plot = (m) => {
    if (!canvas || typeof Chart === "undefined" || !m.values) return;
    const names = Object.keys(m.values);
    if (!names.length) return;
    if (!chart) {
      chart = new Chart(canvas, {
        type: "line",
        data: { labels: [], datasets: names.map((n) => ({ label: n, data: [], pointRadius: 2 })) },
        options: { animation: false, responsive: false },
      });
    }
    chart.data.labels.push(String(m.seq));
    chart.data.datasets.forEach((d) => d.data.push(m.values[d.label]));
    chart.update();
    canvas.dataset.points = String(chart.data.labels.length);
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
      status.textContent = r.state + " · " + list.children.length + " reading(s)";
      if (r.state === "ended") return;
    } catch (e) {
      status.textContent = "waiting: " + e.message;
    }
    setTimeout(tick, 500);
  };
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
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
