// report.html of tfpc_eval: draws the page from the results JSON above it
// (the content of rd.json). No library, no network.
"use strict";

const R = JSON.parse(document.getElementById("results").textContent);
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const LABELS = R.labels.filter(label => label in R.curves);
const hidden = new Set();

const color = label => PALETTE[LABELS.indexOf(label) % PALETTE.length];
const metricName = m => R.metric_labels[m].split(" (")[0];

// Numbers as shown: rates with 4 decimals, scores with 4 significant-ish.
function show(value, kind) {
  if (value === null || value === undefined) return "n/a";
  if (kind === "bpp") return value.toFixed(4);
  if (kind === "ms") return value.toFixed(1);
  if (kind === "bd") return (value > 0 ? "+" : "") + value.toFixed(2);
  if (kind === "int" || typeof value !== "number") return String(value);
  return Math.abs(value) >= 10 ? value.toFixed(2) : value.toFixed(4);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "on") {
      for (const [event, handler] of Object.entries(value)) {
        node.addEventListener(event, handler);
      }
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value);
    }
  }
  node.append(...children.filter(c => c !== null && c !== undefined));
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, value);
  }
  return node;
}

// A cell with its exact value in data-value (the browser test reads both).
function numCell(value, kind) {
  return el("td", {class: "num", dataset: {value: JSON.stringify(value)}},
            show(value, kind));
}

// ----- tooltip -----
const tip = el("div", {id: "tip"});
function showTip(event, text) {
  tip.textContent = text;
  tip.style.display = "block";
  tip.style.left = (event.clientX + 12) + "px";
  tip.style.top = (event.clientY + 12) + "px";
}
const hideTip = () => { tip.style.display = "none"; };

// ----- RD curves -----
const PLOT = {width: 440, height: 300, left: 56, right: 12, top: 12,
              bottom: 40};

function niceTicks(low, high, count) {
  const raw = (high - low) / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * power).find(s => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(low / step) * step; t <= high + 1e-9 * step;
       t += step) {
    ticks.push(+t.toFixed(10));
  }
  return ticks;
}

function rdSeries(metric, image) {
  return LABELS.filter(label => !hidden.has(label)).map(label => {
    const points = image === "" ?
      R.curves[label].map(p => ({bpp: p.bpp, value: p[metric],
                                 setting: p.setting,
                                 where: `mean of ${p.images} image` +
                                        (p.images === 1 ? "" : "s")})) :
      R.records.filter(r => r.curve === label && r.image === image)
        .map(r => ({bpp: r.bpp, value: r.metrics[metric],
                    setting: r.setting, where: image}));
    return {label, points: points.filter(p => p.value !== null)
                                 .sort((a, b) => a.bpp - b.bpp)};
  });
}

function rdPlot(metric, image) {
  const series = rdSeries(metric, image);
  const all = series.flatMap(s => s.points);
  const svg = svgEl("svg", {class: "plot", width: PLOT.width,
                            height: PLOT.height, "data-metric": metric});
  const inner = {w: PLOT.width - PLOT.left - PLOT.right,
                 h: PLOT.height - PLOT.top - PLOT.bottom};
  const xMax = Math.max(...all.map(p => p.bpp), 1e-3) * 1.05;
  let yLow = Math.min(...all.map(p => p.value));
  let yHigh = Math.max(...all.map(p => p.value));
  const pad = (yHigh - yLow) * 0.05 || 1;
  yLow -= pad;
  yHigh += pad;
  const x = v => PLOT.left + v / xMax * inner.w;
  const y = v => PLOT.top + (yHigh - v) / (yHigh - yLow) * inner.h;
  for (const t of niceTicks(0, xMax, 6)) {
    svg.append(svgEl("line", {class: "grid", x1: x(t), x2: x(t),
                              y1: PLOT.top, y2: PLOT.top + inner.h}));
    const label = svgEl("text", {x: x(t), y: PLOT.top + inner.h + 14,
                                 "text-anchor": "middle"});
    label.textContent = t;
    svg.append(label);
  }
  if (all.length) {
    for (const t of niceTicks(yLow, yHigh, 6)) {
      svg.append(svgEl("line", {class: "grid", x1: PLOT.left,
                                x2: PLOT.left + inner.w, y1: y(t), y2: y(t)}));
      const label = svgEl("text", {x: PLOT.left - 4, y: y(t) + 4,
                                   "text-anchor": "end"});
      label.textContent = t;
      svg.append(label);
    }
  }
  svg.append(svgEl("rect", {class: "axis", x: PLOT.left, y: PLOT.top,
                            width: inner.w, height: inner.h, fill: "none"}));
  const xTitle = svgEl("text", {x: PLOT.left + inner.w / 2,
                                y: PLOT.height - 6, "text-anchor": "middle"});
  xTitle.textContent = "bits per pixel";
  const middle = PLOT.top + inner.h / 2;
  const yTitle = svgEl("text", {x: 12, y: middle, "text-anchor": "middle",
                                transform: `rotate(-90 12 ${middle})`});
  yTitle.textContent = R.metric_labels[metric];
  svg.append(xTitle, yTitle);
  for (const {label, points} of series) {
    svg.append(svgEl("polyline", {
        fill: "none", stroke: color(label), "stroke-width": 1.8,
        points: points.map(p => `${x(p.bpp)},${y(p.value)}`).join(" ")}));
    for (const p of points) {
      const dot = svgEl("circle", {cx: x(p.bpp), cy: y(p.value), r: 4,
                                   fill: color(label), "data-curve": label});
      const text = `${label}\n${p.where}\nsetting ${p.setting}\n` +
                   `${show(p.bpp, "bpp")} bpp\n` +
                   `${metricName(metric)} ${show(p.value)}`;
      dot.addEventListener("mousemove", e => showTip(e, text));
      dot.addEventListener("mouseleave", hideTip);
      svg.append(dot);
    }
  }
  return svg;
}

function rdSection() {
  const choice = el("select", {id: "rd-image"}, el("option", {value: ""},
      "mean over the images"),
      ...R.images.map(image => el("option", {value: image}, image)));
  const plots = el("div", {class: "plots", id: "rd-plots"});
  const legend = el("div", {class: "legend"});
  const draw = () => {
    hideTip();
    plots.replaceChildren(...R.metrics.map(m => rdPlot(m, choice.value)));
  };
  for (const label of LABELS) {
    const entry = el("span", {title: "show or hide", on: {click: () => {
      hidden.has(label) ? hidden.delete(label) : hidden.add(label);
      entry.classList.toggle("off");
      draw();
    }}}, el("i", {style: `background:${color(label)}`}), label);
    legend.append(entry);
  }
  choice.addEventListener("change", draw);
  draw();
  return el("section", {id: "rd"}, el("h2", {}, "Rate-distortion curves"),
            el("div", {class: "controls"}, "Points: ", choice,
               " (hover a point for its values; click a legend entry to " +
               "hide a curve)"),
            legend, plots);
}

// ----- BD-rate -----
function bdSection() {
  const parts = [el("h2", {}, `BD-rate against ${R.anchor}`),
                 el("p", {}, "Per image, then averaged over the images; " +
                    "negative: fewer bits for the same score. [k/n]: " +
                    "images with a value when not all.")];
  for (const [method, cells] of Object.entries(R.bd_rate)) {
    const counts = Object.values(cells).flatMap(
        row => Object.values(row).map(c => c.images));
    const most = Math.max(0, ...counts);
    const rows = LABELS.filter(label => label in cells).map(label =>
      el("tr", {}, el("th", {}, label), ...R.metrics.map(m => {
        const cell = cells[label][m];
        const td = numCell(cell.bd_rate, "bd");
        if (cell.bd_rate === null) {
          td.textContent = `n/a (${cell.reason})`;
        } else {
          if (cell.images < most) td.append(` [${cell.images}/${most}]`);
          if (label !== R.anchor) {
            td.classList.add(cell.bd_rate < 0 ? "better" : "worse");
          }
        }
        td.title = `${cell.images} images, ${cell.no_overlap} without overlap`;
        return td;
      })));
    parts.push(el("h3", {}, `${method} interpolation`),
               el("table", {class: "bd", "data-method": method},
                  el("thead", {}, el("tr", {}, el("th", {}, ""),
                     ...R.metrics.map(m => el("th", {}, metricName(m))))),
                  el("tbody", {}, ...rows)));
  }
  return el("section", {id: "bd"}, ...parts);
}

// ----- sortable tables -----
// columns: [{title, get(row), kind}]; returns {table, setRows(rows)}.
function sortableTable(columns, id) {
  let rows = [], key = null, direction = 1;
  const body = el("tbody");
  const heads = columns.map((column, index) => el("th", {
      class: "sortable", title: "sort", on: {click: () => {
        direction = key === index ? -direction : 1;
        key = index;
        heads.forEach((h, i) => h.setAttribute("aria-sort", i !== key ?
            "none" : direction > 0 ? "ascending" : "descending"));
        render();
      }}}, column.title));
  const compare = (a, b) => {
    const u = columns[key].get(a), v = columns[key].get(b);
    if (u === null || v === null) return (u === null) - (v === null);
    return direction * (typeof u === "number" ? u - v :
        String(u).localeCompare(String(v), undefined, {numeric: true}));
  };
  const render = () => {
    const sorted = key === null ? rows : [...rows].sort(compare);
    body.replaceChildren(...sorted.map(row => el("tr", {},
        ...columns.map(c => c.kind ? numCell(c.get(row), c.kind) :
                                     el("td", {}, String(c.get(row)))))));
  };
  const table = el("table", {id}, el("thead", {}, el("tr", {}, ...heads)),
                   body);
  return {table, setRows: r => { rows = r; render(); }};
}

const metricColumns = get => R.metrics.map(m => ({
    title: metricName(m), kind: "score", get: row => get(row)[m]}));

function meansSection() {
  const table = sortableTable([
      {title: "curve", get: r => r.curve},
      {title: "setting", get: r => r.setting},
      {title: "images", get: r => r.images, kind: "int"},
      {title: "bpp", get: r => r.bpp, kind: "bpp"},
      ...metricColumns(r => r),
      {title: "encode ms", get: r => r.encode_ms, kind: "ms"},
      {title: "decode ms", get: r => r.decode_ms, kind: "ms"}], "means");
  table.setRows(LABELS.flatMap(label =>
      R.curves[label].map(p => ({curve: label, ...p}))));
  return el("section", {id: "means"},
            el("h2", {}, "Means per rate point (the family table)"),
            el("p", {}, "Click a column to sort."), table.table);
}

function recordsSection() {
  const table = sortableTable([
      {title: "curve", get: r => r.curve},
      {title: "setting", get: r => r.setting},
      {title: "image", get: r => r.image},
      {title: "bytes", get: r => r.num_bytes, kind: "int"},
      {title: "bpp", get: r => r.bpp, kind: "bpp"},
      ...metricColumns(r => r.metrics),
      {title: "encode ms", get: r => 1000 * r.encode_s, kind: "ms"},
      {title: "decode ms", get: r => 1000 * r.decode_s, kind: "ms"}],
      "records");
  const image = el("select", {id: "records-image"},
      el("option", {value: ""}, "all images"),
      ...R.images.map(i => el("option", {value: i}, i)));
  const curve = el("select", {id: "records-curve"},
      el("option", {value: ""}, "all curves"),
      ...LABELS.map(l => el("option", {value: l}, l)));
  const filter = () => table.setRows(R.records.filter(r =>
      (!image.value || r.image === image.value) &&
      (!curve.value || r.curve === curve.value)));
  image.addEventListener("change", filter);
  curve.addEventListener("change", filter);
  filter();
  return el("section", {id: "per-image"}, el("h2", {}, "Per image"),
            el("div", {class: "controls"}, image, curve,
               "Click a column to sort."), table.table);
}

// ----- crops at matched rate -----
// One zoom and pan for every view: the crop point at the views' centre
// (cx, cy, in crop pixels) and the magnification over "fit" (zoom).
const view = {cx: 0, cy: 0, zoom: 1, side: 1};
const views = [];

function place() {
  const half = view.side / 2 / view.zoom;
  view.cx = Math.min(Math.max(view.cx, half), view.side - half);
  view.cy = Math.min(Math.max(view.cy, half), view.side - half);
  for (const box of views) {
    const size = box.clientWidth;
    const scale = size / view.side * view.zoom;
    const transform = `translate(${size / 2 - view.cx * scale}px,` +
        `${size / 2 - view.cy * scale}px) scale(${scale})`;
    for (const img of box.querySelectorAll("img")) {
      img.style.transform = transform;
    }
  }
}

// A drag pans every view: the view it started in sets the scale.
let drag = null;
window.addEventListener("mousemove", event => {
  if (!drag) return;
  const scale = drag.box.clientWidth / view.side * view.zoom;
  view.cx -= (event.clientX - drag.x) / scale;
  view.cy -= (event.clientY - drag.y) / scale;
  drag.x = event.clientX;
  drag.y = event.clientY;
  place();
});
window.addEventListener("mouseup", () => { drag = null; });

function zoomable(box) {
  views.push(box);
  box.addEventListener("wheel", event => {
    event.preventDefault();
    const rect = box.getBoundingClientRect();
    const scale = rect.width / view.side * view.zoom;
    const dx = event.clientX - rect.left - rect.width / 2;
    const dy = event.clientY - rect.top - rect.height / 2;
    const px = view.cx + dx / scale, py = view.cy + dy / scale;
    const factor = event.deltaY < 0 ? 1.25 : 0.8;
    view.zoom = Math.min(16, Math.max(1, view.zoom * factor));
    const next = rect.width / view.side * view.zoom;
    view.cx = px - dx / next;
    view.cy = py - dy / next;
    place();
  }, {passive: false});
  box.addEventListener("mousedown", event => {
    drag = {box, x: event.clientX, y: event.clientY};
    event.preventDefault();
  });
  return box;
}

function cropsSection() {
  const section = el("section", {id: "crops"});
  const images = Object.keys(R.crops.images);
  section.append(el("h2", {}, "Crops at matched rate"),
      el("p", {}, `Each curve at its rate point closest to ` +
         `${R.crops.target_bpp} bpp on that image. Slider: A on the left, ` +
         "B on the right; wheel: zoom, drag: pan (all views together); " +
         "click a panel to make it B. Scores are of the whole image."));
  if (!images.length) {
    section.append(el("p", {}, "No crops."));
    return section;
  }
  const pick = el("select", {id: "crop-image"},
                  ...images.map(i => el("option", {value: i}, i)));
  const sideA = el("select", {id: "compare-a"});
  const sideB = el("select", {id: "compare-b"});
  const flicker = el("button", {id: "flicker"}, "flicker A/B");
  const fit = el("button", {id: "zoom-fit"}, "fit");
  const imgA = el("img", {class: "a", alt: "A"});
  const imgB = el("img", {class: "b", alt: "B"});
  const divider = el("div", {class: "divider"});
  const nameA = el("span", {class: "name", style: "left:4px"});
  const nameB = el("span", {class: "name", style: "right:4px"});
  const compare = zoomable(el("div", {class: "view", id: "compare"},
                              imgA, imgB, divider, nameA, nameB));
  const slider = el("input", {type: "range", id: "slider", min: 0, max: 100,
                              value: 50, step: 0.5});
  const panels = el("div", {class: "panels", id: "panels"});
  let entries = [], timer = null;

  const split = () => {
    const at = slider.value;
    imgB.style.clipPath = `inset(0 0 0 ${at}%)`;
    divider.style.left = `calc(${at}% - 1px)`;
  };
  const choose = () => {
    const a = entries[sideA.value], b = entries[sideB.value];
    imgA.src = a.file;
    imgB.src = b.file;
    nameA.textContent = "A: " + a.name;
    nameB.textContent = "B: " + b.name;
    panels.querySelectorAll(".panel").forEach((p, i) =>
        p.classList.toggle("chosen", String(i) === sideB.value));
  };
  const showImage = () => {
    const crop = R.crops.images[pick.value];
    view.side = crop.region[2];
    entries = [{name: "original", file: crop.original, panel: null},
               ...crop.panels.map(p => ({name: p.curve, file: p.file,
                                         panel: p}))];
    const options = () => entries.map(
        (e, i) => el("option", {value: i}, e.name));
    sideA.replaceChildren(...options());
    sideB.replaceChildren(...options());
    sideB.value = entries.length > 1 ? 1 : 0;
    views.length = 0;
    views.push(compare);
    panels.replaceChildren(...entries.map((entry, index) => {
      const record = entry.panel && R.records.find(r =>
          r.curve === entry.panel.curve && r.setting === entry.panel.setting &&
          r.image === pick.value);
      const caption = record ? [
          el("b", {}, entry.name), el("br"), `setting ${record.setting}`,
          el("br"), el("span", {class: "rate", dataset: {value: record.bpp}},
                       `${show(record.bpp, "bpp")} bpp`),
          ...R.metrics.map(m => el("span", {class: "score",
              dataset: {metric: m, value: record.metrics[m]}},
              `, ${metricName(m)} ${show(record.metrics[m])}`))] :
          [el("b", {}, "original"), el("br"),
           `crop ${crop.region[2]} px at ` +
           `(${crop.region[0]}, ${crop.region[1]})`];
      return el("figure", {class: "panel", on: {click: () => {
                  sideB.value = index;
                  choose();
                }}},
                zoomable(el("div", {class: "view"},
                            el("img", {src: entry.file, alt: entry.name}))),
                el("figcaption", {}, ...caption));
    }));
    view.zoom = 1;
    view.cx = view.cy = view.side / 2;
    choose();
    place();
  };
  flicker.addEventListener("click", () => {
    if (timer) {
      clearInterval(timer);
      timer = null;
      imgB.style.visibility = "";
      flicker.textContent = "flicker A/B";
      split();
      return;
    }
    imgB.style.clipPath = "none";
    divider.style.left = "-10px";
    flicker.textContent = "stop flicker";
    timer = setInterval(() => {
      imgB.style.visibility = imgB.style.visibility ? "" : "hidden";
    }, 500);
  });
  fit.addEventListener("click", () => {
    view.zoom = 1;
    place();
  });
  pick.addEventListener("change", showImage);
  sideA.addEventListener("change", choose);
  sideB.addEventListener("change", choose);
  slider.addEventListener("input", split);
  section.append(el("div", {class: "controls"}, "Image ", pick, " A ", sideA,
                    " B ", sideB, flicker, fit),
                 el("div", {class: "crop-area"}, el("div", {}, compare, slider),
                    panels));
  document.addEventListener("DOMContentLoaded", () => {
    showImage();
    split();
  });
  return section;
}

// ----- the run -----
function keyValues(pairs, id) {
  return el("table", {id}, el("tbody", {}, ...pairs.map(([key, value]) =>
      el("tr", {}, el("th", {}, key), el("td", {}, value === null ?
          "unknown" : String(value))))));
}

function runSection() {
  const run = R.run;
  const timing = sortableTable([
      {title: "curve", get: r => r.curve},
      {title: "encode ms / image", get: r => r.encode_ms, kind: "ms"},
      {title: "decode ms / image", get: r => r.decode_ms, kind: "ms"}],
      "timing");
  const mean = values => values.reduce((a, b) => a + b, 0) / values.length;
  timing.setRows(LABELS.map(label => ({curve: label,
      encode_ms: mean(R.curves[label].map(p => p.encode_ms)),
      decode_ms: mean(R.curves[label].map(p => p.decode_ms))})));
  const models = sortableTable([
      {title: "curve", get: r => r.curve}, {title: "model", get: r => r.name},
      {title: "model id", get: r => r.model_id},
      {title: "steps", get: r => r.trained_steps ?? ""},
      {title: "description", get: r => r.description ?? ""}], "models");
  models.setRows(run.models);
  const failures = sortableTable([
      {title: "curve", get: r => r.curve || "(image)"},
      {title: "setting", get: r => r.setting || ""},
      {title: "image", get: r => r.image},
      {title: "error", get: r => r.error}], "failures");
  failures.setRows(R.failures);
  const missing = R.labels.filter(label => !(label in R.curves));
  return el("section", {id: "run"}, el("h2", {}, "The run"),
      el("pre", {id: "command"}, run.command),
      keyValues([["finished", run.finished],
                 ["wall time", `${run.wall_s.toFixed(1)} s, ` +
                  `${run.workers} workers`],
                 ["jobs", `${run.jobs.computed} computed, ` +
                  `${run.jobs.cached} from the cache`],
                 ["images", R.images.length], ["anchor", R.anchor],
                 ["curves without any result", missing.join(", ") || "none"],
                 ...Object.entries(run.versions)], "facts"),
      el("h3", {}, "Encode and decode times (mean over rate points)"),
      timing.table,
      el("h3", {}, "Models"), run.models.length ? models.table :
          el("p", {}, "none"),
      el("h3", {}, `Failures (${R.failures.length})`),
      R.failures.length ? failures.table : el("p", {}, "none"));
}

document.body.append(
    el("h1", {}, "tfpc_eval report"),
    el("p", {}, `${R.images.length} images, ${LABELS.length} curves, ` +
       `metrics ${R.metrics.map(metricName).join(", ")}; ` +
       `${R.failures.length} failures.`),
    el("nav", {}, ...[["rd", "RD curves"], ["bd", "BD-rate"],
                      ["crops", "crops"], ["means", "rate points"],
                      ["per-image", "per image"], ["run", "the run"]]
        .map(([id, text]) => el("a", {href: "#" + id}, text))),
    rdSection(), bdSection(), cropsSection(), meansSection(),
    recordsSection(), runSection(), tip);
