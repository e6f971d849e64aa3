// The HTTP series' Prometheus text: counts by status, cumulative buckets up to +Inf, sum and count.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from './metrics.ts';

test('a route series is exposed as a counter by status and a cumulative histogram', async () => {
  const metrics = new Metrics();
  const series = metrics.http.series('/auth/session', 'GET');
  series.observe(0.0003, 200);
  series.observe(0.02, 200);
  series.observe(7, 401);
  metrics.http.series('unmatched', 'GET').countStatus(404);
  const lines = (await metrics.text()).split('\n');
  const has = (line: string) => assert.ok(lines.includes(line), `${line} in\n${lines.join('\n')}`);
  has('gatehouse_http_requests_total{route="/auth/session",method="GET",status="200"} 2');
  has('gatehouse_http_requests_total{route="/auth/session",method="GET",status="401"} 1');
  has('gatehouse_http_requests_total{route="unmatched",method="GET",status="404"} 1');
  has('gatehouse_http_request_duration_seconds_bucket{route="/auth/session",method="GET",le="0.0005"} 1');
  has('gatehouse_http_request_duration_seconds_bucket{route="/auth/session",method="GET",le="0.025"} 2');
  has('gatehouse_http_request_duration_seconds_bucket{route="/auth/session",method="GET",le="5"} 2');
  has('gatehouse_http_request_duration_seconds_bucket{route="/auth/session",method="GET",le="+Inf"} 3');
  has('gatehouse_http_request_duration_seconds_sum{route="/auth/session",method="GET"} 7.0203');
  has('gatehouse_http_request_duration_seconds_count{route="/auth/session",method="GET"} 3');
  assert.ok(!lines.some((l) => l.startsWith('gatehouse_http_request_duration_seconds_count{route="unmatched"')));
});
