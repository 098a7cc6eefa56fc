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
