/**
 * The console over several pipelines (`qt tui --prefix '{quantum-a},{quantum-b}'`, a sharded
 * deployment: docs/scaling.md): one App per prefix, one shown at a time; `p` / `P` show the
 * next / previous one (its view starts afresh, its data source keeps polling only while shown).
 */
import { useState } from 'react';
import { App, type AppProps } from './App.js';
import type { DataSource } from './data-source.js';

export interface MultiPrefixAppProps extends Omit<AppProps, 'source' | 'prefix' | 'onCyclePrefix' | 'prefixPosition'> {
  /** one data source per prefix, in the order given */
  pipelines: { prefix: string; source: DataSource }[];
}

export function MultiPrefixApp({ pipelines, ...rest }: MultiPrefixAppProps) {
  const [i, setI] = useState(0);
  const n = pipelines.length;
  const cur = pipelines[i]!;
  return (
    <App
      key={cur.prefix}
      {...rest}
      source={cur.source}
      prefix={cur.prefix}
      prefixPosition={n > 1 ? `${i + 1}/${n}` : undefined}
      onCyclePrefix={n > 1 ? (d) => setI((x) => (x + d + n) % n) : undefined}
    />
  );
}
