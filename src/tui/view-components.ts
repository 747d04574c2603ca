/** Every console view by name: the app and the render benchmark use the same map. */
import type { ReactNode } from 'react';
import { FindingsView } from './FindingsView.js';
import { PipelineView, type ViewProps } from './PipelineView.js';
import { PositionsView } from './PositionsView.js';
import { RejectionsView } from './RejectionsView.js';
import { ServicesView } from './ServicesView.js';
import { StreamsView } from './StreamsView.js';
import type { ViewName } from './view-model.js';

export const VIEW_COMPONENTS: Record<ViewName, (p: ViewProps) => ReactNode> = {
  pipeline: PipelineView,
  streams: StreamsView,
  rejections: RejectionsView,
  positions: PositionsView,
  services: ServicesView,
  findings: FindingsView,
};
