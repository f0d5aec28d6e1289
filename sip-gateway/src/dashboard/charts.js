// Inline SVG charts (no library) and the statistics behind the A/B table.
"use strict";

const Charts = (() => {
  const W = 360, H = 170, L = 46, R = 10, T = 12, B = 28;
  const COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2"];

  // Nice y-axis bounds for the values, unless fixed.
  function bounds(values, fixedMin, fixedMax) {
    const vs = values.filter((v) => !C.missing(v));
    let lo = fixedMin !== undefined ? fixedMin : Math.min(0, ...vs);
    let hi = fixedMax !== undefined ? fixedMax : Math.max(...vs, lo + 1);
    if (hi === lo) hi = lo + 1;
    if (fixedMax === undefined) {
      const step = Math.pow(10, Math.floor(Math.log10(hi - lo)));
      hi = Math.ceil(hi / step) * step;
    }
    return [lo, hi];
  }

  function frame(title, keys, lo, hi, fmt) {
    const g = C.svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img", "aria-label": title });
    const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
    const x = (i) => (keys.length <= 1 ? L + (W - L - R) / 2 : L + ((W - L - R) * i) / (keys.length - 1));
    for (const v of [lo, (lo + hi) / 2, hi]) {
      g.append(C.svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      g.append(C.svg("text", { x: L - 4, y: y(v) + 4, class: "axis", "text-anchor": "end", text: fmt(v) }));
    }
    const labelAt = keys.length <= 3 ? keys.map((_, i) => i) : [0, Math.floor((keys.length - 1) / 2), keys.length - 1];
    for (const i of labelAt) {
      const anchor = keys.length > 1 && i === 0 ? "start" : keys.length > 1 && i === keys.length - 1 ? "end" : "middle";
      g.append(C.svg("text", { x: x(i), y: H - 8, class: "axis", "text-anchor": anchor, text: keys[i].slice(5) }));
    }
    return { g, x, y };
  }

  // series: [{name, values: [number|null per key]}]; a null breaks the line.
  function line(title, keys, series, opts) {
    const o = opts || {};
    const fmt = o.fmt || ((v) => C.num(v));
    const all = series.flatMap((s) => s.values);
    const wrap = C.el("figure", { class: "chart-box", "data-chart": o.id || title }, C.el("figcaption", { text: title }));
    if (!keys.length || all.every(C.missing)) {
      wrap.append(C.el("p", { class: "muted empty", text: "No data in this range." }));
      return wrap;
    }
    const [lo, hi] = bounds(all, o.min, o.max);
    const { g, x, y } = frame(title, keys, lo, hi, o.axisFmt || fmt);
    series.forEach((s, si) => {
      const color = COLORS[si % COLORS.length];
      let d = "", pen = false;
      s.values.forEach((v, i) => {
        if (C.missing(v)) { pen = false; return; }
        d += (pen ? " L" : " M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
        pen = true;
      });
      if (d) g.append(C.svg("path", { d: d.trim(), class: "series", stroke: color }));
      s.values.forEach((v, i) => {
        if (C.missing(v)) return;
        const label = keys[i] + (series.length > 1 ? " · " + s.name : "") + ": " + fmt(v);
        g.append(C.svg("circle", { cx: x(i), cy: y(v), r: 3, fill: color }, C.svg("title", { text: label })));
      });
    });
    wrap.append(g);
    if (series.length > 1) {
      wrap.append(C.el("div", { class: "legend" }, series.map((s, si) =>
        C.el("span", {}, [C.el("i", { class: "swatch c" + (si % COLORS.length) }), s.name]))));
    }
    return wrap;
  }

  // One bar per key (e.g. calls per day).
  function bars(title, keys, values, opts) {
    const o = opts || {};
    const fmt = o.fmt || ((v) => C.num(v));
    const wrap = C.el("figure", { class: "chart-box", "data-chart": o.id || title }, C.el("figcaption", { text: title }));
    if (!keys.length) {
      wrap.append(C.el("p", { class: "muted empty", text: "No data in this range." }));
      return wrap;
    }
    const [lo, hi] = bounds(values, 0);
    const { g, y } = frame(title, keys, lo, hi, fmt);
    const slot = (W - L - R) / keys.length;
    const bw = Math.max(2, Math.min(28, slot * 0.7));
    values.forEach((v, i) => {
      if (C.missing(v)) return;
      const cx = keys.length <= 1 ? L + (W - L - R) / 2 : L + ((W - L - R) * i) / (keys.length - 1);
      const top = y(v);
      g.append(C.svg("rect", { x: Math.min(Math.max(L, cx - bw / 2), W - R - bw), y: top, width: bw, height: Math.max(0, y(lo) - top), class: "bar" },
        C.svg("title", { text: keys[i] + ": " + fmt(v) })));
    });
    wrap.append(g);
    return wrap;
  }

  return { line, bars };
})();

const Stats = (() => {
  // Complementary error function, Numerical Recipes' erfcc (fractional
  // error < 1.2e-7 everywhere): plenty for a p-value shown with 1 decimal.
  function erfc(x) {
    const z = Math.abs(x);
    const t = 1 / (1 + 0.5 * z);
    const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0 ? r : 2 - r;
  }

  // Two-proportion z-test (pooled), two-sided: is conversion x2/n2 different
  // from the baseline's x1/n1? Returns {diff (points), z, p, confidence %,
  // small (a normal approximation on < 5 successes or failures per arm)};
  // p is null when it cannot be computed (an empty arm, or both arms at
  // 0 % or both at 100 %, where there is no variance to test).
  function twoProportion(x1, n1, x2, n2) {
    if (!n1 || !n2) return { diff: null, z: null, p: null, confidence: null, small: true };
    const p1 = x1 / n1, p2 = x2 / n2;
    const pooled = (x1 + x2) / (n1 + n2);
    const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
    const small = Math.min(x1, n1 - x1, x2, n2 - x2) < 5;
    if (se === 0) return { diff: (p2 - p1) * 100, z: null, p: null, confidence: null, small };
    const z = (p2 - p1) / se;
    const p = erfc(Math.abs(z) / Math.SQRT2);
    return { diff: (p2 - p1) * 100, z, p, confidence: (1 - p) * 100, small };
  }

  return { erfc, twoProportion };
})();
