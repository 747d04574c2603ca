/**
 * Render cost of the console, for `npm run bench`: one frame (header + view) of a report
 * rendered to a string, per view. A refresh's Redis command count is `report.commands`.
 */
import { Box, renderToString } from 'ink';
import type { Report } from '../diagnose/read-model.js';
import { Header } from './Header.js';
import { VIEW_COMPONENTS } from './view-components.js';
import { VIEWS, type ViewName } from './view-model.js';


/** One console frame as text (no colour): the header and one view. */
export function renderConsoleFrame(report: Report, view: ViewName, size = { columns: 120, rows: 40 }): string {
  const V = VIEW_COMPONENTS[view];
  return renderToString(
    <Box flexDirection="column" width={size.columns}>
      <Header report={report} endpoint={report.redis.url} prefix={report.prefix} reconnecting={false} error={null} updatedAt={report.generated_at} now={report.generated_at} view={view} width={size.columns} />
      <V report={report} filter="" selected={0} detail={false} width={size.columns} height={size.rows - 4} />
    </Box>,
    { columns: size.columns },
  );
}

/** Median milliseconds to render each view's frame of `report` (after one warm-up). */
export function benchConsoleRender(report: Report, runs = 20, size = { columns: 120, rows: 40 }): Record<ViewName, number> {
  const out = {} as Record<ViewName, number>;
  for (const v of VIEWS) {
    renderConsoleFrame(report, v, size);
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      renderConsoleFrame(report, v, size);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    out[v] = ms[Math.floor(ms.length / 2)]!;
  }
  return out;
}
