/*
 * Draws the report's charts with uPlot (inlined before this script). The
 * charts come as data (src/bench/html/charts.ts, a JSON script element
 * #chart-data): this file only turns each into a uPlot. Runs in the browser;
 * inlined into the page, never served.
 */
(() => {
  'use strict';
  const specs = JSON.parse(document.getElementById('chart-data').textContent);

  const number = (v, digits) => (v == null ? '–' : v.toLocaleString('en', { maximumFractionDigits: digits }));
  const ms = (v) => (v == null ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(0));
  // The percentile axis: x = -log10(1 - p/100), so 90, 99, 99.9 … sit at 1, 2, 3 …
  const percentileOf = (x) => 100 * (1 - 10 ** -x);
  const percentileText = (x) => `${Number(percentileOf(x).toPrecision(6))} %`;

  /** Vertical lines where a strategy sold out, labelled, drawn over the series. */
  const markersPlugin = (markers) => ({
    hooks: {
      draw: (u) => {
        const { ctx, bbox } = u;
        ctx.save();
        ctx.strokeStyle = '#111827';
        ctx.fillStyle = '#111827';
        ctx.setLineDash([3, 3]);
        ctx.lineWidth = devicePixelRatio;
        ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
        ctx.textAlign = 'left';
        ctx.textBaseline = 'alphabetic';
        markers.forEach((m, i) => {
          const x = u.valToPos(m.x, 'x', true);
          if (x < bbox.left || x > bbox.left + bbox.width) return;
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
          ctx.fillText(m.label, x + 4 * devicePixelRatio, bbox.top + (12 + 13 * i) * devicePixelRatio);
        });
        ctx.restore();
      },
    },
  });

  const axisFor = (spec) =>
    spec.x === 'percentile'
      ? {
          label: 'percentile of answers',
          splits: (u) => {
            const splits = [];
            for (let x = 0; x <= Math.floor(u.scales.x.max); x++) splits.push(x);
            return splits;
          },
          values: (_u, splits) => splits.map(percentileText),
        }
      : { label: 'seconds since the load started', values: (_u, splits) => splits.map((v) => number(v, 2)) };

  const drawn = [];
  for (const spec of specs) {
    const el = document.getElementById(spec.id);
    const data = uPlot.join(spec.series.map((s) => [s.points.map((p) => p[0]), s.points.map((p) => p[1])]));
    const yValue = spec.y.label === 'ms' ? (_u, v) => ms(v) : (_u, v) => number(v, 0);
    const options = {
      width: el.clientWidth,
      height: 320,
      plugins: [markersPlugin(spec.markers)],
      scales: {
        x: { time: false, ...(spec.xRange && { range: () => spec.xRange }) },
        y: spec.y.log ? { distr: 3 } : {},
      },
      axes: [axisFor(spec), { label: spec.y.label, size: 60, values: (_u, splits) => splits.map((v) => number(v, 2)) }],
      series: [
        { label: spec.x === 'percentile' ? 'percentile' : 'time (s)', value: spec.x === 'percentile' ? (_u, v) => (v == null ? '–' : percentileText(v)) : (_u, v) => number(v, 2) },
        ...spec.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.width,
          dash: s.dash ?? undefined,
          spanGaps: s.spanGaps,
          points: { show: spec.x === 'percentile' },
          value: yValue,
        })),
      ],
    };
    drawn.push({ id: spec.id, plot: new uPlot(options, data, el), colors: spec.series.map((s) => s.color) });
  }
  // For the browser test: which charts were drawn, with which colours.
  window.seckillCharts = drawn;
})();
