/**
 * What a PromQL expression reads, for the tests that hold the dashboard
 * (dashboards/seckill.json) and the alert rules (alerts/seckill.yml) to the
 * metrics the processes export. Not a PromQL parser: enough of one for the
 * expressions those files hold (selectors, functions, grouping, ranges).
 */

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);

/** What one PromQL expression reads: the metric names, the labels each selector matches on, the labels it groups by. */
export const promqlReads = (expr: string) => {
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const selectors: { metric: string | null; labels: string[] }[] = [];
  rest = rest.replace(/([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}/g, (_all, metric: string | undefined, matchers: string) => {
    selectors.push({ metric: metric ?? null, labels: [...matchers.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]) });
    return metric ? ` ${metric} ` : ' ';
  });
  const grouping: string[] = [];
  rest = rest.replace(/\[[^\]]*\]/g, ' ').replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_all, labels: string) => {
    grouping.push(
      ...labels
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean),
    );
    return ' ';
  });
  const metrics = [...rest.matchAll(/([A-Za-z_:][\w:]*)(\s*\()?/g)].filter((m) => m[2] === undefined && !KEYWORDS.has(m[1])).map((m) => m[1]);
  return { metrics: [...new Set(metrics)], selectors: selectors.filter((s) => s.metric !== null) as { metric: string; labels: string[] }[], grouping };
};

interface Panel {
  title: string;
  targets?: { expr: string; legendFormat?: string }[];
  panels?: Panel[];
}
export interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; definition?: string }[] };
}

/**
 * Every query of the dashboard: panel targets (rows included) and the
 * template variables' label_values(), each with where it is and the labels
 * it shows (the legend's `{{label}}`s; a variable, the label it lists).
 */
export const dashboardQueries = (dashboard: Dashboard): { where: string; expr: string; shows: string[] }[] => {
  const panels = (list: Panel[]): Panel[] => list.flatMap((p) => [p, ...panels(p.panels ?? [])]);
  return [
    ...panels(dashboard.panels).flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        where: `panel "${p.title}"`,
        expr: t.expr,
        shows: [...(t.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]),
      })),
    ),
    ...dashboard.templating.list.flatMap((v) => {
      const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(v.definition ?? '');
      return m ? [{ where: `variable $${v.name}`, expr: `sum by (${m[2]}) (${m[1]})`, shows: [m[2]] }] : [];
    }),
  ];
};

/** The labels the outermost aggregation keeps (`sum by (a, b) (...)`): every series the expression returns has them. */
export const outerGrouping = (expr: string): string[] => {
  const m = /^\s*(?:sum|max|min|avg|count)\s+by\s*\(([^)]*)\)/.exec(expr);
  return m
    ? m[1]
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean)
    : [];
};
