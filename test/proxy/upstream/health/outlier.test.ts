// Outlier detection decides, from real traffic alone, which endpoints to stop sending to and
// for how long. Time is a plain variable here: the detector only knows the clock it is given.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OutlierDetection } from '../../../../proxy/config/model.ts';
import { DEFAULT_OUTLIER } from '../../../../kinds/resilience-specs.ts';
import { EndpointState } from '../../../../proxy/upstream/endpoint.ts';
import { OutlierDetector } from '../../../../proxy/upstream/health/outlier.ts';

/** The defaults a backend gets; each test changes what it is about. */
const DEFAULTS: OutlierDetection = DEFAULT_OUTLIER;

function setup(n: number, config: Partial<OutlierDetection> = {}) {
  const clock = { t: 0 };
  const eps = Array.from({ length: n }, (_, i) => new EndpointState({ address: '127.0.0.1', port: 9000 + i, weight: 1, priority: 0 }, null as never, null as never));
  const logs: string[] = [];
  const detector = new OutlierDetector({ ...DEFAULTS, ...config }, eps, {
    now: () => clock.t,
    log: (_level, msg, fields) => logs.push(`${msg} ${String(fields?.upstream)}`),
  });
  return { clock, eps, detector, logs };
}

function repeat(times: number, fn: () => void): void {
  for (let i = 0; i < times; i++) fn();
}

describe('consecutive errors', () => {
  test('five 503s in a row eject the endpoint for the base time', () => {
    const { eps, detector, clock, logs } = setup(2);
    clock.t = 1_000;
    repeat(4, () => detector.recordStatus(eps[0], 503));
    assert.equal(eps[0].healthy, true);
    detector.recordStatus(eps[0], 503);
    assert.equal(eps[0].healthy, false);
    assert.equal(eps[0].ejectedUntil, 31_000);
    assert.equal(eps[0].ejections, 1);
    assert.equal(eps[0].consecutiveGatewayErrors, 0, 'counters start over after an ejection');
    assert.equal(eps[0].consecutive5xx, 0);
    assert.deepEqual(logs, ['endpoint ejected 127.0.0.1:9000']);
    assert.equal(eps[1].healthy, true);
  });

  test('the health reason says why, how many times and for how long', () => {
    const { eps, detector } = setup(2);
    repeat(5, () => detector.recordStatus(eps[0], 502));
    assert.equal(eps[0].ejectionReason, 'ejected: 5 consecutive gateway errors (ejection 1, for 30s)');
    assert.equal(eps[0].healthReason, eps[0].ejectionReason);
  });

  test('a 2xx or 4xx in between starts the run over', () => {
    const { eps, detector } = setup(2);
    repeat(4, () => detector.recordStatus(eps[0], 503));
    detector.recordStatus(eps[0], 200);
    repeat(4, () => detector.recordStatus(eps[0], 503));
    detector.recordStatus(eps[0], 404);
    repeat(4, () => detector.recordStatus(eps[0], 504));
    assert.equal(eps[0].healthy, true);
    assert.equal(eps[0].consecutiveGatewayErrors, 4);
  });

  test('500s count toward consecutive 5xx but not gateway errors', () => {
    const { eps, detector } = setup(2, { consecutive5xx: 0, consecutiveGatewayErrors: 3 });
    repeat(10, () => detector.recordStatus(eps[0], 500));
    assert.equal(eps[0].healthy, true, 'gateway errors alone are watched');
    assert.equal(eps[0].consecutive5xx, 10);
    assert.equal(eps[0].consecutiveGatewayErrors, 0);

    const other = setup(2, { consecutive5xx: 3, consecutiveGatewayErrors: 0 });
    repeat(3, () => other.detector.recordStatus(other.eps[0], 500));
    assert.equal(other.eps[0].healthReason, 'ejected: 3 consecutive 5xx responses (ejection 1, for 30s)');
  });

  test('a 500 breaks a run of gateway errors', () => {
    const { eps, detector } = setup(2, { consecutive5xx: 0, consecutiveGatewayErrors: 3 });
    repeat(2, () => detector.recordStatus(eps[0], 503));
    detector.recordStatus(eps[0], 500);
    repeat(2, () => detector.recordStatus(eps[0], 503));
    assert.equal(eps[0].healthy, true);
  });

  test('connect failures, resets and timeouts count as gateway errors and as 5xx', () => {
    const { eps, detector } = setup(2, { consecutive5xx: 0, consecutiveGatewayErrors: 3 });
    repeat(2, () => detector.recordLocalFailure(eps[0]));
    detector.recordStatus(eps[0], 503);
    assert.equal(eps[0].healthy, false);
    assert.equal(eps[0].intervalFailures, 3);

    const other = setup(2, { consecutive5xx: 3, consecutiveGatewayErrors: 0 });
    repeat(3, () => other.detector.recordLocalFailure(other.eps[0]));
    assert.match(other.eps[0].healthReason, /^ejected: 3 consecutive 5xx responses/);
  });

  test('thresholds of 0 never eject', () => {
    const { eps, detector } = setup(2, { consecutive5xx: 0, consecutiveGatewayErrors: 0 });
    repeat(100, () => detector.recordStatus(eps[0], 503));
    repeat(100, () => detector.recordLocalFailure(eps[0]));
    assert.equal(eps[0].healthy, true);
    assert.equal(eps[0].ejections, 0);
  });
});

describe('ejection time', () => {
  test('each ejection lasts one base time longer, up to the maximum', () => {
    const { eps, detector, clock } = setup(2, { maxEjectionMs: 100_000 });
    const durations: number[] = [];
    for (let i = 0; i < 4; i++) {
      repeat(5, () => detector.recordStatus(eps[0], 503));
      durations.push(eps[0].ejectedUntil - clock.t);
      clock.t = eps[0].ejectedUntil;
      detector.sweep();
      assert.equal(eps[0].healthy, true);
    }
    assert.deepEqual(durations, [30_000, 60_000, 90_000, 100_000]);
    assert.equal(eps[0].ejections, 4);
  });

  test('a sweep returns the endpoint only once its time is up', () => {
    const { eps, detector, clock, logs } = setup(2);
    repeat(5, () => detector.recordLocalFailure(eps[0]));
    clock.t = 29_999;
    detector.sweep();
    assert.equal(eps[0].healthy, false);
    clock.t = 30_000;
    detector.sweep();
    assert.equal(eps[0].healthy, true);
    assert.equal(eps[0].healthReason, '');
    assert.equal(eps[0].ejectedUntil, 0);
    assert.equal(logs.at(-1), 'endpoint back from ejection 127.0.0.1:9000');
  });

  test('every interval spent in service takes one step off the multiplier', () => {
    const { eps, detector, clock } = setup(2);
    repeat(5, () => detector.recordStatus(eps[0], 503));
    clock.t = 30_000;
    detector.sweep(); // returned: this interval was spent ejected, no step off
    assert.equal(eps[0].ejections, 1);
    detector.sweep();
    assert.equal(eps[0].ejections, 0);
    repeat(5, () => detector.recordStatus(eps[0], 503));
    assert.equal(eps[0].ejectedUntil - clock.t, 30_000, 'back to the base time');
  });

  test('start sweeps on the injected interval and stop clears it', () => {
    const { eps, detector, clock } = setup(2);
    const calls: string[] = [];
    let tick = () => {};
    detector.start({
      setInterval: (fn, ms) => {
        calls.push(`set ${ms}`);
        tick = fn;
        return 7;
      },
      clearInterval: (h) => calls.push(`clear ${h}`),
    });
    repeat(5, () => detector.recordStatus(eps[0], 503));
    clock.t = 30_000;
    tick();
    assert.equal(eps[0].healthy, true);
    detector.stop();
    detector.stop();
    assert.deepEqual(calls, ['set 10000', 'clear 7']);
  });

  test('a rebuilt detector keeps the ejections it finds on the endpoints', () => {
    const { eps, detector, clock } = setup(2);
    repeat(5, () => detector.recordStatus(eps[0], 503));
    const rebuilt = new OutlierDetector(DEFAULTS, eps, { now: () => clock.t });
    repeat(5, () => rebuilt.recordStatus(eps[1], 503));
    assert.equal(eps[1].healthy, true, 'the one ejection allowed is already taken');
    clock.t = 30_000;
    rebuilt.sweep();
    assert.equal(eps[0].healthy, true);
  });
});

describe('maximum ejection share', () => {
  test('with 3 endpoints at 50%, only one is ejected at a time', () => {
    const { eps, detector } = setup(3);
    for (const ep of eps) repeat(5, () => detector.recordStatus(ep, 503));
    assert.deepEqual(eps.map((ep) => ep.healthy), [false, true, true]);
  });

  test('a blocked endpoint is ejected on its next failure once there is room', () => {
    const { eps, detector, clock } = setup(3);
    repeat(5, () => detector.recordStatus(eps[0], 503));
    repeat(5, () => detector.recordStatus(eps[1], 503));
    assert.equal(eps[1].healthy, true);
    clock.t = 30_000;
    detector.sweep();
    detector.recordStatus(eps[1], 503);
    assert.equal(eps[1].healthy, false);
    assert.match(eps[1].healthReason, /^ejected: 6 consecutive gateway errors/);
  });

  test('a single-endpoint backend is never ejected below 100%', () => {
    const half = setup(1);
    repeat(50, () => half.detector.recordStatus(half.eps[0], 503));
    assert.equal(half.eps[0].healthy, true);

    const all = setup(1, { maxEjectionPercent: 100 });
    repeat(5, () => all.detector.recordStatus(all.eps[0], 503));
    assert.equal(all.eps[0].healthy, false);
  });

  test('at least one of two endpoints may be ejected even at 10%', () => {
    const { eps, detector } = setup(2, { maxEjectionPercent: 10 });
    for (const ep of eps) repeat(5, () => detector.recordStatus(ep, 503));
    assert.deepEqual(eps.map((ep) => ep.healthy), [false, true]);
  });
});

describe('success rate', () => {
  const successRate = { minimumHosts: 5, requestVolume: 100, stdevFactor: 1900 };
  /** Sends each endpoint 100 requests, `successes[i]` of them answered 200 and the rest 500. */
  function traffic(detector: OutlierDetector, eps: EndpointState[], successes: number[]) {
    eps.forEach((ep, i) => {
      for (let r = 0; r < 100; r++) detector.recordStatus(ep, r < successes[i] ? 200 : 500);
    });
  }

  test('ejects the endpoint far below its peers', () => {
    const { eps, detector } = setup(5, { consecutive5xx: 0, consecutiveGatewayErrors: 0, successRate });
    traffic(detector, eps, [99, 98, 100, 97, 41]);
    detector.sweep();
    // mean 87, stdev 23: the bar is 87 - 1.9 x 23 = 43.3
    assert.deepEqual(eps.map((ep) => ep.healthy), [true, true, true, true, false]);
    assert.equal(eps[4].healthReason, "ejected: success rate 41% below the backend's threshold 44% (ejection 1, for 30s)");
    assert.equal(eps[4].intervalFailures, 0, 'a new interval starts');
  });

  test('does nothing with fewer than minimumHosts endpoints at volume', () => {
    const { eps, detector } = setup(5, { consecutive5xx: 0, consecutiveGatewayErrors: 0, successRate });
    traffic(detector, eps, [99, 98, 100, 97, 41]);
    eps[0].intervalSuccesses = 10; // below requestVolume: not judged, leaving 4
    detector.sweep();
    assert.ok(eps.every((ep) => ep.healthy));
  });

  test('does nothing when every endpoint does about as well', () => {
    const { eps, detector } = setup(5, { consecutive5xx: 0, consecutiveGatewayErrors: 0, successRate });
    traffic(detector, eps, [90, 91, 90, 89, 90]);
    detector.sweep();
    assert.ok(eps.every((ep) => ep.healthy));
  });

  test('is off when not configured', () => {
    const { eps, detector } = setup(5, { consecutive5xx: 0, consecutiveGatewayErrors: 0 });
    traffic(detector, eps, [99, 98, 100, 97, 0]);
    detector.sweep();
    assert.ok(eps.every((ep) => ep.healthy));
  });
});

// Envoy's split_external_local_origin_errors with consecutive_local_origin_failure: what the
// control plane sets for clusters with endpoints in other zones, so that an unreachable
// remote ingress goes out after a couple of tries.
describe('connection failures counted apart', () => {
  test('two connection failures in a row eject the endpoint; 5xx answers do not count toward them', () => {
    const { eps, detector, clock } = setup(2, { consecutiveLocalOriginFailures: 2, baseEjectionMs: 5000 });
    clock.t = 100;
    detector.recordLocalFailure(eps[0]);
    assert.equal(eps[0].healthy, true);
    detector.recordLocalFailure(eps[0]);
    assert.equal(eps[0].healthy, false);
    assert.equal(eps[0].ejectedUntil, 5100);
    assert.equal(eps[0].ejectionReason, 'ejected: 2 consecutive connection failures (ejection 1, for 5s)');
    // Answers are judged by their own counters: four 503s do not eject, the fifth does.
    repeat(4, () => detector.recordStatus(eps[1], 503));
    assert.equal(eps[1].healthy, true);
    assert.equal(eps[1].consecutiveLocalOrigin, 0);
  });

  test('an answer in between starts the count over, and failures do not feed the 5xx counters', () => {
    const { eps, detector } = setup(2, { consecutiveLocalOriginFailures: 2 });
    detector.recordLocalFailure(eps[0]);
    detector.recordStatus(eps[0], 503);
    detector.recordLocalFailure(eps[0]);
    assert.equal(eps[0].healthy, true, 'not two in a row');
    assert.deepEqual([eps[0].consecutive5xx, eps[0].consecutiveGatewayErrors], [1, 1], 'only the answer');
  });

  test('without the split, a connection failure is a gateway error, as before', () => {
    const { eps, detector } = setup(2);
    repeat(4, () => detector.recordLocalFailure(eps[0]));
    assert.equal(eps[0].healthy, true);
    detector.recordLocalFailure(eps[0]);
    assert.equal(eps[0].healthy, false);
  });

  test('the endpoint is used again after its ejection, and every endpoint may go when the cap is 100 %', () => {
    const { eps, detector, clock } = setup(2, { consecutiveLocalOriginFailures: 2, baseEjectionMs: 5000, maxEjectionPercent: 100 });
    repeat(2, () => detector.recordLocalFailure(eps[0]));
    repeat(2, () => detector.recordLocalFailure(eps[1]));
    assert.deepEqual(eps.map((e) => e.healthy), [false, false]);
    clock.t = 5000;
    detector.sweep();
    assert.deepEqual(eps.map((e) => e.healthy), [true, true]);
  });
});
